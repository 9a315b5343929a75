//! History visibility: which events a user may read, by the room's `m.room.history_visibility`
//! and the user's membership at each event (the state after it).

use dag::room::RoomStore;
use serde_json::Value;

use crate::store::rooms::SqliteRoomStore;
use crate::store::timeline::EventRow;

/// Whether `user_id` may read the event in `row`; `currently_joined` is their membership now.
pub fn may_see(
    store: &SqliteRoomStore,
    row: &EventRow,
    user_id: &str,
    currently_joined: bool,
) -> bool {
    let Some(state) = row.state_group.and_then(|group| store.state_group(group)) else {
        return false;
    };
    let content_of = |event_type: &str, state_key: &str| -> Option<Value> {
        let id = state.get(&(event_type.to_owned(), state_key.to_owned()))?;
        Some(store.event(id)?.pdu.json().get("content")?.clone())
    };
    let membership = content_of("m.room.member", user_id)
        .and_then(|content| content.get("membership")?.as_str().map(str::to_owned));
    if membership.as_deref() == Some("join") {
        return true;
    }
    let visibility = content_of("m.room.history_visibility", "")
        .and_then(|content| {
            content
                .get("history_visibility")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "shared".to_owned());
    match visibility.as_str() {
        "world_readable" => true,
        "shared" => currently_joined || is_own_membership(row, user_id),
        "invited" => membership.as_deref() == Some("invite") || is_own_membership(row, user_id),
        _ => is_own_membership(row, user_id),
    }
}

/// A user always sees the events that changed their own membership.
fn is_own_membership(row: &EventRow, user_id: &str) -> bool {
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(&row.canonical_json) else {
        return false;
    };
    event.get("type").and_then(Value::as_str) == Some("m.room.member")
        && event.get("state_key").and_then(Value::as_str) == Some(user_id)
}
