//! The node's side of the mesh: the libp2p transport started from the configuration and the
//! saved link state, and the sync protocol run over it against the node's rooms.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dag::sync::{Sync, SyncConfig};
use tokio::sync::{broadcast, mpsc};
use transport::mesh::{MeshInputs, RoomsAccess};
use transport::{Transport, TransportConfig, TransportError, identity};

use crate::rooms::{EventOrigin, RoomService, StoredEventNotice};
use crate::store::rooms::SqliteRoomStore;

use crate::admin::LinkState;
use crate::config::Config;
use crate::identity::NodeIdentity;
use crate::signatures::ParallelEd25519;

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

/// The room service is how the mesh reaches the rooms: each protocol step runs on the database
/// thread in one transaction (one fsync for a whole frame of events), and the events it stores
/// are announced to `/sync` like any others.
impl RoomsAccess for RoomService {
    type Store<'a> = SqliteRoomStore<'a>;

    fn run<T, F>(&self, work: F) -> impl Future<Output = Option<T>> + Send
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut SqliteRoomStore<'a>) -> T + Send + 'static,
    {
        let rooms = self.clone();
        async move {
            match rooms.in_one_transaction(EventOrigin::Peer, work).await {
                Ok(output) => Some(output),
                Err(error) => {
                    tracing::error!(%error, "the mesh cannot reach the room store; stopping it");
                    None
                }
            }
        }
    }
}

/// Local events waiting to be pushed to peers; beyond this the forwarder waits for the mesh.
const LOCAL_EVENT_QUEUE: usize = 1024;

/// Runs the sync protocol over the transport until shutdown: events from clients of this node
/// go to peers, and events from peers are stored through the room service.
pub async fn run(rooms: RoomService, transport: Transport) {
    let (local_events, local_rx) = mpsc::channel(LOCAL_EVENT_QUEUE);
    let forwarder = tokio::spawn(forward_local_events(rooms.subscribe(), local_events));
    let inputs = MeshInputs {
        local_events: local_rx,
        notify: None,
    };
    let signatures = Arc::new(ParallelEd25519::new());
    let sync = Sync::checking_signatures_with(SyncConfig::default(), signatures);
    transport::mesh::run(rooms, sync, transport, inputs).await;
    forwarder.abort();
}

/// Passes on the IDs of events made by this node's clients. A forwarder that fell behind the
/// broadcast misses some; peers then get them at the next reconciliation.
async fn forward_local_events(
    mut notices: broadcast::Receiver<StoredEventNotice>,
    local_events: mpsc::Sender<String>,
) {
    loop {
        match notices.recv().await {
            Ok(notice) if notice.origin == EventOrigin::Local => {
                if local_events.send(notice.event_id).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "local events were not pushed live; reconciliation will carry them"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
