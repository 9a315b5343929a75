//! `SqliteRoomStore` must behave exactly like `dag`'s reference `MemoryStore`: the same
//! sequence of received and sent events gives the same outcomes and the same answers to every
//! trait query, through the cache and after a cold reopen.

use dag::canonical_json::Object;
use dag::pdu::NODE_KEY_ID;
use dag::room::{self, MemoryStore, NewEvent, RoomStore};
use dag::signing::ServerKey;
use dag::{RoomEvent, RoomVersion};
use serde_json::{Value, json};

use super::{RoomCache, SqliteRoomStore};
use crate::store::test_support::temporary_connection;

fn key(seed: u8) -> ServerKey {
    let seed = [seed; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    ServerKey::from_seed(hex::encode(public.as_bytes()), NODE_KEY_ID, &seed)
}

fn user(key: &ServerKey, name: &str) -> String {
    format!("@{name}:{}", key.server_name())
}

/// An author: a memory store whose new events the stores under test receive.
struct Author {
    store: MemoryStore,
    key: ServerKey,
    clock: u64,
}

impl Author {
    fn send(
        &mut self,
        room_id: &str,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Object {
        self.clock += 1;
        let new = NewEvent {
            event_type: event_type.into(),
            state_key: state_key.map(str::to_owned),
            sender: sender.into(),
            content,
        };
        room::send(&mut self.store, room_id, &new, self.clock, &self.key)
            .unwrap()
            .into_json()
    }

    /// An event built without the auth checks, so receivers reject it.
    fn forged(&mut self, room_id: &str, sender: &str, event_type: &str, content: Value) -> Object {
        self.clock += 1;
        let new = NewEvent {
            event_type: event_type.into(),
            state_key: Some(String::new()),
            sender: sender.into(),
            content,
        };
        room::build_event(&self.store, room_id, &new, self.clock, &self.key)
            .unwrap()
            .into_json()
    }
}

/// The events of a scenario in the order receivers get them: a room, two branches made on
/// copies of it (a ban on one side, the banned user's messages on the other), a rejected
/// event, and events after the merge.
fn scenario(version: RoomVersion) -> (String, Vec<Object>) {
    let alice = user(&key(7), "alice");
    let bob = user(&key(7), "bob");
    let mut author = Author {
        store: MemoryStore::new(),
        key: key(7),
        clock: 1_700_000_000_000,
    };
    let create = room::build_create_event(
        version,
        &alice,
        Object::new(),
        author.clock,
        Some(&format!("!equivalence:{}", author.key.server_name())),
        &author.key,
    )
    .unwrap();
    let mut events = vec![create.json().clone()];
    let room_id = match room::receive(&mut author.store, create.into_json()).unwrap() {
        room::Received::Stored { room_id, .. } => room_id,
        other => panic!("{other:?}"),
    };
    let mut power = json!({"users": {}, "state_default": 50, "ban": 50});
    if version != RoomVersion::V12 {
        power["users"] = json!({&alice: 100});
    }
    events.push(author.send(
        &room_id,
        &alice,
        "m.room.member",
        Some(&alice),
        json!({"membership": "join"}),
    ));
    events.push(author.send(&room_id, &alice, "m.room.power_levels", Some(""), power));
    events.push(author.send(
        &room_id,
        &alice,
        "m.room.join_rules",
        Some(""),
        json!({"join_rule": "public"}),
    ));
    events.push(author.send(
        &room_id,
        &bob,
        "m.room.member",
        Some(&bob),
        json!({"membership": "join"}),
    ));
    for i in 0..40 {
        events.push(author.send(&room_id, &alice, "m.room.message", None, json!({"body": i})));
    }
    let mut branch = Author {
        store: author.store.clone(),
        key: key(7),
        clock: author.clock + 1_000,
    };
    events.push(author.send(
        &room_id,
        &alice,
        "m.room.member",
        Some(&bob),
        json!({"membership": "ban"}),
    ));
    events.push(author.send(
        &room_id,
        &alice,
        "m.room.topic",
        Some(""),
        json!({"topic": "after the ban"}),
    ));
    let bob_messages: Vec<Object> = (0..3)
        .map(|i| {
            branch.send(
                &room_id,
                &bob,
                "m.room.message",
                None,
                json!({"body": format!("bob {i}")}),
            )
        })
        .collect();
    let forged = branch.forged(
        &room_id,
        &bob,
        "m.room.power_levels",
        json!({"users": {&bob: 100}}),
    );
    events.extend(bob_messages);
    events.push(forged);
    for json in events.iter().skip(events.len() - 4) {
        let _ = room::receive(&mut author.store, json.clone());
    }
    for i in 0..3 {
        events.push(author.send(
            &room_id,
            &alice,
            "m.room.message",
            None,
            json!({"after": i}),
        ));
    }
    (room_id, events)
}

fn assert_same(
    memory: &MemoryStore,
    sqlite: &SqliteRoomStore,
    room_id: &str,
    event_ids: &[String],
) {
    assert_eq!(memory.room_ids(), sqlite.room_ids());
    assert_eq!(memory.room(room_id), sqlite.room(room_id));
    for id in event_ids {
        assert_eq!(memory.event(id), sqlite.event(id), "event {id}");
    }
    assert_eq!(sqlite.event("$unknown"), None);
    assert_eq!(sqlite.room("!unknown:x"), None);
    for depth in 0..60 {
        assert_eq!(
            memory.event_at_or_below_depth(room_id, depth),
            sqlite.event_at_or_below_depth(room_id, depth),
            "depth {depth}"
        );
    }
    assert!(!sqlite.has_failed());
}

#[test]
fn sqlite_store_behaves_like_the_memory_store() {
    for version in [RoomVersion::V11, RoomVersion::V12] {
        let (room_id, events) = scenario(version);
        let (_dir, mut connection) = temporary_connection();
        let mut cache = RoomCache::default();
        let mut memory = MemoryStore::new();
        let mut event_ids = Vec::new();
        {
            let mut sqlite = SqliteRoomStore::new(&mut connection, &mut cache);
            for json in &events {
                let expected = room::receive(&mut memory, json.clone());
                let actual = room::receive(&mut sqlite, json.clone());
                assert_eq!(expected, actual, "{version}");
                event_ids.push(room::incoming_event_id(&memory, json));
                assert_same(&memory, &sqlite, &room_id, &event_ids);
            }
            let sender = memory.event(&event_ids[1]).unwrap().pdu.sender().to_owned();
            let new = NewEvent {
                event_type: "m.room.message".into(),
                state_key: None,
                sender,
                content: json!({"body": "built on both"}),
            };
            let key = key(7);
            let from_memory = room::send(&mut memory, &room_id, &new, 1, &key).unwrap();
            let from_sqlite = room::send(&mut sqlite, &room_id, &new, 1, &key).unwrap();
            assert_eq!(
                from_memory, from_sqlite,
                "the same extremities and auth events"
            );
            event_ids.push(from_memory.event_id().to_owned());
            let (committed, failure) = sqlite.finish();
            assert!(failure.is_none());
            assert_eq!(committed.len(), events.len() + 1);
        }
        let groups: i64 = connection
            .query_row("SELECT count(*) FROM state_groups", [], |row| row.get(0))
            .unwrap();
        assert!(
            groups <= 12,
            "{groups} state groups for {} events: messages share their parent's",
            event_ids.len()
        );
        let mut cold_cache = RoomCache::default();
        let cold = SqliteRoomStore::new(&mut connection, &mut cold_cache);
        assert_same(&memory, &cold, &room_id, &event_ids);
        let statuses: Vec<_> = event_ids
            .iter()
            .map(|id| memory.event(id).unwrap().status)
            .collect();
        assert!(
            statuses.contains(&dag::room::EventStatus::Rejected),
            "{version}: {statuses:?}"
        );
        assert!(
            statuses.contains(&dag::room::EventStatus::SoftFailed),
            "{version}: {statuses:?}"
        );
    }
}
