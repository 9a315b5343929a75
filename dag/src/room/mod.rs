//! Rooms as DAGs of events: receiving events with every check the spec requires, building new
//! local events on the forward extremities, and keeping each room's current state.
//!
//! Storage is behind [`RoomStore`], so the node (SQLite) and the simulator (memory) run this
//! same code. Invariant: a store holds every `prev_events` and `auth_events` ancestor of every
//! event it holds; [`receive`] refuses an event with unknown ancestors and names them, so the
//! caller can fetch them first.

mod receive;
mod resolve;
mod state;
pub mod store;

use serde_json::Value;

pub use receive::{
    Incoming, PreparedBatch, check_signatures_together, prepare, receive, receive_checking_with,
    receive_incoming,
};
pub use state::State;
pub use store::{EventStatus, MemoryStore, RoomCommit, RoomInfo, RoomStore, StoredEvent};

use crate::auth::{self, AuthError};
use crate::canonical_json::{MAX_SAFE_INTEGER, Object};
use crate::pdu::{MAX_PREV_EVENTS, PduError};
use crate::signing::{Ed25519, ServerKey, SignatureError};
use crate::state_res::ResolveError;
use crate::{Pdu, RoomEvent, RoomVersion, UnsupportedRoomVersion};

/// What became of a received event.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// Stored with this status; `reason` says which rule failed unless it was accepted.
    Stored {
        event_id: String,
        room_id: String,
        status: EventStatus,
        reason: Option<AuthError>,
    },
    /// Already held; nothing changed.
    AlreadyKnown {
        event_id: String,
        status: EventStatus,
    },
    /// A create event the rules reject: there is no room to store it in.
    RejectedCreate { event_id: String, reason: AuthError },
}

