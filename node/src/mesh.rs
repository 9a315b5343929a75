//! The node's side of the mesh: the libp2p transport started from the configuration and the
//! saved link state, and the admin socket that controls it.

use std::collections::BTreeSet;
use std::time::Duration;

use transport::{Transport, TransportConfig, TransportError, identity};

use crate::admin::LinkState;
use crate::config::Config;
use crate::identity::NodeIdentity;

/// Starts the transport with the configured listeners, peers and gating, and the saved blocked
/// peers and emission control state.
pub fn start_transport(
    config: &Config,
    node: &NodeIdentity,
    saved: &LinkState,
) -> Result<Transport, TransportError> {
    let mesh = &config.mesh;
    let transport_config = TransportConfig {
        listen: mesh.p2p_listen.clone(),
        static_peers: mesh.peers.clone(),
        mdns: mesh.mdns,
        allow_peers: mesh
            .allow_peers
            .as_ref()
            .map(|peers| peers.iter().copied().collect::<BTreeSet<_>>()),
        blocked: saved.blocked.clone(),
        ping_interval: Duration::from_secs(mesh.ping_interval_s),
        emcon: saved.emcon,
        ..TransportConfig::default()
    };
    let keypair = identity::keypair_from_seed(node.signing_key().to_bytes());
    transport::start(keypair, transport_config)
}
