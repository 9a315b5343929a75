use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::RoomEvent;
use crate::signing::{PendingVerdicts, SignatureCheck, SignatureRequest};

/// A node in miniature: a store and a key whose hex public key is the server name.
struct Node {
    store: MemoryStore,
    key: ServerKey,
    clock: u64,
}

impl Node {
    fn new(seed: u8) -> Node {
        let key = ServerKey::node(&[seed; 32]);
        Node {
            store: MemoryStore::new(),
            key,
            clock: 1_700_000_000_000,
        }
    }

    fn user(&self, name: &str) -> String {
        format!("@{name}:{}", self.key.server_name())
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1000;
        self.clock
    }

    fn create_room(&mut self, version: RoomVersion, creator: &str) -> String {
        let ts = self.tick();
        let create = build_create_event(
            version,
            creator,
            Object::new(),
            ts,
            Some(&format!("!r{ts}:{}", self.key.server_name())),
            &self.key,
        )
        .unwrap();
        let Received::Stored { room_id, .. } =
            receive(&mut self.store, create.into_json()).unwrap()
        else {
            panic!()
        };
        self.state(
            &room_id,
            creator,
            "m.room.member",
            creator,
            json!({"membership": "join"}),
        )
        .unwrap();
        let power =
            json!({"users": {}, "users_default": 0, "events_default": 0, "state_default": 50});
        let mut power = power;
        if version != RoomVersion::V12 {
            power["users"] = json!({creator: 100});
        }
        self.state(&room_id, creator, "m.room.power_levels", "", power)
            .unwrap();
        self.state(
            &room_id,
            creator,
            "m.room.join_rules",
            "",
            json!({"join_rule": "public"}),
        )
        .unwrap();
        room_id
    }

    fn state(
        &mut self,
        room: &str,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) -> Result<Pdu, SendError> {
        let new = NewEvent {
            event_type: event_type.into(),
            state_key: Some(state_key.into()),
            sender: sender.into(),
            content,
        };
        let ts = self.tick();
        send(&mut self.store, room, &new, ts, &self.key)
    }

    fn message(&mut self, room: &str, sender: &str, body: &str) -> Result<Pdu, SendError> {
        let new = NewEvent {
            event_type: "m.room.message".into(),
            state_key: None,
            sender: sender.into(),
            content: json!({"msgtype": "m.text", "body": body}),
        };
        let ts = self.tick();
        send(&mut self.store, room, &new, ts, &self.key)
    }

    fn room(&self, room: &str) -> RoomInfo {
        self.store.room(room).unwrap()
    }

    /// Receives every event `other` holds that this node lacks, in `other`'s commit order.
    fn pull_from(&mut self, other: &Node) {
        for id in other.store.log() {
            let event = other.store.event(id).unwrap();
            if event.status != EventStatus::Rejected {
                receive(&mut self.store, event.pdu.json().clone()).unwrap();
            }
        }
    }
}

fn state_value(
    node: &Node,
    room: &str,
    event_type: &str,
    state_key: &str,
) -> Option<Arc<StoredEvent>> {
    let id = node
        .room(room)
        .current_state
        .get(&(event_type.to_owned(), state_key.to_owned()))?
        .clone();
    node.store.event(&id)
}

#[test]
fn a_room_is_created_and_used_in_every_version() {
    for version in RoomVersion::ALL {
        let mut a = Node::new(1);
        let alice = a.user("alice");
        let room = a.create_room(version, &alice);
        if version == RoomVersion::V12 {
            assert_eq!(room.len(), 44, "v12 room IDs are the create event's hash");
        }
        let message = a.message(&room, &alice, "hello").unwrap();
        assert_eq!(message.depth(), 5);
        assert_eq!(message.prev_events().len(), 1);
        let info = a.room(&room);
        assert_eq!(
            info.forward_extremities,
            vec![message.event_id().to_owned()]
        );
        assert_eq!(
            info.current_state.len(),
            4,
            "{version}: create, member, power levels, join rules"
        );
        let member = state_value(&a, &room, "m.room.member", &alice).unwrap();
        assert_eq!(member.pdu.content()["membership"], "join");
    }
}

#[test]
fn forbidden_local_events_are_not_stored() {
    let mut a = Node::new(1);
    let alice = a.user("alice");
    let room = a.create_room(RoomVersion::V12, &alice);
    let before = a.store.log().len();
    let stranger = a.user("stranger");
    assert!(matches!(
        a.message(&room, &stranger, "let me in"),
        Err(SendError::Forbidden(_))
    ));
    let bob = a.user("bob");
    a.state(
        &room,
        &bob,
        "m.room.member",
        &bob,
        json!({"membership": "join"}),
    )
    .unwrap();
    assert!(matches!(
        a.state(&room, &bob, "m.room.topic", "", json!({"topic": "mine"})),
        Err(SendError::Forbidden(_))
    ));
    assert_eq!(
        a.store.log().len(),
        before + 1,
        "only bob's join was stored"
    );
}

