//! Trains the zstd dictionary that every sync link starts from (`dag/src/sync/dictionary-1.zdict`).
//!
//! The samples are the messages a link carries: `Events` frames of signed room events made by
//! the real room code (room creation with the usual initial state, joins, invites, short text
//! messages, reactions, replies, redactions, topic and power-level changes) from a handful of
//! ships, plus the control messages around them. Everything is deterministic, so the same
//! source gives the same dictionary.
//!
//! ```text
//! cargo run --release -p dag --example train_dictionary > dag/src/sync/dictionary-1.zdict
//! ```
//!
//! Changing the dictionary changes the wire protocol: bump the dictionary version in
//! `dag::sync::codec` (which names the libp2p protocol) along with the file.

use std::io::Write;

use dag::canonical_json::Object;
use dag::room::{self, MemoryStore, NewEvent, Received};
use dag::signing::ServerKey;
use dag::sync::message::{Message, RoomHeads};
use dag::{RoomEvent, RoomVersion, wire};
use serde_json::{Value, json};

const DICTIONARY_BYTES: usize = 4096;
const SHIPS: u8 = 6;
const ROOMS: usize = 4;
const EVENTS_PER_ROOM: usize = 700;
/// 2026-11-26, so that timestamps have realistic magnitudes.
const START_MS: u64 = 1_795_651_200_000;

const JOIN_RULES: [&str; 2] = ["invite", "public"];
const ROOM_NAMES: [&str; 4] = ["Fleet ops", "Bridge", "Logistics", "Weather"];

const PHRASES: &[&str] = &[
    "Surfacing at 0600, all well",
    "Contact bearing 270, closing",
    "Roger, holding position",
    "ETA 1430 at the rendezvous",
    "Weather deteriorating, sea state 5",
    "Fuel at 62 percent",
    "Request status report",
    "All stations, radio check",
    "Copy that, wilco",
    "Position 54.32N 003.17W, course 095, speed 12",
    "Man overboard drill complete",
    "Diving to periscope depth",
    "Ops normal",
    "Medevac requested, one casualty stable",
    "Resupply confirmed for tomorrow",
    "Lost comms with Bravo for 20 minutes",
    "Standing by",
    "ok",
    "👍",
    "Can you send the updated chart?",
];

/// A tiny deterministic generator: the trainer needs variety, not quality randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Ship {
    key: ServerKey,
    user: String,
}

