//! The rooms every run starts from, set up outside simulated time.
//!
//! Node 0's first user creates every room (public, shared history); the first user of each
//! admin node gets power 100; then every user of every node joins. The events are built and
//! signed by the right nodes' keys, through the same `room` code as any local write, in one
//! store that every node then starts from: as if the setup had been replicated to all nodes
//! before the run. The workload measures what happens after.

use dag::RoomVersion;
use dag::canonical_json::Object;
use dag::room::{self, MemoryStore, NewEvent, Received};
use dag::signing::ServerKey;
use serde_json::{Map, Value, json};

use super::SimError;
use crate::scenario::Scenario;

/// A store holding the set-up rooms, and their IDs.
pub fn rooms(
    scenario: &Scenario,
    keys: &[ServerKey],
    admin_nodes: &[usize],
) -> Result<(MemoryStore, Vec<String>), SimError> {
    let version = match scenario.workload.room_version.as_str() {
        "11" => RoomVersion::V11,
        _ => RoomVersion::V12,
    };
    let mut store = MemoryStore::new();
    let mut rooms = Vec::new();
    // Setup events are stamped just before simulated time 0; each room's differ, so that
    // identical create events cannot give two rooms one ID.
    let base_ts = scenario.run.start_unix_ms.saturating_sub(60_000);
    for room in 0..scenario.workload.rooms {
        let ts = base_ts + room as u64;
        let room_id = create_room(&mut store, version, keys, admin_nodes, room, ts)?;
        for (node, key) in keys.iter().enumerate() {
            for user in 0..scenario.workload.users_per_node {
                if node == 0 && user == 0 {
                    continue;
                }
                let sender = user_id(key, user);
                let join = state(
                    "m.room.member",
                    &sender,
                    &sender,
                    json!({"membership": "join"}),
                );
                send(&mut store, &room_id, &join, ts, key)?;
            }
        }
        rooms.push(room_id);
    }
    Ok((store, rooms))
}

fn create_room(
    store: &mut MemoryStore,
    version: RoomVersion,
    keys: &[ServerKey],
    admin_nodes: &[usize],
    room: usize,
    ts: u64,
) -> Result<String, SimError> {
    let creator_key = &keys[0];
    let creator = user_id(creator_key, 0);
    let pre_v12_id = format!("!room{room}:{}", creator_key.server_name());
    let create = room::build_create_event(
        version,
        &creator,
        Object::new(),
        ts,
        Some(&pre_v12_id),
        creator_key,
    )
    .map_err(|e| SimError::Bootstrap(e.to_string()))?;
    let room_id = match room::receive(store, create.into_json()) {
        Ok(Received::Stored { room_id, .. }) => room_id,
        other => return Err(SimError::Bootstrap(format!("create event: {other:?}"))),
    };
    let mut admins = Map::new();
    for &node in admin_nodes {
        let admin = user_id(&keys[node], 0);
        // From v12 the creator's power is implied and may not be listed.
        if admin != creator || version == RoomVersion::V11 {
            admins.insert(admin, json!(100));
        }
    }
    let setup = [
        state(
            "m.room.member",
            &creator,
            &creator,
            json!({"membership": "join"}),
        ),
        state(
            "m.room.power_levels",
            "",
            &creator,
            json!({
                "users": admins, "users_default": 0, "events_default": 0, "state_default": 50,
                "ban": 50, "kick": 50, "redact": 50, "invite": 0,
            }),
        ),
        state(
            "m.room.join_rules",
            "",
            &creator,
            json!({"join_rule": "public"}),
        ),
        state(
            "m.room.history_visibility",
            "",
            &creator,
            json!({"history_visibility": "shared"}),
        ),
    ];
    for event in &setup {
        send(store, &room_id, event, ts, creator_key)?;
    }
    Ok(room_id)
}

fn send(
    store: &mut MemoryStore,
    room_id: &str,
    event: &NewEvent,
    ts: u64,
    key: &ServerKey,
) -> Result<(), SimError> {
    room::send(store, room_id, event, ts, key)
        .map(drop)
        .map_err(|e| {
            SimError::Bootstrap(format!("{} {:?}: {e}", event.event_type, event.state_key))
        })
}

fn state(event_type: &str, state_key: &str, sender: &str, content: Value) -> NewEvent {
    NewEvent {
        event_type: event_type.to_owned(),
        state_key: Some(state_key.to_owned()),
        sender: sender.to_owned(),
        content,
    }
}

pub fn user_id(key: &ServerKey, user: usize) -> String {
    format!("@u{user}:{}", key.server_name())
}
