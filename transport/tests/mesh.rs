//! The sync protocol over real libp2p links between nodes on 127.0.0.1, with in-memory rooms.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dag::RoomEvent;
use dag::room::{self, MemoryStore, NewEvent, Received, RoomStore};
use dag::signing::ServerKey;
use dag::sync::{Sync, SyncConfig};
use serde_json::json;
use tokio::sync::mpsc;
use transport::mesh::{MemoryRooms, MeshEvent, MeshInputs};
use transport::{LinkEvent, TransportConfig, identity};

struct TestNode {
    rooms: MemoryRooms,
    key: ServerKey,
    local_events: mpsc::Sender<String>,
    stored: mpsc::Receiver<MeshEvent>,
    address: libp2p::Multiaddr,
}

impl TestNode {
    async fn start(seed: u8, static_peers: Vec<libp2p::Multiaddr>) -> TestNode {
        let keypair = identity::keypair_from_seed([seed; 32]);
        let key = ServerKey::node(&[seed; 32]);
        assert_eq!(
            identity::server_name_of(&keypair.public().to_peer_id()).as_deref(),
            Some(key.server_name())
        );
        let config = TransportConfig {
            mdns: false,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            static_peers,
            ..Default::default()
        };
        let mut transport = transport::start(keypair, config).unwrap();
        let LinkEvent::Listening { address } = transport.events.recv().await.unwrap() else {
            panic!()
        };
        let address = address.with_p2p(transport.local_peer_id).unwrap();
        let rooms = MemoryRooms(Arc::new(Mutex::new(MemoryStore::new())));
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
        TestNode {
            rooms,
            key,
            local_events,
            stored,
            address,
        }
    }

    fn user(&self) -> String {
        format!("@crew:{}", self.key.server_name())
    }

    async fn create_room(&self) -> String {
        let create = room::build_create_event(
            dag::RoomVersion::V12,
            &self.user(),
            Default::default(),
            1,
            None,
            &self.key,
        )
        .unwrap();
        let received =
            room::receive(&mut *self.rooms.0.lock().unwrap(), create.into_json()).unwrap();
        let Received::Stored {
            room_id, event_id, ..
        } = received
        else {
            panic!()
        };
        self.local_events.send(event_id).await.unwrap();
        self.send(
            &room_id,
            "m.room.member",
            Some(&self.user()),
            json!({"membership": "join"}),
        )
        .await;
        self.send(
            &room_id,
            "m.room.join_rules",
            Some(""),
            json!({"join_rule": "public"}),
        )
        .await;
        room_id
    }

    async fn send(
        &self,
        room: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: serde_json::Value,
    ) -> String {
        let new = NewEvent {
            event_type: event_type.into(),
            state_key: state_key.map(str::to_owned),
            sender: self.user(),
            content,
        };
        let pdu = room::send(&mut *self.rooms.0.lock().unwrap(), room, &new, 2, &self.key).unwrap();
        self.local_events
            .send(pdu.event_id().to_owned())
            .await
            .unwrap();
        pdu.event_id().to_owned()
    }

    async fn wait_for(&mut self, event_id: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.rooms.0.lock().unwrap().event(event_id).is_none() {
            tokio::time::timeout_at(deadline, self.stored.recv())
                .await
                .expect("event arrives in time");
        }
    }

    fn heads(&self, room: &str) -> Vec<String> {
        self.rooms
            .0
            .lock()
            .unwrap()
            .room(room)
            .map(|r| r.sync_heads)
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_room_over_libp2p() {
    let a = TestNode::start(21, vec![]).await;
    let room = a.create_room().await;
    let mut last = String::new();
    for i in 0..20 {
        last = a
            .send(
                &room,
                "m.room.message",
                None,
                json!({"msgtype": "m.text", "body": format!("before {i}")}),
            )
            .await;
    }
    let mut b = TestNode::start(22, vec![a.address.clone()]).await;
    b.wait_for(&last).await;
    assert_eq!(a.heads(&room), b.heads(&room));

    b.send(
        &room,
        "m.room.member",
        Some(&b.user()),
        json!({"membership": "join"}),
    )
    .await;
    let reply = b
        .send(
            &room,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "hello from b"}),
        )
        .await;
    let mut a = a;
    a.wait_for(&reply).await;
    let live = a
        .send(
            &room,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "live"}),
        )
        .await;
    b.wait_for(&live).await;
    assert_eq!(a.heads(&room), b.heads(&room));
}