fn main() {
    let ships: Vec<Ship> = (1..=SHIPS)
        .map(|seed| {
            let key = ServerKey::node(&[seed.wrapping_mul(37); 32]);
            let user = format!(
                "@{}:{}",
                ["captain", "ops", "crew", "nav"][seed as usize % 4],
                key.server_name()
            );
            Ship { key, user }
        })
        .collect();
    let mut rng = Rng(0x5eed_f107_111a);
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for room_index in 0..ROOMS {
        let events = room_lifecycle(&ships, room_index, &mut rng);
        samples.extend(link_messages(&events, &mut rng));
    }
    let sizes: Vec<usize> = samples.iter().map(Vec::len).collect();
    let joined: Vec<u8> = samples.concat();
    let dictionary = match zstd::dict::from_continuous(&joined, &sizes, DICTIONARY_BYTES) {
        Ok(dictionary) => dictionary,
        Err(error) => {
            eprintln!("training failed: {error}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "trained {} bytes from {} samples ({} bytes)",
        dictionary.len(),
        samples.len(),
        joined.len()
    );
    if let Err(error) = std::io::stdout().write_all(&dictionary) {
        eprintln!("writing the dictionary: {error}");
        std::process::exit(1);
    }
}

/// One room's events, in the order they were made.
fn room_lifecycle(ships: &[Ship], room_index: usize, rng: &mut Rng) -> Vec<Object> {
    let mut store = MemoryStore::new();
    let mut now = START_MS + room_index as u64 * 3_600_000;
    let creator = &ships[room_index % ships.len()];
    let version = if room_index.is_multiple_of(2) {
        RoomVersion::V12
    } else {
        RoomVersion::V11
    };
    let pre_v12_id = (version == RoomVersion::V11)
        .then(|| format!("!room{room_index}:{}", creator.key.server_name()));
    let create = room::build_create_event(
        version,
        &creator.user,
        Object::new(),
        now,
        pre_v12_id.as_deref(),
        &creator.key,
    )
    .expect("create event");
    let Ok(Received::Stored { room_id, .. }) = room::receive(&mut store, create.json().clone())
    else {
        panic!("the create event is refused");
    };
    let mut events = vec![create.json().clone()];
    let mut send =
        |ship: &Ship, event_type: &str, state_key: Option<&str>, content: Value, now: u64| {
            let new = NewEvent {
                event_type: event_type.into(),
                state_key: state_key.map(str::to_owned),
                sender: ship.user.clone(),
                content,
            };
            // A crew member without the power for a change simply does not make it.
            let pdu = room::send(&mut store, &room_id, &new, now, &ship.key).ok()?;
            events.push(pdu.json().clone());
            Some(pdu.event_id().to_owned())
        };
    for (event_type, state_key, content) in initial_state(creator, ships, version, room_index) {
        now += 1;
        send(creator, event_type, Some(&state_key), content, now);
    }
    for ship in ships.iter().filter(|s| s.user != creator.user) {
        now += 40_000 + rng.below(600_000) as u64;
        send(
            creator,
            "m.room.member",
            Some(&ship.user),
            json!({"membership": "invite"}),
            now,
        );
        now += 5_000 + rng.below(3_600_000) as u64;
        send(
            ship,
            "m.room.member",
            Some(&ship.user),
            json!({"membership": "join", "displayname": display_name(&ship.user)}),
            now,
        );
    }
    let mut recent: Vec<String> = Vec::new();
    for _ in 0..EVENTS_PER_ROOM {
        now += rng.below(900_000) as u64;
        let ship = &ships[rng.below(ships.len())];
        let (event_type, state_key, content) = activity(ship, &recent, rng);
        let Some(id) = send(ship, event_type, state_key.as_deref(), content, now) else {
            continue;
        };
        recent.push(id);
        if recent.len() > 8 {
            recent.remove(0);
        }
    }
    events
}

fn display_name(user: &str) -> String {
    let local = user
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or("crew");
    format!("{local} of the fleet")
}

fn initial_state(
    creator: &Ship,
    ships: &[Ship],
    version: RoomVersion,
    room_index: usize,
) -> Vec<(&'static str, String, Value)> {
    let mut users = serde_json::Map::new();
    if version == RoomVersion::V11 {
        users.insert(creator.user.clone(), json!(100));
    }
    users.insert(
        ships[(room_index + 1) % ships.len()].user.clone(),
        json!(50),
    );
    vec![
        (
            "m.room.member",
            creator.user.clone(),
            json!({"membership": "join", "displayname": display_name(&creator.user)}),
        ),
        (
            "m.room.power_levels",
            String::new(),
            json!({
                "users": users, "users_default": 0,
                "events": {"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
                           "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
                           "m.room.server_acl": 100, "m.room.encryption": 100},
                "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
                "invite": 0, "notifications": {"room": 50},
            }),
        ),
        (
            "m.room.join_rules",
            String::new(),
            json!({"join_rule": JOIN_RULES[room_index % 2]}),
        ),
        (
            "m.room.history_visibility",
            String::new(),
            json!({"history_visibility": "shared"}),
        ),
        (
            "m.room.guest_access",
            String::new(),
            json!({"guest_access": "can_join"}),
        ),
        (
            "m.room.name",
            String::new(),
            json!({"name": ROOM_NAMES[room_index % 4]}),
        ),
        (
            "m.room.topic",
            String::new(),
            json!({"topic": "Daily traffic for the task group"}),
        ),
    ]
}

/// What a crew does in a room: mostly short messages, sometimes reactions, replies, notices,
/// topic and profile changes.
fn activity(
    ship: &Ship,
    recent: &[String],
    rng: &mut Rng,
) -> (&'static str, Option<String>, Value) {
    let phrase = PHRASES[rng.below(PHRASES.len())];
    let target = recent.get(rng.below(recent.len().max(1))).cloned();
    match (rng.below(20), target) {
        (0, Some(target)) => (
            "m.reaction",
            None,
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}),
        ),
        (1, Some(target)) => (
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": phrase, "m.relates_to": {"m.in_reply_to": {"event_id": target}}}),
        ),
        (2, _) => (
            "m.room.message",
            None,
            json!({"msgtype": "m.notice", "body": phrase}),
        ),
        (3, _) => (
            "m.room.member",
            Some(ship.user.clone()),
            json!({"membership": "join", "displayname": display_name(&ship.user)}),
        ),
        (4, _) => (
            "m.room.topic",
            Some(String::new()),
            json!({"topic": format!("Traffic for {phrase}")}),
        ),
        _ => (
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": phrase, "m.mentions": {}}),
        ),
    }
}

/// The messages a link would carry for these events: mostly one to three events per frame,
/// with the occasional announcement, digest or heads message in between.
fn link_messages(events: &[Object], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut acked = 0;
    let mut index = 0;
    while index < events.len() {
        let batch = (1 + rng.below(3)).min(events.len() - index);
        let encoded = events[index..index + batch]
            .iter()
            .map(wire::encode)
            .collect();
        messages.push(
            Message::Events {
                acked,
                events: encoded,
            }
            .encode(),
        );
        acked += rng.below(3) as u64;
        index += batch;
        let ids = || vec![dag::hashing::event_id(RoomVersion::V11, &events[index - 1])];
        match rng.below(8) {
            0 => messages.push(Message::IHave(ids()).encode()),
            1 => messages.push(
                Message::Hello {
                    digest: rng
                        .next()
                        .to_be_bytes()
                        .repeat(2)
                        .try_into()
                        .unwrap_or([0; 16]),
                }
                .encode(),
            ),
            2 => messages.push(Message::Want(ids()).encode()),
            _ => {}
        }
    }
    let room_id = events[1]
        .get("room_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    messages.push(
        Message::Heads(vec![RoomHeads {
            room_id,
            heads: ids_of(&events[events.len() - 2..]),
            locator: Vec::new(),
            shared: None,
        }])
        .encode(),
    );
    messages
}

fn ids_of(events: &[Object]) -> Vec<String> {
    events
        .iter()
        .map(|e| dag::hashing::event_id(RoomVersion::V11, e))
        .collect()
}
