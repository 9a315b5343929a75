//! `flotilla run`: serve a node until SIGINT or SIGTERM.

use anyhow::Context;
use clap::Args;
use node::config::ConfigLayer;
use tokio::signal::unix::{SignalKind, signal};

use crate::node_args::NodeArgs;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Address and port of the Client-Server API (default: 127.0.0.1:8008).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Room version of new rooms that ask for none: 11 or 12 (default: 12).
    #[arg(long, value_name = "VERSION", value_parser = ["11", "12"])]
    default_room_version: Option<String>,
    /// libp2p address to listen on for other nodes; repeatable (default: /ip4/0.0.0.0/tcp/7400).
    #[arg(long = "p2p-listen", value_name = "MULTIADDR")]
    p2p_listen: Vec<String>,
    /// A node to dial and keep dialing, `/ip4/…/tcp/…/p2p/<peer id>`; repeatable.
    #[arg(long = "peer", value_name = "MULTIADDR")]
    peers: Vec<String>,
    /// Discover nodes on the local network with mDNS (default: true).
    #[arg(long, value_name = "BOOL")]
    mdns: Option<bool>,
    /// Accept connections only from this peer ID; repeatable. Without it, any peer may connect.
    #[arg(long = "allow-peer", value_name = "PEER_ID")]
    allow_peers: Vec<String>,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let non_empty = |values: Vec<String>| (!values.is_empty()).then_some(values);
    let config = args.node.load(ConfigLayer {
        listen: args.listen,
        default_room_version: args.default_room_version,
        p2p_listen: non_empty(args.p2p_listen),
        peers: non_empty(args.peers),
        mdns: args.mdns,
        allow_peers: non_empty(args.allow_peers),
        ..ConfigLayer::default()
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        node::server::run(config, shutdown).await?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

/// Completes on the first SIGINT or SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    })
}
