//! Fidelity: the same small scenario in the simulator and on two real nodes (libp2p on
//! 127.0.0.1, the real mesh driver, in-memory stores set up by the simulator's own bootstrap).
//! Both must deliver every message, and their sync-frame bytes per message must agree within
//! [`TOLERANCE`]: the simulator counts frame bytes after compression, as the transport's
//! `bytes_out` does, so the remaining difference is message bodies and timing.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dag::RoomEvent;
use dag::pdu::NODE_KEY_ID;
use dag::room::{self, MemoryStore, RoomStore};
use dag::signing::ServerKey;
use dag::sync::{Sync, SyncConfig};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use simulations::Scenario;
use tokio::sync::{mpsc, oneshot};
use transport::mesh::{MemoryRooms, MeshEvent, MeshInputs};
use transport::{Command, LinkEvent, TransportConfig, identity};

/// Relative difference allowed between simulated and real bytes per message.
const TOLERANCE: f64 = 0.15;
const MESSAGES: usize = 40;

struct RealNode {
    rooms: MemoryRooms,
    key: ServerKey,
    local_events: mpsc::Sender<String>,
    stored: mpsc::Receiver<MeshEvent>,
    commands: mpsc::Sender<Command>,
}

impl RealNode {
    async fn start(
        seed: [u8; 32],
        store: MemoryStore,
        static_peers: Vec<transport::Address>,
    ) -> (RealNode, transport::Address) {
        let keypair = identity::keypair_from_seed(seed);
        let key = server_key(seed);
        let config = TransportConfig {
            mdns: false,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            static_peers,
            ..Default::default()
        };
        let mut transport = transport::start(keypair, config).unwrap();
        let LinkEvent::Listening { address } = transport.events.recv().await.unwrap() else {
            panic!("the transport did not report its address first")
        };
        let address = address.with_p2p(transport.local_peer_id).unwrap();
        let commands = transport.commands.clone();
        let rooms = MemoryRooms(Arc::new(Mutex::new(store)));
        let (local_events, local_rx) = mpsc::channel(64);
        let (notify, stored) = mpsc::channel(1024);
        let inputs = MeshInputs {
            local_events: local_rx,
            notify: Some(notify),
        };
        tokio::spawn(transport::mesh::run(
            rooms.clone(),
            Sync::new(SyncConfig::default()),
            transport,
            inputs,
        ));
        let node = RealNode {
            rooms,
            key,
            local_events,
            stored,
            commands,
        };
        (node, address)
    }

    async fn say(&self, room_id: &str, rng: &mut ChaCha8Rng) -> String {
        let sender = format!("@u0:{}", self.key.server_name());
        let event = simulations::workload::message(&sender, 60, rng);
        let pdu = {
            let mut store = self.rooms.0.lock().unwrap();
            room::send(&mut *store, room_id, &event, 1_767_225_600_000, &self.key).unwrap()
        };
        let id = pdu.event_id().to_owned();
        self.local_events.send(id.clone()).await.unwrap();
        id
    }

    async fn wait_for(&mut self, event_id: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.rooms.0.lock().unwrap().event(event_id).is_none() {
            tokio::time::timeout_at(deadline, self.stored.recv())
                .await
                .expect("the message arrives in time");
        }
    }

    async fn bytes_out(&self) -> u64 {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Peers(reply)).await.unwrap();
        answer.await.unwrap().iter().map(|p| p.bytes_out).sum()
    }
}

/// The node key as the transport derives the server name from the same seed.
fn server_key(seed: [u8; 32]) -> ServerKey {
    let keypair = identity::keypair_from_seed(seed);
    let name = identity::server_name_of(&keypair.public().to_peer_id()).unwrap();
    ServerKey::from_seed(name, NODE_KEY_ID, &seed)
}

fn scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/fidelity.toml");
    Scenario::load(&path).unwrap()
}

#[test]
fn simulated_and_real_bytes_per_message_agree() {
    let scenario = scenario();
    let simulated = simulations::run(&scenario, scenario.seed, &mut |_| {})
        .unwrap()
        .summary;
    assert!(simulated.healthy(), "{simulated:?}");
    let simulated_per_message = simulated.bytes_on_links as f64 / simulated.messages_sent as f64;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let real_per_message = runtime.block_on(real_bytes_per_message(&scenario));
    let difference = (real_per_message - simulated_per_message).abs() / real_per_message;
    eprintln!(
        "bytes per message: simulated {simulated_per_message:.1} ({} messages), real {real_per_message:.1} ({MESSAGES} messages), difference {:.1} %",
        simulated.messages_sent,
        difference * 100.0
    );
    assert!(
        difference <= TOLERANCE,
        "simulated {simulated_per_message:.1} B/message vs real {real_per_message:.1} B/message"
    );
}

/// Two real nodes start from the simulator's set-up rooms and take turns sending a message and
/// waiting for it to arrive on the other node.
async fn real_bytes_per_message(scenario: &Scenario) -> f64 {
    let seeds = [[31u8; 32], [32u8; 32]];
    let keys: Vec<ServerKey> = seeds.iter().map(|seed| server_key(*seed)).collect();
    let admins = simulations::engine::admin_nodes(scenario);
    let (store, rooms) = simulations::engine::bootstrap::rooms(scenario, &keys, &admins).unwrap();
    let room_id = rooms[0].clone();
    let (mut a, address) = RealNode::start(seeds[0], store.clone(), vec![]).await;
    let (mut b, _) = RealNode::start(seeds[1], store, vec![address]).await;
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    for i in 0..MESSAGES {
        if i % 2 == 0 {
            let id = a.say(&room_id, &mut rng).await;
            b.wait_for(&id).await;
        } else {
            let id = b.say(&room_id, &mut rng).await;
            a.wait_for(&id).await;
        }
    }
    assert_eq!(
        a.rooms.0.lock().unwrap().room(&room_id).unwrap().sync_heads,
        b.rooms.0.lock().unwrap().room(&room_id).unwrap().sync_heads
    );
    (a.bytes_out().await + b.bytes_out().await) as f64 / MESSAGES as f64
}
