//! The hook for the mesh: events from a peer are stored through the same path as local ones,
//! and every stored event is announced with its origin.

use dag::canonical_json::Object;
use dag::pdu::NODE_KEY_ID;
use dag::room::{self, MemoryStore, NewEvent, Received, RoomStore};
use dag::signing::ServerKey;
use dag::{RoomEvent, RoomVersion};
use serde_json::json;

use super::{EventOrigin, RoomService};
use crate::store::rooms::EVENTS_STREAM;
use crate::store::timeline::current_state_changed_since;
use crate::store::{DATABASE_FILE_NAME, Store, current_stream_position};

fn key(seed: u8) -> ServerKey {
    let seed = [seed; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    ServerKey::from_seed(hex::encode(public.as_bytes()), NODE_KEY_ID, &seed)
}

/// A public room made on a peer: its events in order.
fn peer_room(peer: &ServerKey) -> (String, Vec<Object>) {
    let (room_id, store) = peer_store(peer);
    (room_id, events_of(&store))
}

fn events_of(store: &MemoryStore) -> Vec<Object> {
    store
        .log()
        .iter()
        .map(|id| store.event(id).unwrap().pdu.json().clone())
        .collect()
}

/// The peer's store holding a public room of its `@founder`.
fn peer_store(peer: &ServerKey) -> (String, MemoryStore) {
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
    (room_id, store)
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

/// Sends a state event on the peer's store.
fn send_state(
    store: &mut MemoryStore,
    room_id: &str,
    (sender, event_type, state_key): (&str, &str, &str),
    content: serde_json::Value,
    peer: &ServerKey,
) {
    let new = NewEvent {
        event_type: event_type.into(),
        state_key: Some(state_key.into()),
        sender: sender.into(),
        content,
    };
    let ts = store.log().len() as u64 + 1;
    room::send(store, room_id, &new, ts, peer).unwrap();
}

async fn current_name(rooms: &RoomService, room_id: &str) -> serde_json::Value {
    let room_id = room_id.to_owned();
    rooms
        .with_room_store(EventOrigin::Local, move |store| {
            let room = store.room(&room_id).unwrap();
            let key = ("m.room.name".to_owned(), String::new());
            let id = room.current_state.get(&key).unwrap();
            store.event(id).unwrap().pdu.content()["name"].clone()
        })
        .await
        .unwrap()
}

async fn receive_all(rooms: &RoomService, events: Vec<Object>) {
    let outcomes = rooms
        .in_one_transaction(EventOrigin::Peer, move |store| {
            events
                .into_iter()
                .map(|json| room::receive(store, json))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

/// After a partition, state resolution can make an older event current again. Incremental
/// /sync must still hear of it, so the change is found by when the entry changed, not by the
/// position of its event.
#[tokio::test]
async fn state_made_current_again_by_resolution_counts_as_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&dir.path().join(DATABASE_FILE_NAME)).unwrap();
    let rooms = RoomService::new(store, key(1));
    let peer = key(2);
    let founder = format!("@founder:{}", peer.server_name());
    let bob = format!("@bob:{}", peer.server_name());
    let (room_id, mut base) = peer_store(&peer);
    let powers = |users: serde_json::Value| json!({"users": users, "events": {"m.room.name": 50}, "state_default": 50});
    let power = (founder.as_str(), "m.room.power_levels", "");
    // In v12 the founder, as creator, has unlimited power and is not listed.
    send_state(&mut base, &room_id, power, powers(json!({&bob: 50})), &peer);
    let member = (bob.as_str(), "m.room.member", bob.as_str());
    send_state(
        &mut base,
        &room_id,
        member,
        json!({"membership": "join"}),
        &peer,
    );
    let name = |sender| (sender, "m.room.name", "");
    send_state(
        &mut base,
        &room_id,
        name(founder.as_str()),
        json!({"name": "Aft"}),
        &peer,
    );
    let (mut renamed, mut demoted) = (base.clone(), base.clone());
    send_state(
        &mut renamed,
        &room_id,
        name(bob.as_str()),
        json!({"name": "Fore"}),
        &peer,
    );
    send_state(&mut demoted, &room_id, power, powers(json!({})), &peer);

    receive_all(&rooms, events_of(&renamed)).await;
    assert_eq!(current_name(&rooms, &room_id).await, "Fore");
    let before_merge = rooms
        .with_room_store(EventOrigin::Local, |store| {
            current_stream_position(store.connection(), EVENTS_STREAM).unwrap()
        })
        .await
        .unwrap();
    let demotion = events_of(&demoted).pop().unwrap();
    receive_all(&rooms, vec![demotion]).await;
    assert_eq!(
        current_name(&rooms, &room_id).await,
        "Aft",
        "bob lost the power to rename in the merge"
    );
    let room = room_id.clone();
    let changed = rooms
        .with_room_store(EventOrigin::Local, move |store| {
            current_state_changed_since(store.connection(), &room, before_merge).unwrap()
        })
        .await
        .unwrap();
    let event_type = |row: &crate::store::timeline::EventRow| {
        serde_json::from_str::<serde_json::Value>(&row.canonical_json).unwrap()["type"].clone()
    };
    let reverted = changed
        .iter()
        .find(|row| event_type(row) == "m.room.name")
        .expect("the name that is current again counts as changed");
    assert!(
        reverted.stream_pos < before_merge,
        "an older event, current again"
    );
}