#[test]
fn replicas_reach_the_same_state() {
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    let alice = a.user("alice");
    let room = a.create_room(RoomVersion::V12, &alice);
    a.message(&room, &alice, "one").unwrap();
    b.pull_from(&a);
    let bob = b.user("bob");
    b.state(
        &room,
        &bob,
        "m.room.member",
        &bob,
        json!({"membership": "join"}),
    )
    .unwrap();
    b.message(&room, &bob, "hi from b").unwrap();
    a.pull_from(&b);
    assert_eq!(a.room(&room), b.room(&room));
    assert!(
        a.room(&room)
            .current_state
            .contains_key(&("m.room.member".to_owned(), bob))
    );
}

#[test]
fn events_with_unknown_ancestors_name_them() {
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    let alice = a.user("alice");
    let room = a.create_room(RoomVersion::V12, &alice);
    let message = a.message(&room, &alice, "late").unwrap();
    match receive(&mut b.store, message.json().clone()) {
        Err(ReceiveError::MissingEvents(ids)) => assert_eq!(ids, vec![format!("${}", &room[1..])]),
        other => panic!("{other:?}"),
    }
    let create = a.store.event(&a.store.log()[0]).unwrap();
    receive(&mut b.store, create.pdu.json().clone()).unwrap();
    match receive(&mut b.store, message.json().clone()) {
        Err(ReceiveError::MissingEvents(ids)) => {
            assert!(ids.contains(&message.prev_events().next().unwrap().to_owned()))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.store.log().len(), 1);
}

#[test]
fn forged_and_altered_events() {
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    let alice = a.user("alice");
    let room = a.create_room(RoomVersion::V11, &alice);
    b.pull_from(&a);
    let message = a.message(&room, &alice, "original").unwrap();

    let mut forged = message.json().clone();
    forged.insert("sender".into(), json!(b.user("mallory")));
    let result = receive(&mut b.store, forged);
    assert!(
        matches!(
            result,
            Err(ReceiveError::BadSignature(
                SignatureError::MissingSignature(_)
            ))
        ),
        "{result:?}"
    );

    let mut tampered = message.json().clone();
    tampered.insert("origin_server_ts".into(), json!(1));
    let result = receive(&mut b.store, tampered);
    assert!(
        matches!(
            result,
            Err(ReceiveError::BadSignature(SignatureError::BadSignature))
        ),
        "{result:?}"
    );

    let mut altered = message.json().clone();
    altered.insert(
        "content".into(),
        json!({"msgtype": "m.text", "body": "altered"}),
    );
    let Received::Stored {
        event_id, status, ..
    } = receive(&mut b.store, altered).unwrap()
    else {
        panic!()
    };
    assert_eq!(status, EventStatus::Accepted);
    assert_eq!(
        event_id,
        message.event_id(),
        "the event ID survives redaction"
    );
    assert_eq!(
        b.store.event(&event_id).unwrap().pdu.content(),
        &json!({}),
        "stored redacted"
    );
}

/// Node 1's alice creates a room that node 2's bob joins; both nodes then hold every event.
fn room_on_two_nodes(version: RoomVersion) -> (Node, Node, String) {
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    let alice = a.user("alice");
    let room = a.create_room(version, &alice);
    let bob = b.user("bob");
    b.pull_from(&a);
    b.state(
        &room,
        &bob,
        "m.room.member",
        &bob,
        json!({"membership": "join"}),
    )
    .unwrap();
    a.pull_from(&b);
    (a, b, room)
}

#[test]
fn partitioned_replicas_merge_conflicting_state() {
    for version in RoomVersion::ALL {
        let (mut a, mut b, room) = room_on_two_nodes(version);
        let (alice, bob) = (a.user("alice"), b.user("bob"));
        let mut power = state_value(&a, &room, "m.room.power_levels", "")
            .unwrap()
            .pdu
            .content()
            .clone();
        power["users"][&bob] = json!(50);
        power["state_default"] = json!(50);
        a.state(&room, &alice, "m.room.power_levels", "", power)
            .unwrap();
        b.pull_from(&a);

        // Partition: both sides change the topic; alice also demotes bob.
        a.state(
            &room,
            &alice,
            "m.room.topic",
            "",
            json!({"topic": "from a"}),
        )
        .unwrap();
        let mut demoted = state_value(&a, &room, "m.room.power_levels", "")
            .unwrap()
            .pdu
            .content()
            .clone();
        demoted["users"][&bob] = json!(0);
        a.state(&room, &alice, "m.room.power_levels", "", demoted)
            .unwrap();
        b.state(&room, &bob, "m.room.topic", "", json!({"topic": "from b"}))
            .unwrap();
        b.message(&room, &bob, "still here").unwrap();

        a.pull_from(&b);
        b.pull_from(&a);
        let heads = |n: &Node| n.room(&room).sync_heads;
        assert_eq!(heads(&a), heads(&b), "{version}");
        assert_eq!(heads(&a).len(), 2);
        // Bob's topic came from a power level that the merge takes away: alice's topic wins.
        let resolved =
            resolve::resolve_states(&a.store, version, &sync_head_states(&a, &room)).unwrap();
        let resolved_b =
            resolve::resolve_states(&b.store, version, &sync_head_states(&b, &room)).unwrap();
        assert_eq!(resolved, resolved_b);
        let topic_id = &resolved[&("m.room.topic".to_owned(), String::new())];
        assert_eq!(
            a.store.event(topic_id).unwrap().pdu.content()["topic"],
            "from a",
            "{version}"
        );

        // The next event from either side merges both branches.
        a.message(&room, &alice, "merged").unwrap();
        b.pull_from(&a);
        assert_eq!(a.room(&room), b.room(&room));
        assert_eq!(a.room(&room).current_state, resolved);
    }
}

fn sync_head_states(node: &Node, room: &str) -> Vec<State> {
    node.room(room)
        .sync_heads
        .iter()
        .map(|id| node.store.event(id).unwrap().state_after.clone())
        .collect()
}

#[test]
fn events_from_an_older_state_are_soft_failed() {
    let (mut a, mut b, room) = room_on_two_nodes(RoomVersion::V12);
    let (alice, bob) = (a.user("alice"), b.user("bob"));
    a.state(
        &room,
        &alice,
        "m.room.member",
        &bob,
        json!({"membership": "ban"}),
    )
    .unwrap();
    // Bob, not yet aware of the ban, keeps talking on his branch.
    let message = b.message(&room, &bob, "am I banned?").unwrap();
    let Received::Stored { status, reason, .. } =
        receive(&mut a.store, message.json().clone()).unwrap()
    else {
        panic!()
    };
    assert_eq!(status, EventStatus::SoftFailed);
    assert!(reason.is_some());
    let info = a.room(&room);
    assert!(
        !info
            .forward_extremities
            .contains(&message.event_id().to_owned())
    );
    assert!(info.sync_heads.contains(&message.event_id().to_owned()));
}

#[test]
fn rejected_events_change_nothing() {
    let mut a = Node::new(1);
    let mut b = Node::new(2);
    let alice = a.user("alice");
    let room = a.create_room(RoomVersion::V12, &alice);
    b.pull_from(&a);
    // A forged topic from bob, who never joined, built by hand on b's copy of the room.
    let bob = b.user("bob");
    let mut new = NewEvent {
        event_type: "m.room.topic".into(),
        state_key: Some(String::new()),
        sender: bob,
        content: json!({"topic": "x"}),
    };
    let pdu = build_event(&b.store, &room, &new, 5, &b.key).unwrap();
    let before = a.room(&room);
    let Received::Stored { status, .. } = receive(&mut a.store, pdu.json().clone()).unwrap() else {
        panic!()
    };
    assert_eq!(status, EventStatus::Rejected);
    assert_eq!(a.room(&room), before);
    new.sender = alice;
    assert!(build_event(&a.store, "!unknown", &new, 5, &a.key).is_err());
}

#[test]
fn the_state_before_an_event_resolves_the_states_after_its_parents() {
    for version in RoomVersion::ALL {
        let (mut a, mut b, room) = room_on_two_nodes(version);
        let (alice, bob) = (a.user("alice"), b.user("bob"));
        let topic_key = ("m.room.topic".to_owned(), String::new());
        let first = a
            .state(&room, &alice, "m.room.topic", "", json!({"topic": "first"}))
            .unwrap();
        assert_eq!(
            state_before(&a.store, &first).unwrap().get(&topic_key),
            None
        );

        // Partition: a changes the topic again while bob talks on b; then a merges both.
        let second = a
            .state(
                &room,
                &alice,
                "m.room.topic",
                "",
                json!({"topic": "second"}),
            )
            .unwrap();
        b.message(&room, &bob, "meanwhile").unwrap();
        a.pull_from(&b);
        let merging = a
            .state(
                &room,
                &alice,
                "m.room.topic",
                "",
                json!({"topic": "merged"}),
            )
            .unwrap();
        assert_eq!(merging.prev_events().len(), 2, "{version}");
        let before = state_before(&a.store, &merging).unwrap();
        assert_eq!(
            before.get(&topic_key).map(String::as_str),
            Some(second.event_id())
        );

        let unknown_parent = b.message(&room, &bob, "not on a").unwrap();
        let child = {
            b.pull_from(&a);
            b.message(&room, &bob, "after").unwrap()
        };
        assert!(a.store.event(unknown_parent.event_id()).is_none());
        assert!(matches!(
            state_before(&a.store, &child),
            Err(ReceiveError::MissingEvents(_))
        ));
    }
}

/// Answers batches one by one with [`Ed25519`], and counts the signatures it was asked about.
#[derive(Default)]
struct CountingBatches {
    one_by_one: std::sync::atomic::AtomicUsize,
    in_batches: std::sync::atomic::AtomicUsize,
}

impl SignatureCheck for CountingBatches {
    fn verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError> {
        self.one_by_one
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ed25519.verify(public_key, message, signature)
    }

    fn verify_all(
        &self,
        requests: &mut dyn Iterator<Item = SignatureRequest>,
    ) -> Option<Box<dyn PendingVerdicts>> {
        let answers: Vec<_> = requests
            .map(|r| Ed25519.verify(&r.public_key, &r.message, &r.signature))
            .collect();
        self.in_batches
            .fetch_add(answers.len(), std::sync::atomic::Ordering::Relaxed);
        Some(Box::new(answers.into_iter()))
    }
}

impl PendingVerdicts for std::vec::IntoIter<Result<(), SignatureError>> {
    fn next_verdict(&mut self) -> Option<Result<(), SignatureError>> {
        self.next()
    }
}

/// A room's whole history with forged, tampered, altered, repeated and orphaned events mixed in.
fn history_with_bad_events(version: RoomVersion) -> Vec<Object> {
    let mut a = Node::new(1);
    let alice = a.user("alice");
    let room = a.create_room(version, &alice);
    for i in 0..5 {
        a.message(&room, &alice, &format!("message {i}")).unwrap();
    }
    let mut events: Vec<Object> = a
        .store
        .log()
        .iter()
        .map(|id| a.store.event(id).unwrap().pdu.json().clone())
        .collect();
    let message = events[events.len() - 1].clone();
    // Arrives before the message it cites.
    let orphan = a.message(&room, &alice, "orphan").unwrap().into_json();
    let mut forged = message.clone();
    forged.insert("sender".into(), json!("@mallory:example.org"));
    let mut tampered = message.clone();
    tampered.insert("origin_server_ts".into(), json!(1));
    let mut altered = message.clone();
    altered.insert("content".into(), json!({"body": "altered"}));
    let repeated = events[2].clone();
    events.splice(4..4, [forged, tampered, altered, repeated, orphan]);
    events
}

#[test]
fn events_prepared_together_are_received_as_one_by_one() {
    for version in [RoomVersion::V10, RoomVersion::V11, RoomVersion::V12] {
        let events = history_with_bad_events(version);
        let mut one_by_one = Node::new(2);
        let expected: Vec<_> = events
            .iter()
            .map(|e| receive(&mut one_by_one.store, e.clone()))
            .collect();
        let mut together = Node::new(2);
        let check = CountingBatches::default();
        // As the sync protocol does with a frame: the first batch holds the create event, so
        // the rest of it cannot be prepared before that is stored.
        let mut received = Vec::new();
        for batch in [&events[..3], &events[3..]] {
            let prepared = batch.iter().map(|e| prepare(&together.store, e.clone()));
            let prepared = check_signatures_together(prepared.collect(), &check);
            for (event, incoming) in batch.iter().zip(prepared) {
                received.push(match incoming {
                    Ok(incoming) => receive_incoming(&mut together.store, incoming, &check),
                    Err(_) => receive_checking_with(&mut together.store, event.clone(), &check),
                });
            }
        }
        assert_eq!(received, expected, "{version:?}");
        let has = |wanted: fn(&Result<Received, ReceiveError>) -> bool| expected.iter().any(wanted);
        assert!(has(|r| matches!(r, Err(ReceiveError::MissingEvents(_)))));
        assert!(has(|r| matches!(r, Err(ReceiveError::BadSignature(_)))));
        assert!(has(|r| matches!(
            r,
            Err(ReceiveError::UnknownSigningKey(_))
        )));
        assert!(has(|r| matches!(r, Ok(Received::AlreadyKnown { .. }))));
        assert_eq!(together.store.log(), one_by_one.store.log());
        let batched = check.in_batches.load(std::sync::atomic::Ordering::Relaxed);
        assert!(batched >= events.len() - 3, "{batched} signatures batched");
        // Only events of the first batch and the forged one, whose signature is missing, are
        // asked about one at a time.
        assert!(check.one_by_one.load(std::sync::atomic::Ordering::Relaxed) <= 3);
    }
}
