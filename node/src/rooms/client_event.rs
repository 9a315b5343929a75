//! Events in the client format: the fields clients read, with `unsigned` computed per viewer,
//! and redacted events served redacted ("handling redactions").

use std::collections::BTreeSet;

use dag::room::RoomStore;
use dag::{RoomEvent, RoomVersion};
use serde_json::{Map, Value, json};

use crate::store::rooms::SqliteRoomStore;
use crate::store::timeline::{self, EventRow};

/// Who is looking: their sender's device sees its own transaction IDs.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
}

const CLIENT_FIELDS: &[&str] = &[
    "content",
    "event_id",
    "origin_server_ts",
    "room_id",
    "sender",
    "state_key",
    "type",
    "redacts",
];

/// The client form of a stored event, or `None` if its stored JSON is unreadable.
pub fn client_event(row: &EventRow, viewer: Viewer, now_ms: i64) -> Option<Value> {
    let version: RoomVersion = row.room_version.parse().ok()?;
    let Ok(Value::Object(mut pdu)) = serde_json::from_str::<Value>(&row.canonical_json) else {
        return None;
    };
    let event_id = dag::hashing::event_id(version, &pdu);
    let mut unsigned = Map::new();
    if let Some(redaction_json) = &row.redaction_json {
        pdu = dag::redaction::redact(version, &pdu);
        let redaction_row = EventRow {
            canonical_json: redaction_json.clone(),
            redaction_json: None,
            origin: None,
            ..row.clone()
        };
        if let Some(redaction) = client_event(&redaction_row, viewer, now_ms) {
            unsigned.insert("redacted_because".into(), redaction);
        }
    }
    let mut event: Map<String, Value> = CLIENT_FIELDS
        .iter()
        .filter_map(|field| Some(((*field).to_owned(), pdu.get(*field)?.clone())))
        .collect();
    event.insert("event_id".into(), Value::String(event_id));
    event.insert("room_id".into(), Value::String(row.room_id.clone()));
    if !event.contains_key("redacts")
        && let Some(redacts) = pdu.get("content").and_then(|c| c.get("redacts"))
    {
        event.insert("redacts".into(), redacts.clone());
    }
    let ts = pdu
        .get("origin_server_ts")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    unsigned.insert("age".into(), json!(now_ms.saturating_sub(ts).max(0)));
    if let Some((device_id, txn_id)) = &row.origin
        && device_id == viewer.device_id
        && pdu.get("sender").and_then(Value::as_str) == Some(viewer.user_id)
    {
        unsigned.insert("transaction_id".into(), Value::String(txn_id.clone()));
    }
    event.insert("unsigned".into(), Value::Object(unsigned));
    Some(Value::Object(event))
}

/// Client forms of `rows`, skipping unreadable ones.
pub fn client_events(rows: &[EventRow], viewer: Viewer, now_ms: i64) -> Vec<Value> {
    rows.iter()
        .filter_map(|row| client_event(row, viewer, now_ms))
        .collect()
}

/// Client forms of stored events for one viewer, where a state event also tells what it
/// replaced: `unsigned.replaces_state`, `prev_content` and `prev_sender`, taken from the state
/// before the event, so that they are right after partitioned branches merge too.
pub struct ClientEvents<'a, 's> {
    store: &'a SqliteRoomStore<'s>,
    viewer: Viewer<'a>,
    now_ms: i64,
}

impl<'a, 's> ClientEvents<'a, 's> {
    pub fn new(store: &'a SqliteRoomStore<'s>, viewer: Viewer<'a>, now_ms: i64) -> Self {
        ClientEvents {
            store,
            viewer,
            now_ms,
        }
    }

    /// The client form of `row`, or `None` if its stored JSON is unreadable.
    pub fn event(&self, row: &EventRow) -> Option<Value> {
        let mut event = client_event(row, self.viewer, self.now_ms)?;
        if event.get("state_key").is_some()
            && let Some(replaced) = event["event_id"]
                .as_str()
                .and_then(|id| self.replaced_event(id))
        {
            let unsigned = &mut event["unsigned"];
            unsigned["replaces_state"] = replaced["event_id"].clone();
            unsigned["prev_content"] = replaced["content"].clone();
            unsigned["prev_sender"] = replaced["sender"].clone();
        }
        Some(event)
    }

    /// Client forms of `rows`, skipping unreadable ones.
    pub fn events(&self, rows: &[EventRow]) -> Vec<Value> {
        rows.iter().filter_map(|row| self.event(row)).collect()
    }

    /// The client form of the event that the state event `event_id` replaced, if any.
    fn replaced_event(&self, event_id: &str) -> Option<Value> {
        let replaced_id = replaced_state(self.store, event_id)?;
        match timeline::events_by_ids(self.store.connection(), &[replaced_id]) {
            Ok(rows) => rows
                .first()
                .and_then(|row| client_event(row, self.viewer, self.now_ms)),
            Err(error) => {
                tracing::warn!(%error, event_id, "reading the state an event replaced");
                None
            }
        }
    }
}

/// The event at a state event's `(type, state_key)` in the state before it. Its parents'
/// states usually agree on that key; only where they differ is the state before resolved.
fn replaced_state(store: &SqliteRoomStore, event_id: &str) -> Option<String> {
    let event = store.event(event_id)?;
    let key = (
        event.pdu.event_type().to_owned(),
        event.pdu.state_key()?.to_owned(),
    );
    let mut in_parents = BTreeSet::new();
    for parent in event.pdu.prev_events() {
        in_parents.insert(store.event(parent)?.state_after.get(&key).cloned());
    }
    if in_parents.len() <= 1 {
        return in_parents.pop_first().flatten();
    }
    match dag::room::state_before(store, &event.pdu) {
        Ok(state) => state.get(&key).cloned(),
        Err(error) => {
            tracing::warn!(%error, event_id, "resolving the state before an event");
            None
        }
    }
}

/// The stripped form clients get for rooms they are invited to.
pub fn stripped_event(event: &Value) -> Value {
    json!({
        "type": event.get("type"),
        "state_key": event.get("state_key"),
        "sender": event.get("sender"),
        "content": event.get("content"),
    })
}
