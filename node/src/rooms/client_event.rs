//! Events in the client format: the fields clients read, with `unsigned` computed per viewer,
//! and redacted events served redacted ("handling redactions").

use dag::RoomVersion;
use serde_json::{Map, Value, json};

use crate::store::timeline::EventRow;

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

/// The stripped form clients get for rooms they are invited to.
pub fn stripped_event(event: &Value) -> Value {
    json!({
        "type": event.get("type"),
        "state_key": event.get("state_key"),
        "sender": event.get("sender"),
        "content": event.get("content"),
    })
}
