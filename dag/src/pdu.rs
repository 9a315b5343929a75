//! The persistent data unit: a signed Matrix room event, validated once on entry.
//!
//! A [`Pdu`] keeps the event's full JSON object (so it re-serialises byte for byte) next to the
//! fields that the rest of the system reads, parsed and checked against the spec's limits.

use std::sync::OnceLock;

use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use crate::auth::ParsedPowerLevels;
use crate::canonical_json::{self, Object};
use crate::ids::{self, IdError};
use crate::signing::{self, ContentHash, ServerKey, SignatureError};
use crate::{RoomEvent, RoomVersion, hashing};

/// A PDU in canonical JSON may not exceed 65,536 bytes, signatures included.
pub const MAX_PDU_BYTES: usize = 65_536;
/// `type` and `state_key` may not exceed 255 bytes.
pub const MAX_TYPE_BYTES: usize = 255;
pub const MAX_PREV_EVENTS: usize = 20;
pub const MAX_AUTH_EVENTS: usize = 10;
/// Flotilla signs with one key per node, always under this ID.
pub const NODE_KEY_ID: &str = "ed25519:1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("event is {0} bytes of canonical JSON; the limit is {MAX_PDU_BYTES}")]
    TooLarge(usize),
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("sender's server name is not a hex ed25519 key, so its signature cannot be checked")]
    UnknownSigningKey,
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> PduError {
    PduError::Invalid {
        field,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pdu {
    version: RoomVersion,
    event_id: String,
    json: Object,
    /// Whether `hashes.sha256` is the content hash; both receipt and every relay ask.
    hashes_match: Derived<bool>,
    /// For a power levels event, its validated content: every auth check reads it.
    power_levels: Derived<ParsedPowerLevels>,
    room_id: Option<String>,
    sender: String,
    event_type: String,
    state_key: Option<String>,
    origin_server_ts: u64,
    depth: u64,
    prev_events: Vec<String>,
    auth_events: Vec<String>,
    redacts: Option<String>,
}

impl Pdu {
    /// Validates a received or stored event. Signatures are not checked here: see
    /// [`Pdu::verify_origin_signature`].
    pub fn from_json(version: RoomVersion, json: Object) -> Result<Pdu, PduError> {
        let event_id = hashing::event_id(version, &json);
        Pdu::from_json_with_id(version, json, event_id)
    }

    /// [`Pdu::from_json`] for a caller that already computed `event_id` as
    /// [`hashing::event_id`] of `json` (receipt hashes the redacted event once, for the ID and
    /// the signatures both).
    pub(crate) fn from_json_with_id(
        version: RoomVersion,
        json: Object,
        event_id: String,
    ) -> Result<Pdu, PduError> {
        let size = canonical_json::object_to_string(&json).len();
        if size > MAX_PDU_BYTES {
            return Err(PduError::TooLarge(size));
        }
        let event_type = bounded_string(&json, "type")?.ok_or(PduError::Missing("type"))?;
        let state_key = bounded_string(&json, "state_key")?;
        let sender = string_field(&json, "sender")?.ok_or(PduError::Missing("sender"))?;
        ids::validate_user_id(&sender)?;
        let room_id = room_id_field(version, &json, &event_type, state_key.as_deref())?;
        if !matches!(json.get("content"), Some(Value::Object(_))) {
            return Err(invalid("content", "not an object"));
        }
        let hash = json
            .get("hashes")
            .and_then(|h| h.get("sha256"))
            .and_then(Value::as_str);
        if hash.is_none() {
            return Err(PduError::Missing("hashes.sha256"));
        }
        if !matches!(json.get("signatures"), Some(Value::Object(_))) {
            return Err(PduError::Missing("signatures"));
        }
        let pdu = Pdu {
            version,
            event_id,
            hashes_match: Derived::default(),
            power_levels: Derived::default(),
            origin_server_ts: unsigned_field(&json, "origin_server_ts")?,
            depth: unsigned_field(&json, "depth")?,
            prev_events: event_id_list(&json, "prev_events", MAX_PREV_EVENTS)?,
            auth_events: event_id_list(&json, "auth_events", MAX_AUTH_EVENTS)?,
            redacts: redacts_field(version, &json)?,
            room_id,
            sender,
            event_type,
            state_key,
            json,
        };
        Ok(pdu)
    }

    /// Hashes and signs a new event built by this node, then validates it like any other.
    pub fn sign_new(
        version: RoomVersion,
        mut json: Object,
        key: &ServerKey,
    ) -> Result<Pdu, PduError> {
        signing::hash_and_sign_event(version, &mut json, key)?;
        Pdu::from_json(version, json)
    }

    /// Verifies the signature of the sender's server. A Flotilla server name is the hex of its
    /// ed25519 public key, so no key lookup is needed: the name is the key.
    pub fn verify_origin_signature(&self) -> Result<ContentHash, PduError> {
        let server = ids::server_name_of(&self.sender).unwrap_or_default();
        let key = verifying_key_from_server_name(server).ok_or(PduError::UnknownSigningKey)?;
        Ok(signing::verify_event(
            self.version,
            &self.json,
            server,
            NODE_KEY_ID,
            &key,
        )?)
    }

    /// This event with the room version's redaction algorithm applied.
    pub fn redacted(&self) -> Pdu {
        let json = crate::redaction::redact(self.version, &self.json);
        Pdu {
            json,
            hashes_match: Derived::default(),
            power_levels: Derived::default(),
            ..self.clone()
        }
    }

    /// Whether `hashes.sha256` holds the content hash, i.e. the event is unaltered.
    pub fn content_hash_matches(&self) -> bool {
        *self
            .hashes_match
            .0
            .get_or_init(|| hashing::content_hash_matches(&self.json))
    }

    pub fn version(&self) -> RoomVersion {
        self.version
    }

    pub fn json(&self) -> &Object {
        &self.json
    }

    pub fn into_json(self) -> Object {
        self.json
    }

    pub fn depth(&self) -> u64 {
        self.depth
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    pub fn canonical_json(&self) -> String {
        canonical_json::object_to_string(&self.json)
    }
}

/// A fact derived from the event's JSON, computed on first use and kept. Being a function of
/// the JSON, it takes no part in comparisons.
#[derive(Clone)]
struct Derived<T>(OnceLock<T>);

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived(OnceLock::new())
    }
}

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.get().fmt(f)
    }
}

