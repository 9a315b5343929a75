//! `flotilla id`: print the node's server name and PeerId, creating the identity if absent.

use anyhow::Context;
use clap::Args;
use node::config::ConfigLayer;
use node::identity::NodeIdentity;
use serde_json::json;

use crate::node_args::NodeArgs;

#[derive(Args, Debug)]
pub struct IdArgs {
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(args: IdArgs) -> anyhow::Result<()> {
    let config = args.node.load(ConfigLayer::default())?;
    let identity =
        NodeIdentity::load_or_create(&config.data_dir).context("cannot load the node identity")?;
    let output = json!({
        "server_name": identity.server_name(),
        "peer_id": identity.peer_id(),
    });
    println!("{output}");
    Ok(())
}
