//! `flotilla peers`, `flotilla link block|unblock` and `flotilla emcon on|off`: control a
//! running node through its admin socket.

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use node::config::ConfigLayer;
use serde_json::{Value, json};

use crate::node_args::NodeArgs;

#[derive(Args, Debug)]
pub struct PeersArgs {
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand, Debug)]
pub enum LinkCommand {
    /// Cut the link to a peer now and refuse it until unblocked, across restarts too.
    Block(PeerArgs),
    /// Allow a blocked peer again; the node redials it if it is a static peer.
    Unblock(PeerArgs),
}

#[derive(Args, Debug)]
pub struct PeerArgs {
    /// The peer's libp2p PeerId (`flotilla id` on that node prints it).
    peer_id: String,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub struct EmconArgs {
    /// `on`: transmit nothing at all; `off`: resume and send what waited.
    state: Switch,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Switch {
    On,
    Off,
}

pub fn peers(args: PeersArgs) -> anyhow::Result<()> {
    let response = ask(&args.node, json!({"command": "peers"}))?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

pub fn link(command: LinkCommand) -> anyhow::Result<()> {
    let (name, args) = match command {
        LinkCommand::Block(args) => ("block", args),
        LinkCommand::Unblock(args) => ("unblock", args),
    };
    if args.peer_id.parse::<transport::Peer>().is_err() {
        bail!("{:?} is not a peer ID", args.peer_id);
    }
    ask(&args.node, json!({"command": name, "peer": args.peer_id}))?;
    Ok(())
}

pub fn emcon(args: EmconArgs) -> anyhow::Result<()> {
    ask(
        &args.node,
        json!({"command": "emcon", "on": matches!(args.state, Switch::On)}),
    )?;
    Ok(())
}

/// Sends one request to the node's admin socket; an `error` answer becomes a failure.
fn ask(node: &NodeArgs, request: Value) -> anyhow::Result<Value> {
    let config = node.load(ConfigLayer::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let response = runtime.block_on(node::admin::request(&config.data_dir, &request))?;
    match response.get("error").and_then(Value::as_str) {
        Some(error) => bail!("the node refused: {error}"),
        None => Ok(response),
    }
}
