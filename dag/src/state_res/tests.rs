//! Unit tests of the orderings and rules that the fixture and differential tests reach only by
//! chance: tie-breaks, mainline positions, rejected auth events, the v2.1 subgraph.

use serde_json::{Value, json};

use super::fixture::{FixtureEvent, FixtureStore};
use super::walk::{WalkError, resolve_dag};
use super::{ResolveError, StateMap, resolve};
use crate::RoomVersion;

const ALICE: &str = "@alice:x";
const BOB: &str = "@bob:x";

/// A v11 room: create, alice joins, power levels (alice 100, bob 50), public join rules, bob
/// joins. Events are added by hand on top.
struct Room {
    events: Vec<FixtureEvent>,
}

impl Room {
    fn new() -> Self {
        let mut room = Room { events: Vec::new() };
        room.add(
            "$create",
            ALICE,
            "m.room.create",
            "",
            json!({"room_version": "11"}),
            0,
            &[],
            &[],
        );
        room.add(
            "$alice",
            ALICE,
            "m.room.member",
            ALICE,
            json!({"membership": "join"}),
            1,
            &["$create"],
            &["$create"],
        );
        let levels = json!({"users": {ALICE: 100, BOB: 50}, "state_default": 50});
        room.add(
            "$pl0",
            ALICE,
            "m.room.power_levels",
            "",
            levels,
            2,
            &["$alice"],
            &["$create", "$alice"],
        );
        let rules = json!({"join_rule": "public"});
        room.add(
            "$rules",
            ALICE,
            "m.room.join_rules",
            "",
            rules,
            3,
            &["$pl0"],
            &["$create", "$alice", "$pl0"],
        );
        let join = json!({"membership": "join"});
        room.add(
            "$bob",
            BOB,
            "m.room.member",
            BOB,
            join,
            4,
            &["$rules"],
            &["$create", "$pl0", "$rules"],
        );
        room
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        id: &str,
        sender: &str,
        kind: &str,
        key: &str,
        content: Value,
        ts: u64,
        prev: &[&str],
        auth: &[&str],
    ) {
        let strings = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect();
        self.events.push(FixtureEvent {
            event_id: id.to_owned(),
            room_id: Some("!room:x".to_owned()),
            sender: sender.to_owned(),
            event_type: kind.to_owned(),
            state_key: Some(key.to_owned()),
            content,
            origin_server_ts: ts,
            prev_events: strings(prev),
            auth_events: strings(auth),
            redacts: None,
            rejected: false,
        });
    }

    /// A topic event by `sender` citing the base power levels.
    fn topic(&mut self, id: &str, sender: &str, ts: u64) {
        let member = if sender == ALICE { "$alice" } else { "$bob" };
        self.add(
            id,
            sender,
            "m.room.topic",
            "",
            json!({"topic": id}),
            ts,
            &["$bob"],
            &["$create", "$pl0", member],
        );
    }

    fn store(&self) -> FixtureStore {
        self.events.iter().cloned().collect()
    }

    /// The state after `$bob` with `extra` on top.
    fn state_with(&self, extra: &[&str]) -> StateMap<String> {
        let base = ["$create", "$alice", "$pl0", "$rules", "$bob"];
        base.iter()
            .chain(extra)
            .map(|id| {
                let event = self
                    .events
                    .iter()
                    .find(|event| event.event_id == *id)
                    .unwrap();
                (
                    (event.event_type.clone(), event.state_key.clone().unwrap()),
                    id.to_string(),
                )
            })
            .collect()
    }

    fn resolve(&self, forks: &[&[&str]]) -> StateMap<String> {
        let states: Vec<_> = forks.iter().map(|extra| self.state_with(extra)).collect();
        resolve(RoomVersion::V11, &states, &self.store()).unwrap()
    }
}

fn winner(state: &StateMap<String>, kind: &str) -> String {
    state[&(kind.to_owned(), String::new())].clone()
}

#[test]
fn mainline_ties_break_on_timestamp_then_event_id() {
    let mut room = Room::new();
    room.topic("$b-early", ALICE, 10);
    room.topic("$a-late", ALICE, 11);
    assert_eq!(
        winner(
            &room.resolve(&[&["$b-early"], &["$a-late"]]),
            "m.room.topic"
        ),
        "$a-late"
    );
    room.topic("$y-same", ALICE, 12);
    room.topic("$z-same", ALICE, 12);
    assert_eq!(
        winner(&room.resolve(&[&["$z-same"], &["$y-same"]]), "m.room.topic"),
        "$z-same"
    );
}

