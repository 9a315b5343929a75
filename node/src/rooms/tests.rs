//! The hook for the mesh: events from a peer are stored through the same path as local ones,
//! and every stored event is announced with its origin.

use dag::RoomVersion;
use dag::canonical_json::Object;
use dag::pdu::NODE_KEY_ID;
use dag::room::{self, MemoryStore, NewEvent, Received, RoomStore};
use dag::signing::ServerKey;
use serde_json::json;

use super::{EventOrigin, RoomService};
use crate::store::{DATABASE_FILE_NAME, Store};

fn key(seed: u8) -> ServerKey {
    let seed = [seed; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    ServerKey::from_seed(hex::encode(public.as_bytes()), NODE_KEY_ID, &seed)
}

/// A public room made on a peer: its events in order.
fn peer_room(peer: &ServerKey) -> (String, Vec<Object>) {
    let founder = format!("@founder:{}", peer.server_name());
    let mut store = MemoryStore::new();
    let create =
        room::build_create_event(RoomVersion::V12, &founder, Object::new(), 1, None, peer).unwrap();
    let Ok(Received::Stored { room_id, .. }) = room::receive(&mut store, create.into_json()) else {
        panic!("the peer's create event is stored");
    };
    for (ts, (event_type, content)) in [
        ("m.room.member", json!({"membership": "join"})),
        ("m.room.join_rules", json!({"join_rule": "public"})),
    ]
    .into_iter()
    .enumerate()
    {
        let state_key = if event_type == "m.room.member" {
            founder.clone()
        } else {
            String::new()
        };
        let new = NewEvent {
            event_type: event_type.into(),
            state_key: Some(state_key),
            sender: founder.clone(),
            content,
        };
        room::send(&mut store, &room_id, &new, 2 + ts as u64, peer).unwrap();
    }
    let events = store
        .log()
        .iter()
        .map(|id| store.event(id).unwrap().pdu.json().clone())
        .collect();
    (room_id, events)
}

#[tokio::test]
async fn peer_events_are_stored_announced_and_wake_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
    let local_key = key(1);
    let local_user = format!("@crew:{}", local_key.server_name());
    let rooms = RoomService::new(store, local_key);
    let mut notices = rooms.subscribe();
    let mut changes = rooms.watch_changes();
    changes.borrow_and_update();
    let (room_id, events) = peer_room(&key(2));
    let (first, backlog) = events.split_first().unwrap();
    let received = rooms
        .receive_from_peer(first.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(received, Received::Stored { .. }), "{received:?}");
    let backlog = backlog.to_vec();
    let outcomes = rooms
        .in_one_transaction(EventOrigin::Peer, move |store| {
            backlog
                .into_iter()
                .map(|json| room::receive(store, json))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(Received::Stored { .. }))),
        "{outcomes:?}"
    );
    for _ in &events {
        let notice = notices.recv().await.unwrap();
        assert_eq!(notice.origin, EventOrigin::Peer);
        assert_eq!(notice.room_id, room_id);
    }
    assert!(changes.has_changed().unwrap(), "/sync wakes");
    let again = rooms
        .receive_from_peer(events[0].clone())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(again, Received::AlreadyKnown { .. }));
    let join = NewEvent {
        event_type: "m.room.member".into(),
        state_key: Some(local_user.clone()),
        sender: local_user,
        content: json!({"membership": "join"}),
    };
    let event_id = rooms.send(room_id.clone(), join, None).await.unwrap();
    let notice = notices.recv().await.unwrap();
    assert_eq!(
        (notice.origin, notice.event_id.as_str()),
        (EventOrigin::Local, event_id.as_str())
    );
    let heads = rooms
        .with_room_store(EventOrigin::Local, move |store| {
            store.room(&room_id).unwrap().forward_extremities
        })
        .await
        .unwrap();
    assert_eq!(heads, vec![event_id]);
    assert!(notices.try_recv().is_err(), "reads announce nothing");
    let missing_parent = {
        let mut orphan = events[2].clone();
        orphan.insert("prev_events".into(), json!(["$unknown"]));
        orphan
    };
    let refused = rooms.receive_from_peer(missing_parent).await.unwrap();
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn concurrent_sends_are_committed_together_and_each_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
    let rooms = RoomService::new(store, key(1));
    let (room_id, events) = peer_room(&key(2));
    for json in events {
        rooms.receive_from_peer(json).await.unwrap().unwrap();
    }
    let sends = (0..40).map(|n| {
        let user = format!("@crew{n}:{}", rooms.server_name());
        let join = NewEvent {
            event_type: "m.room.member".into(),
            state_key: Some(user.clone()),
            sender: user,
            content: json!({"membership": "join"}),
        };
        rooms.send(room_id.clone(), join, None)
    });
    let mut ids: Vec<String> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stranger = NewEvent {
        event_type: "m.room.message".into(),
        state_key: None,
        sender: format!("@stranger:{}", rooms.server_name()),
        content: json!({"body": "let me in"}),
    };
    let refused = rooms.send(room_id.clone(), stranger, None).await;
    assert_eq!(refused.unwrap_err().errcode, "M_FORBIDDEN");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    let members = rooms
        .with_room_store(EventOrigin::Local, move |store| {
            let state = store.room(&room_id).unwrap().current_state;
            state.keys().filter(|(t, _)| t == "m.room.member").count()
        })
        .await
        .unwrap();
    assert_eq!(members, 41, "the founder and forty crew");
}

#[tokio::test]
async fn a_refused_send_leaves_no_transaction_id_for_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
    let rooms = RoomService::new(store, key(1));
    let (room_id, events) = peer_room(&key(2));
    for json in events {
        rooms.receive_from_peer(json).await.unwrap().unwrap();
    }
    let user = format!("@crew:{}", rooms.server_name());
    let key = std::sync::Arc::clone(rooms.key());
    let unattributed = rooms
        .in_one_transaction(EventOrigin::Local, move |store| {
            let origin = crate::store::rooms::LocalOrigin {
                user_id: user.clone(),
                device_id: "DEVICE".into(),
                scope: format!("send/{room_id}"),
                txn_id: "refused".into(),
            };
            let message = NewEvent {
                event_type: "m.room.message".into(),
                state_key: None,
                sender: user.clone(),
                content: json!({"body": "before joining"}),
            };
            let refused = super::send::send_one(store, &key, &room_id, &message, Some(origin));
            assert!(refused.is_err(), "not a member yet");
            let join = NewEvent {
                event_type: "m.room.member".into(),
                state_key: Some(user.clone()),
                sender: user.clone(),
                content: json!({"membership": "join"}),
            };
            super::send::send_one(store, &key, &room_id, &join, None).unwrap();
            store
                .connection()
                .query_row("SELECT count(*) FROM event_transactions", [], |row| {
                    row.get::<_, i64>(0)
                })
                .unwrap()
        })
        .await
        .unwrap();
    assert_eq!(unattributed, 0);
}