/// The ed25519 key a hex server name stands for.
pub fn verifying_key_from_server_name(server_name: &str) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&key_bytes_from_server_name(server_name)?).ok()
}

/// The 32 bytes a server name spells in lowercase hex; whether they are a valid ed25519 key
/// is for the signature check to find out.
pub fn key_bytes_from_server_name(server_name: &str) -> Option<[u8; 32]> {
    let bytes: [u8; 32] = hex::decode(server_name).ok()?.try_into().ok()?;
    (hex::encode(bytes) == server_name).then_some(bytes)
}

fn string_field(json: &Object, field: &'static str) -> Result<Option<String>, PduError> {
    match json.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "not a string")),
    }
}

fn bounded_string(json: &Object, field: &'static str) -> Result<Option<String>, PduError> {
    let value = string_field(json, field)?;
    if value.as_ref().is_some_and(|v| v.len() > MAX_TYPE_BYTES) {
        return Err(invalid(field, "longer than 255 bytes"));
    }
    Ok(value)
}

fn unsigned_field(json: &Object, field: &'static str) -> Result<u64, PduError> {
    let value = json.get(field).ok_or(PduError::Missing(field))?;
    value
        .as_u64()
        .ok_or_else(|| invalid(field, "not a non-negative integer"))
}

/// v12 create events have no room ID (it is derived from them); every other event has one.
fn room_id_field(
    version: RoomVersion,
    json: &Object,
    event_type: &str,
    state_key: Option<&str>,
) -> Result<Option<String>, PduError> {
    let room_id = string_field(json, "room_id")?;
    let is_v12_create =
        version.room_id_is_create_hash() && event_type == "m.room.create" && state_key == Some("");
    match (room_id, is_v12_create) {
        (Some(_), true) => Err(invalid("room_id", "a v12 create event has no room ID")),
        (None, true) => Ok(None),
        (None, false) => Err(PduError::Missing("room_id")),
        (Some(room_id), false) => {
            ids::validate_room_id(version, &room_id)?;
            Ok(Some(room_id))
        }
    }
}

fn event_id_list(
    json: &Object,
    field: &'static str,
    limit: usize,
) -> Result<Vec<String>, PduError> {
    let Some(Value::Array(items)) = json.get(field) else {
        return Err(json
            .get(field)
            .map_or(PduError::Missing(field), |_| invalid(field, "not an array")));
    };
    if items.len() > limit {
        return Err(invalid(field, format!("more than {limit} entries")));
    }
    items
        .iter()
        .map(|item| {
            let id = item
                .as_str()
                .ok_or_else(|| invalid(field, "entry is not a string"))?;
            ids::validate_event_id(id)?;
            Ok(id.to_owned())
        })
        .collect()
}

fn redacts_field(version: RoomVersion, json: &Object) -> Result<Option<String>, PduError> {
    if json.get("type").and_then(Value::as_str) != Some("m.room.redaction") {
        return Ok(None);
    }
    let redacts = if version.redacts_in_content() {
        json.get("content").and_then(|c| c.get("redacts"))
    } else {
        json.get("redacts")
    };
    match redacts {
        Some(Value::String(id)) => {
            ids::validate_event_id(id)?;
            Ok(Some(id.clone()))
        }
        _ => Err(PduError::Missing("redacts")),
    }
}

impl RoomEvent for Pdu {
    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn room_id(&self) -> Option<&str> {
        self.room_id.as_deref()
    }