#[test]
fn power_ordering_applies_the_lower_power_sender_last() {
    let mut room = Room::new();
    let levels = |bob: u64| json!({"users": {ALICE: 100, BOB: bob}, "state_default": 50});
    room.add(
        "$by-alice",
        ALICE,
        "m.room.power_levels",
        "",
        levels(40),
        9,
        &["$bob"],
        &["$create", "$pl0", "$alice"],
    );
    room.add(
        "$by-bob",
        BOB,
        "m.room.power_levels",
        "",
        levels(50),
        5,
        &["$bob"],
        &["$create", "$pl0", "$bob"],
    );
    // Alice (100) sorts first; bob's change, checked after, is refused once he is demoted.
    assert_eq!(
        winner(
            &room.resolve(&[&["$by-alice"], &["$by-bob"]]),
            "m.room.power_levels"
        ),
        "$by-alice"
    );
}

#[test]
fn power_ties_break_on_event_id() {
    let mut room = Room::new();
    let levels = json!({"users": {ALICE: 100, BOB: 50}, "state_default": 50, "ban": 60});
    room.add(
        "$p2",
        ALICE,
        "m.room.power_levels",
        "",
        levels.clone(),
        7,
        &["$bob"],
        &["$create", "$pl0", "$alice"],
    );
    room.add(
        "$p1",
        ALICE,
        "m.room.power_levels",
        "",
        levels,
        7,
        &["$bob"],
        &["$create", "$pl0", "$alice"],
    );
    assert_eq!(
        winner(&room.resolve(&[&["$p1"], &["$p2"]]), "m.room.power_levels"),
        "$p2"
    );
}

#[test]
fn rejected_auth_events_are_not_used() {
    let mut room = Room::new();
    room.topic("$topic", BOB, 10);
    room.topic("$other", ALICE, 9);
    // With its member event rejected, bob's topic has no membership to be checked against.
    room.events
        .iter_mut()
        .find(|event| event.event_id == "$bob")
        .unwrap()
        .rejected = true;
    let without_bob = room.resolve(&[&["$topic"], &["$other"]]);
    assert_eq!(winner(&without_bob, "m.room.topic"), "$other");
}

#[test]
fn single_and_identical_states_resolve_to_themselves() {
    let room = Room::new();
    let state = room.state_with(&[]);
    assert_eq!(room.resolve(&[&[]]), state);
    assert_eq!(room.resolve(&[&[], &[], &[]]), state);
}

#[test]
fn missing_events_and_wrong_keys_are_errors() {
    let room = Room::new();
    let mut state = room.state_with(&[]);
    state.insert(
        ("m.room.topic".to_owned(), String::new()),
        "$ghost".to_owned(),
    );
    let error = resolve(
        RoomVersion::V11,
        &[state.clone(), room.state_with(&[])],
        &room.store(),
    );
    assert_eq!(
        error,
        Err(ResolveError::MissingEvent {
            event_id: "$ghost".to_owned()
        })
    );
    state.insert(
        ("m.room.topic".to_owned(), String::new()),
        "$bob".to_owned(),
    );
    let error = resolve(RoomVersion::V11, &[state], &room.store()).unwrap_err();
    assert!(
        matches!(error, ResolveError::WrongStateKey { .. }),
        "{error}"
    );
}

#[test]
fn walk_rejects_an_unauthorized_event_and_keeps_going() {
    let mut room = Room::new();
    let levels = json!({"users": {ALICE: 0, BOB: 100}});
    room.add(
        "$coup",
        BOB,
        "m.room.power_levels",
        "",
        levels,
        5,
        &["$bob"],
        &["$create", "$pl0", "$bob"],
    );
    room.add(
        "$topic",
        ALICE,
        "m.room.topic",
        "",
        json!({}),
        6,
        &["$coup"],
        &["$create", "$pl0", "$alice"],
    );
    let store = room.store();
    let events: Vec<_> = room.events.iter().collect();
    let walked = resolve_dag(RoomVersion::V11, &store, &events).unwrap();
    assert_eq!(walked.rejected, vec!["$coup".to_owned()]);
    assert_eq!(winner(&walked.state, "m.room.power_levels"), "$pl0");
    assert_eq!(winner(&walked.state, "m.room.topic"), "$topic");
}

#[test]
fn walk_reports_unknown_events_and_cycles() {
    let mut room = Room::new();
    room.add(
        "$loop",
        BOB,
        "m.room.topic",
        "",
        json!({}),
        6,
        &["$loop"],
        &["$create"],
    );
    let store = room.store();
    let events: Vec<_> = room.events.iter().collect();
    let error = resolve_dag(RoomVersion::V11, &store, &events).unwrap_err();
    assert_eq!(
        error,
        WalkError::Cycle {
            event_id: "$loop".to_owned()
        }
    );
    room.events.last_mut().unwrap().prev_events = vec!["$nowhere".to_owned()];
    let store = room.store();
    let events: Vec<_> = room.events.iter().collect();
    let error = resolve_dag(RoomVersion::V11, &store, &events).unwrap_err();
    assert!(matches!(error, WalkError::UnknownEvent { .. }), "{error}");
}
