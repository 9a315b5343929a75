//! Room members for clients that lazy-load them (`lazy_load_members` in a filter): which member
//! events go with a set of events, and the room summary (heroes and member counts) such clients
//! name rooms and count members with.

use std::collections::BTreeSet;

use dag::RoomEvent;
use dag::room::RoomStore;
use serde_json::{Value, json};

use super::client_event::ClientEvents;
use crate::store::StoreError;
use crate::store::rooms::SqliteRoomStore;
use crate::store::timeline::{self, members_with};

/// Members other than the user a client names an unnamed room after.
const MAX_HEROES: usize = 5;

pub fn is_member_event(event: &Value) -> bool {
    event["type"] == "m.room.member"
}

/// The senders of `events`.
pub fn senders(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|event| event["sender"].as_str().map(str::to_owned))
        .collect()
}

/// The current member events of `users` in the room, in the client form.
pub fn current_member_events(
    store: &SqliteRoomStore,
    formatter: &ClientEvents,
    room_id: &str,
    users: &BTreeSet<String>,
) -> Result<Vec<Value>, StoreError> {
    let Some(room) = store.room(room_id) else {
        return Ok(Vec::new());
    };
    let ids: Vec<String> = users
        .iter()
        .filter_map(|user| {
            room.current_state
                .get(&("m.room.member".to_owned(), user.clone()))
                .cloned()
        })
        .collect();
    Ok(formatter.events(&timeline::events_by_ids(store.connection(), &ids)?))
}

/// A joined room's `summary` for `user_id`, and its heroes. A room with a name or a canonical
/// alias is called by it and has none (as in Synapse); others have up to five joined or invited
/// members other than the user, else members who left.
pub fn room_summary(
    store: &SqliteRoomStore,
    room_id: &str,
    user_id: &str,
) -> Result<(Value, Vec<String>), StoreError> {
    let connection = store.connection();
    let joined = members_with(connection, room_id, "join")?;
    let invited = members_with(connection, room_id, "invite")?;
    let counts = json!({
        "m.joined_member_count": joined.len(),
        "m.invited_member_count": invited.len(),
    });
    if is_named(store, room_id) {
        return Ok((counts, Vec::new()));
    }
    let others = |users: &[String]| -> Vec<String> {
        users
            .iter()
            .filter(|user| *user != user_id)
            .take(MAX_HEROES)
            .cloned()
            .collect()
    };
    let mut heroes = others(&[joined.as_slice(), invited.as_slice()].concat());
    if heroes.is_empty() {
        let left = [
            members_with(connection, room_id, "leave")?,
            members_with(connection, room_id, "ban")?,
        ]
        .concat();
        heroes = others(&left);
    }
    let mut summary = counts;
    summary["m.heroes"] = json!(heroes);
    Ok((summary, heroes))
}

/// Whether the room's current state gives it a name or a canonical alias.
fn is_named(store: &SqliteRoomStore, room_id: &str) -> bool {
    let Some(room) = store.room(room_id) else {
        return false;
    };
    let has_text = |event_type: &str, field: &str| {
        room.current_state
            .get(&(event_type.to_owned(), String::new()))
            .and_then(|id| store.event(id))
            .is_some_and(|event| {
                event.pdu.content()[field]
                    .as_str()
                    .is_some_and(|text| !text.is_empty())
            })
    };
    has_text("m.room.name", "name") || has_text("m.room.canonical_alias", "alias")
}