/// Why a received event was not stored at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiveError {
    #[error("malformed event: {0}")]
    Invalid(#[from] PduError),
    #[error(transparent)]
    UnsupportedRoomVersion(#[from] UnsupportedRoomVersion),
    #[error("bad signature: {0}")]
    BadSignature(#[from] SignatureError),
    #[error("server name {0:?} is not a key, so its signature cannot be checked")]
    UnknownSigningKey(String),
    #[error("{0}")]
    Unauthorised(AuthError),
    #[error("ancestors not held yet: {0:?}")]
    MissingEvents(Vec<String>),
    #[error("unknown room {0}")]
    UnknownRoom(String),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// The room's current state: the resolution over its sync heads, identical on every node that
/// holds the same events. Convergence is measured on this.
pub fn head_state(store: &impl RoomStore, room_id: &str) -> Result<State, ReceiveError> {
    let room = store
        .room(room_id)
        .ok_or_else(|| ReceiveError::UnknownRoom(room_id.to_owned()))?;
    Ok(room.current_state)
}

/// The state before a held event: the resolution of the states after its `prev_events`. The
/// checks on receipt compute the same; clients are shown what a state event replaced in it.
pub fn state_before(store: &impl RoomStore, pdu: &Pdu) -> Result<State, ReceiveError> {
    let mut missing = Vec::new();
    let mut parent_states = Vec::new();
    for id in pdu.prev_events() {
        match store.event(id) {
            Some(parent) => parent_states.push(parent.state_after.clone()),
            None => missing.push(id.to_owned()),
        }
    }
    if !missing.is_empty() {
        return Err(ReceiveError::MissingEvents(missing));
    }
    resolve::resolve_states(store, pdu.version(), &parent_states)
}

/// The ID an incoming event has or will have once its room is known. Before its room is known
/// the version is inferred from the shape of the room ID (hash: v12, else v11), which only
/// matters for v10 events with top-level keys v11 no longer protects.
pub fn incoming_event_id(store: &impl RoomStore, json: &Object) -> String {
    let version = receive::room_version_of(store, json).unwrap_or_else(|_| {
        let room_id = json.get("room_id").and_then(Value::as_str).unwrap_or("!");
        match crate::ids::validate_room_id(RoomVersion::V12, room_id) {
            Ok(()) => RoomVersion::V12,
            Err(_) => RoomVersion::V11,
        }
    });
    crate::hashing::event_id(version, json)
}

/// A new event as a local user asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: String,
    pub state_key: Option<String>,
    pub sender: String,
    pub content: Value,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    #[error("unknown room {0}")]
    UnknownRoom(String),
    #[error("forbidden: {0}")]
    Forbidden(AuthError),
    #[error("could not build the event: {0}")]
    Build(#[from] PduError),
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    #[error("an identical event is already stored as {0:?}")]
    AlreadyStored(EventStatus),
}

/// Builds, signs, checks and stores a new local event. Nothing is stored unless the rules
/// accept it against the room's current state.
pub fn send(
    store: &mut impl RoomStore,
    room_id: &str,
    new: &NewEvent,
    origin_server_ts: u64,
    key: &ServerKey,
) -> Result<Pdu, SendError> {
    let pdu = build_event(store, room_id, new, origin_server_ts, key)?;
    let checked = receive::check(store, pdu.json().clone(), &Ed25519)?;
    match checked.status_and_reason() {
        (EventStatus::Accepted, _) => {
            receive::commit(store, checked);
            Ok(pdu)
        }
        (_, Some(reason)) => Err(SendError::Forbidden(reason)),
        (status, None) => Err(SendError::AlreadyStored(status)),
    }
}

/// A signed event citing the room's forward extremities and the auth events that the current
/// state provides.
pub fn build_event(
    store: &impl RoomStore,
    room_id: &str,
    new: &NewEvent,
    origin_server_ts: u64,
    key: &ServerKey,
) -> Result<Pdu, SendError> {
    let room = store
        .room(room_id)
        .ok_or_else(|| SendError::UnknownRoom(room_id.to_owned()))?;
    let mut prevs: Vec<(u64, String)> = room
        .forward_extremities
        .iter()
        .filter_map(|id| Some((store.event(id)?.pdu.depth(), id.clone())))
        .collect();
    prevs.sort_by(|a, b| b.cmp(a));
    prevs.truncate(MAX_PREV_EVENTS);
    let depth = prevs
        .iter()
        .map(|(depth, _)| *depth)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let keys = auth::auth_types_for_event(
        room.version,
        &new.event_type,
        &new.sender,
        new.state_key.as_deref(),
        &new.content,
    );
    let auth_events: Vec<&String> = keys
        .iter()
        .filter_map(|k| room.current_state.get(k))
        .collect();
    let mut json = serde_json::json!({
        "type": new.event_type,
        "room_id": room_id,
        "sender": new.sender,
        "origin_server_ts": origin_server_ts,
        "depth": depth.min(MAX_SAFE_INTEGER as u64),
        "prev_events": prevs.iter().map(|(_, id)| id).collect::<Vec<_>>(),
        "auth_events": auth_events,
        "content": new.content,
    });
    if let Some(state_key) = &new.state_key {
        json["state_key"] = Value::String(state_key.clone());
    }
    if room.version == RoomVersion::V10 && new.event_type == "m.room.redaction" {
        json["redacts"] = new.content.get("redacts").cloned().unwrap_or(Value::Null);
    }
    Ok(Pdu::sign_new(room.version, into_object(json), key)?)
}

/// Signs the create event of a new room. Before v12 the caller picks the room ID (with its own
/// randomness); from v12 the room ID is derived from this event.
pub fn build_create_event(
    version: RoomVersion,
    sender: &str,
    mut content: Object,
    origin_server_ts: u64,
    pre_v12_room_id: Option<&str>,
    key: &ServerKey,
) -> Result<Pdu, PduError> {
    content.insert(
        "room_version".into(),
        Value::String(version.as_str().to_owned()),
    );
    if version.create_has_creator_field() {
        content.insert("creator".into(), Value::String(sender.to_owned()));
    }
    let mut json = serde_json::json!({
        "type": "m.room.create", "state_key": "", "sender": sender, "origin_server_ts": origin_server_ts,
        "depth": 1, "prev_events": [], "auth_events": [], "content": content,
    });
    if let (false, Some(room_id)) = (version.room_id_is_create_hash(), pre_v12_room_id) {
        json["room_id"] = Value::String(room_id.to_owned());
    }
    Pdu::sign_new(version, into_object(json), key)
}

fn into_object(value: Value) -> Object {
    match value {
        Value::Object(object) => object,
        _ => Object::new(),
    }
}

#[cfg(test)]
mod tests;