    fn sender(&self) -> &str {
        &self.sender
    }

    fn event_type(&self) -> &str {
        &self.event_type
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn content(&self) -> &Value {
        &self.json["content"]
    }

    fn origin_server_ts(&self) -> u64 {
        self.origin_server_ts
    }

    fn prev_events(&self) -> impl ExactSizeIterator<Item = &str> {
        self.prev_events.iter().map(String::as_str)
    }

    fn auth_events(&self) -> impl ExactSizeIterator<Item = &str> {
        self.auth_events.iter().map(String::as_str)
    }

    fn redacts(&self) -> Option<&str> {
        self.redacts.as_deref()
    }

    fn parsed_power_levels(&self) -> Option<&ParsedPowerLevels> {
        Some(
            self.power_levels
                .0
                .get_or_init(|| ParsedPowerLevels::of(self.content())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_key(seed: u8) -> ServerKey {
        ServerKey::node(&[seed; 32])
    }

    fn message(key: &ServerKey, room_id: &str) -> Object {
        let sender = format!("@alice:{}", key.server_name());
        let prev = format!("${}", crate::base64::encode_url_safe([1u8; 32]));
        json!({
            "type": "m.room.message", "room_id": room_id, "sender": sender, "origin_server_ts": 1_700_000_000_000u64,
            "depth": 7, "prev_events": [prev], "auth_events": [], "content": {"msgtype": "m.text", "body": "hi"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn v12_room() -> String {
        format!("!{}", crate::base64::encode_url_safe([9u8; 32]))
    }

    #[test]
    fn signed_event_round_trips_and_verifies() {
        let key = node_key(1);
        let pdu = Pdu::sign_new(RoomVersion::V12, message(&key, &v12_room()), &key).unwrap();
        assert_eq!(pdu.verify_origin_signature(), Ok(ContentHash::Matches));
        assert_eq!(pdu.event_type(), "m.room.message");
        assert_eq!(pdu.prev_events().len(), 1);
        let reparsed = Pdu::from_json(RoomVersion::V12, pdu.json().clone()).unwrap();
        assert_eq!(reparsed.event_id(), pdu.event_id());
    }

    #[test]
    fn forged_sender_fails_verification() {
        let key = node_key(1);
        let other = node_key(2);
        let mut json = message(&key, &v12_room());
        json.insert(
            "sender".into(),
            json!(format!("@mallory:{}", other.server_name())),
        );
        let pdu = Pdu::sign_new(RoomVersion::V12, json, &key).unwrap();
        assert!(matches!(
            pdu.verify_origin_signature(),
            Err(PduError::Signature(SignatureError::MissingSignature(_)))
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let key = node_key(1);
        let room = v12_room();
        let mut too_many = message(&key, &room);
        let ids: Vec<_> = (0..21u8)
            .map(|i| json!(format!("${}", crate::base64::encode_url_safe([i; 32]))))
            .collect();
        too_many.insert("prev_events".into(), json!(ids));
        assert!(Pdu::sign_new(RoomVersion::V12, too_many, &key).is_err());

        let mut long_type = message(&key, &room);
        long_type.insert("type".into(), json!("t".repeat(256)));
        assert!(Pdu::sign_new(RoomVersion::V12, long_type, &key).is_err());

        let mut huge = message(&key, &room);
        huge.insert("content".into(), json!({"body": "x".repeat(70_000)}));
        assert!(matches!(
            Pdu::sign_new(RoomVersion::V12, huge, &key),
            Err(PduError::TooLarge(_))
        ));
    }

    #[test]
    fn v12_create_has_no_room_id() {
        let key = node_key(3);
        let create = json!({
            "type": "m.room.create", "state_key": "", "sender": format!("@a:{}", key.server_name()),
            "origin_server_ts": 1, "depth": 1, "prev_events": [], "auth_events": [],
            "content": {"room_version": "12"}
        });
        let pdu =
            Pdu::sign_new(RoomVersion::V12, create.as_object().unwrap().clone(), &key).unwrap();
        assert_eq!(pdu.room_id(), None);
        let mut with_room = create.as_object().unwrap().clone();
        with_room.insert("room_id".into(), json!(v12_room()));
        assert!(Pdu::sign_new(RoomVersion::V12, with_room, &key).is_err());
    }

    #[test]
    fn redaction_location_depends_on_version() {
        let key = node_key(4);
        let target = format!("${}", crate::base64::encode_url_safe([5u8; 32]));
        let mut v11 = message(&key, "!r:example.org");
        v11.insert("type".into(), json!("m.room.redaction"));
        v11.insert("content".into(), json!({"redacts": target}));
        let pdu = Pdu::sign_new(RoomVersion::V11, v11.clone(), &key).unwrap();
        assert_eq!(pdu.redacts(), Some(target.as_str()));
        assert!(Pdu::sign_new(RoomVersion::V10, v11, &key).is_err());
    }
}
