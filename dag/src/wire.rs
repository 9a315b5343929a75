//! The CBOR wire form of one event (DESIGN.md §4).
//!
//! The encoding is lossless for any JSON object: decoding gives back the identical canonical
//! JSON, hence the identical event ID and signatures. Fields of the usual shape are packed:
//!
//! | key | field | packed form |
//! | --- | --- | --- |
//! | 1 | `type` | index into [`EVENT_TYPES`], else text |
//! | 2 | `room_id` | 32 hash bytes for `!`+hash IDs, else text |
//! | 3 | `sender` | `[localpart, 32 key bytes]` for hex server names, else text |
//! | 4, 5 | `origin_server_ts`, `depth` | unsigned integers; on a link, the signed difference from the previous event's (see [`EventRefs::previous`]) |
//! | 6, 7 | `prev_events`, `auth_events` | arrays of 32 hash bytes (text for odd IDs), or a link reference |
//! | 8 | `state_key` | like `sender` |
//! | 9 | `content` | generic CBOR |
//! | 10 | `hashes` | absent when `{"sha256": <content hash>}`, which the receiver recomputes; else 32 bytes or generic |
//! | 11 | `signatures` | `[[server, (key id,) signature bytes], …]`; key id omitted when `ed25519:1`; for the sender's server with `ed25519:1`, just `[signature bytes]` |
//! | 12 | `unsigned` | generic CBOR |
//! | 13 | `redacts` (top level, v10) | like an event ID |
//!
//! A link reference is an unsigned integer naming an event the link already carried, as
//! [`EventRefs`] defines it; encoding without references ([`encode`]) never produces one.
//! | 14 | any other top-level key | map of text to generic CBOR |
//!
//! The event ID is never sent: the receiver recomputes it. A field whose value has an unusual
//! shape travels verbatim under key 14. Decoding re-encodes the result and demands the same
//! bytes, so every event has exactly one wire form and no malformed or padded input is accepted.

use std::cell::OnceCell;

use ciborium::Value as Cbor;
use serde_json::Value as Json;

use crate::Pdu;
use crate::base64;
use crate::canonical_json::{MAX_SAFE_INTEGER, Object};
use crate::hashing::content_hash;

/// A single event's wire form may not exceed this; a valid PDU is far smaller.
pub const MAX_WIRE_EVENT_BYTES: usize = 65_536;
/// CBOR nesting deeper than canonical JSON allows is refused before it can exhaust the stack.
const MAX_CBOR_DEPTH: usize = crate::canonical_json::MAX_DEPTH + 4;

/// Event types sent as small integers. Append only: the index is part of the wire format.
pub const EVENT_TYPES: &[&str] = &[
    "m.room.message",
    "m.room.member",
    "m.room.create",
    "m.room.power_levels",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.name",
    "m.room.topic",
    "m.room.redaction",
    "m.room.third_party_invite",
    "m.room.guest_access",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encrypted",
    "m.reaction",
    "m.room.server_acl",
    "m.room.pinned_events",
    "m.room.tombstone",
    "m.room.encryption",
];

const KEY_TYPE: u8 = 1;
const KEY_ROOM_ID: u8 = 2;
const KEY_SENDER: u8 = 3;
const KEY_ORIGIN_SERVER_TS: u8 = 4;
const KEY_DEPTH: u8 = 5;
const KEY_PREV_EVENTS: u8 = 6;
const KEY_AUTH_EVENTS: u8 = 7;
const KEY_STATE_KEY: u8 = 8;
const KEY_CONTENT: u8 = 9;
const KEY_HASHES: u8 = 10;
const KEY_SIGNATURES: u8 = 11;
const KEY_UNSIGNED: u8 = 12;
const KEY_REDACTS: u8 = 13;
const KEY_EXTRA: u8 = 14;
const DEFAULT_KEY_ID: &str = "ed25519:1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("wire event is {0} bytes; the limit is {MAX_WIRE_EVENT_BYTES}")]
    TooLarge(usize),
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    #[error("unexpected CBOR in {0}")]
    Shape(&'static str),
    #[error("integer out of the canonical JSON range in {0}")]
    IntegerRange(&'static str),
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("not the canonical encoding of this event")]
    NonCanonical,
    #[error("reference {0} names no event this link carried")]
    UnknownReference(u64),
}

/// Short references to events that a link already carried, seen from the side that encodes:
/// both ends of a link keep mirrored tables, so a reference costs a byte or two instead of 32.
pub trait EventRefs {
    /// The reference the encoder uses for this event, if the link carried it.
    fn reference(&self, event_id: &str) -> Option<u64>;
    /// The event a reference names.
    fn resolve(&self, reference: u64) -> Option<String>;
    /// The `origin_server_ts` and `depth` of the last event the encoder sent on the link, if
    /// it had them: the next event's are sent as differences, a byte or three instead of up to
    /// nine, since a link's events are close in time and in depth.
    fn previous(&self) -> Previous {
        Previous::default()
    }
}

/// See [`EventRefs::previous`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Previous {
    pub origin_server_ts: Option<u64>,
    pub depth: Option<u64>,
}

impl Previous {
    /// Remembers the fields of an event just sent or received, keeping earlier values for
    /// fields it lacks.
    pub fn update(&mut self, event: &Object) {
        let field = |name: &str| event.get(name).and_then(Json::as_u64);
        self.origin_server_ts = field("origin_server_ts").or(self.origin_server_ts);
        self.depth = field("depth").or(self.depth);
    }
}

/// No link: every event ID is sent in full.
pub struct NoRefs;

impl EventRefs for NoRefs {
    fn reference(&self, _: &str) -> Option<u64> {
        None
    }

    fn resolve(&self, _: u64) -> Option<String> {
        None
    }
}

/// Encodes an event object into its wire bytes.
pub fn encode(event: &Object) -> Vec<u8> {
    encode_with(event, &NoRefs)
}

/// Encodes an event, naming events the link already carried by reference.
pub fn encode_with(event: &Object, refs: &dyn EventRefs) -> Vec<u8> {
    encode_knowing(event, refs, &|hash| hash == content_hash(event))
}

/// [`encode_with`] for a stored event, which already knows whether its `hashes` match its
/// content: a relay need not hash the event again for every peer.
pub fn encode_pdu_with(pdu: &Pdu, refs: &dyn EventRefs) -> Vec<u8> {
    encode_knowing(pdu.json(), refs, &|_| pdu.content_hash_matches())
}

/// Answers, for the 32 bytes of a `hashes` object's only entry (`sha256`), whether they are
/// the event's content hash. Only ever asked about those bytes, so "do the event's hashes
/// match its content" answers it too.
type IsContentHash<'a> = &'a dyn Fn(&[u8]) -> bool;

fn encode_knowing(event: &Object, refs: &dyn EventRefs, is_content_hash: IsContentHash) -> Vec<u8> {
    let mut bytes = Vec::new();
    let packed = pack(event, refs, is_content_hash);
    // Writing into a Vec cannot fail, and every value built by `pack` is serialisable.
    if let Err(error) = ciborium::ser::into_writer(&packed, &mut bytes) {
        unreachable!("CBOR serialisation into memory failed: {error}");
    }
    bytes
}

/// Decodes wire bytes back into the event object, rejecting anything but the canonical form.
pub fn decode(bytes: &[u8]) -> Result<Object, WireError> {
    decode_with(bytes, &NoRefs)
}

/// Decodes bytes encoded with `refs` (the encoder's view of the link's references).
pub fn decode_with(bytes: &[u8], refs: &dyn EventRefs) -> Result<Object, WireError> {
    if bytes.len() > MAX_WIRE_EVENT_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let mut reader = bytes;
    let value: Cbor = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_CBOR_DEPTH)
        .map_err(|e| WireError::Cbor(e.to_string()))?;
    // Restoring `hashes` and re-encoding both need the content hash: compute it once.
    let hash = OnceCell::new();
    let content_hash = |event: &Object| *hash.get_or_init(|| content_hash(event));
    let event = unpack(value, refs, &content_hash)?;
    if encode_knowing(&event, refs, &|claimed| claimed == content_hash(&event)) != bytes {
        return Err(WireError::NonCanonical);
    }
    Ok(event)
}

fn pack(event: &Object, refs: &dyn EventRefs, is_content_hash: IsContentHash) -> Cbor {
    let mut fields: Vec<(u8, Cbor)> = Vec::new();
    let mut extra: Vec<(Cbor, Cbor)> = Vec::new();
    for (name, value) in event {
        match pack_field(name, value, event, refs, is_content_hash) {
            Some(Packed::Field(key, packed)) => fields.push((key, packed)),
            Some(Packed::Omitted) => {}
            None => extra.push((Cbor::Text(name.clone()), json_to_cbor(value))),
        }
    }
    if !event.contains_key("hashes") {
        fields.push((KEY_HASHES, Cbor::Null));
    }
    if !extra.is_empty() {
        fields.push((KEY_EXTRA, Cbor::Map(extra)));
    }
    fields.sort_by_key(|(key, _)| *key);
    Cbor::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Cbor::from(k), v))
            .collect(),
    )
}

enum Packed {
    Field(u8, Cbor),
    /// The receiver recomputes this field.
    Omitted,
}

/// The packed form of a known field, or `None` to send it verbatim as an extra.
fn pack_field(
    name: &str,
    value: &Json,
    event: &Object,
    refs: &dyn EventRefs,
    is_content_hash: IsContentHash,
) -> Option<Packed> {
    let field = |key, packed: Option<Cbor>| packed.map(|p| Packed::Field(key, p));
    match name {
        "type" => field(KEY_TYPE, value.as_str().map(pack_event_type)),
        "room_id" => field(KEY_ROOM_ID, value.as_str().map(|id| pack_hash_id(id, '!'))),
        "sender" => field(KEY_SENDER, value.as_str().map(pack_user_like)),
        "origin_server_ts" => field(
            KEY_ORIGIN_SERVER_TS,
            value
                .as_u64()
                .filter(|v| *v <= MAX_SAFE_INTEGER as u64)
                .map(|ts| pack_relative(ts, refs.previous().origin_server_ts)),
        ),
        "depth" => field(
            KEY_DEPTH,
            value
                .as_u64()
                .filter(|v| *v <= MAX_SAFE_INTEGER as u64)
                .map(|depth| pack_relative(depth, refs.previous().depth)),
        ),
        "prev_events" => field(KEY_PREV_EVENTS, pack_event_ids(value, refs)),
        "auth_events" => field(KEY_AUTH_EVENTS, pack_event_ids(value, refs)),
        "state_key" => field(KEY_STATE_KEY, value.as_str().map(pack_user_like)),
        "content" => field(KEY_CONTENT, Some(json_to_cbor(value))),
        "hashes" => pack_hashes(value, is_content_hash),
        "signatures" => field(KEY_SIGNATURES, pack_signatures(value, sender_server(event))),
        "unsigned" => field(KEY_UNSIGNED, Some(json_to_cbor(value))),
        "redacts" => field(
            KEY_REDACTS,
            value.as_str().map(|id| pack_event_id(id, refs)),
        ),
        _ => None,
    }
}

/// A counter as the difference from `base`, or whole without one. Canonical JSON integers
/// are below 2^53, so the difference fits an `i64`.
fn pack_relative(value: u64, base: Option<u64>) -> Cbor {
    match base {
        Some(base) => Cbor::from(value as i64 - base as i64),
        None => Cbor::from(value),
    }
}

fn pack_event_type(event_type: &str) -> Cbor {
    match EVENT_TYPES.iter().position(|t| *t == event_type) {
        Some(index) => Cbor::from(index as u64),
        None => Cbor::Text(event_type.to_owned()),
    }
}

/// `$hash` / `!hash` as the 32 raw hash bytes when the text is the canonical spelling.
fn pack_hash_id(id: &str, sigil: char) -> Cbor {
    let hash = id
        .strip_prefix(sigil)
        .and_then(base64::decode_url_safe_canonical)
        .filter(|h| h.len() == 32);
    hash.map_or_else(|| Cbor::Text(id.to_owned()), Cbor::Bytes)
}

fn pack_event_ids(value: &Json, refs: &dyn EventRefs) -> Option<Cbor> {
    let ids = value.as_array()?;
    let packed = ids
        .iter()
        .map(|id| id.as_str().map(|id| pack_event_id(id, refs)))
        .collect::<Option<_>>()?;
    Some(Cbor::Array(packed))
}

fn pack_event_id(id: &str, refs: &dyn EventRefs) -> Cbor {
    refs.reference(id)
        .map_or_else(|| pack_hash_id(id, '$'), Cbor::from)
}

/// `@local:<64 hex>` as `[local, key bytes]`: Flotilla server names are hex ed25519 keys.
fn pack_user_like(text: &str) -> Cbor {
    let split = text.strip_prefix('@').and_then(|rest| rest.split_once(':'));
    match split.and_then(|(local, server)| Some((local, hex_server_bytes(server)?))) {
        Some((local, key)) => Cbor::Array(vec![Cbor::Text(local.to_owned()), Cbor::Bytes(key)]),
        None => Cbor::Text(text.to_owned()),
    }
}

fn hex_server_bytes(server: &str) -> Option<Vec<u8>> {
    let lower_hex = server.len() == 64
        && server
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    lower_hex.then(|| hex::decode(server).ok()).flatten()
}

fn pack_server(server: &str) -> Cbor {
    hex_server_bytes(server).map_or_else(|| Cbor::Text(server.to_owned()), Cbor::Bytes)
}

fn pack_base64(text: &str) -> Cbor {
    base64::decode_canonical(text).map_or_else(|| Cbor::Text(text.to_owned()), Cbor::Bytes)
}

fn pack_hashes(value: &Json, is_content_hash: IsContentHash) -> Option<Packed> {
    let hashes = value.as_object()?;
    let sha256 = hashes
        .get("sha256")
        .and_then(Json::as_str)
        .filter(|_| hashes.len() == 1);
    let bytes = sha256
        .and_then(base64::decode_canonical)
        .filter(|b| b.len() == 32);
    Some(match bytes {
        Some(bytes) if is_content_hash(&bytes) => Packed::Omitted,
        Some(bytes) => Packed::Field(KEY_HASHES, Cbor::Bytes(bytes)),
        None => Packed::Field(KEY_HASHES, json_to_cbor(value)),
    })
}

/// The server of the event's sender: the usual (and in Flotilla the only) signer.
fn sender_server(event: &Object) -> Option<&str> {
    let sender = event.get("sender")?.as_str()?;
    sender
        .strip_prefix('@')?
        .split_once(':')
        .map(|(_, server)| server)
}

fn pack_signatures(value: &Json, implied_server: Option<&str>) -> Option<Cbor> {
    let mut entries = Vec::new();
    for (server, by_key) in value.as_object()? {
        let by_key = by_key.as_object()?;
        if by_key.is_empty() {
            return None;
        }
        for (key_id, signature) in by_key {
            let mut entry = Vec::new();
            if implied_server != Some(server.as_str()) || key_id != DEFAULT_KEY_ID {
                entry.push(pack_server(server));
            }
            if key_id != DEFAULT_KEY_ID {
                entry.push(Cbor::Text(key_id.clone()));
            }
            entry.push(pack_base64(signature.as_str()?));
            entries.push(Cbor::Array(entry));
        }
    }
    Some(Cbor::Array(entries))
}

fn json_to_cbor(value: &Json) -> Cbor {
    match value {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Number(n) => Cbor::from(n.as_i64().unwrap_or_default()),
        Json::String(s) => Cbor::Text(s.clone()),
        Json::Array(items) => Cbor::Array(items.iter().map(json_to_cbor).collect()),
        Json::Object(map) => Cbor::Map(
            map.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), json_to_cbor(v)))
                .collect(),
        ),
    }
}

fn cbor_to_json(value: Cbor, context: &'static str) -> Result<Json, WireError> {
    Ok(match value {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Integer(i) => Json::from(json_integer(i, context)?),
        Cbor::Text(s) => Json::String(s),
        Cbor::Array(items) => Json::Array(
            items
                .into_iter()
                .map(|v| cbor_to_json(v, context))
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(entries) => Json::Object(cbor_to_object(entries, context)?),
        _ => return Err(WireError::Shape(context)),
    })
}

fn cbor_to_object(entries: Vec<(Cbor, Cbor)>, context: &'static str) -> Result<Object, WireError> {
    let mut object = Object::new();
    for (key, value) in entries {
        let Cbor::Text(key) = key else {
            return Err(WireError::Shape(context));
        };
        let value = cbor_to_json(value, context)?;
        if object.contains_key(&key) {
            return Err(WireError::DuplicateKey(key));
        }
        object.insert(key, value);
    }
    Ok(object)
}

fn json_integer(i: ciborium::value::Integer, context: &'static str) -> Result<i64, WireError> {
    let wide = i128::from(i);
    if wide.unsigned_abs() > MAX_SAFE_INTEGER as u128 {
        return Err(WireError::IntegerRange(context));
    }
    Ok(wide as i64)
}

fn unpack(
    value: Cbor,
    refs: &dyn EventRefs,
    content_hash: &dyn Fn(&Object) -> [u8; 32],
) -> Result<Object, WireError> {
    let Cbor::Map(fields) = value else {
        return Err(WireError::Shape("event"));
    };
    let mut event = Object::new();
    let mut hashes_field = None;
    let mut signatures_field = None;
    for (key, value) in fields {
        let key = key
            .as_integer()
            .and_then(|k| u8::try_from(k).ok())
            .ok_or(WireError::Shape("event key"))?;
        let unpacked = match key {
            KEY_HASHES => {
                hashes_field = Some(value);
                continue;
            }
            KEY_SIGNATURES => {
                signatures_field = Some(value);
                continue;
            }
            _ => unpack_field(key, value, refs)?,
        };
        for (name, json) in unpacked {
            if event.insert(name.clone(), json).is_some() {
                return Err(WireError::DuplicateKey(name));
            }
        }
    }
    if let Some(signatures) = signatures_field {
        let signatures = unpack_signatures(signatures, sender_server(&event))?;
        if event.insert("signatures".into(), signatures).is_some() {
            return Err(WireError::DuplicateKey("signatures".into()));
        }
    }
    restore_hashes(&mut event, hashes_field, content_hash)?;
    Ok(event)
}

fn unpack_field(
    key: u8,
    value: Cbor,
    refs: &dyn EventRefs,
) -> Result<Vec<(String, Json)>, WireError> {
    let one = |name: &str, json: Json| Ok(vec![(name.to_owned(), json)]);
    match key {
        KEY_TYPE => one("type", unpack_event_type(value)?),
        KEY_ROOM_ID => one("room_id", unpack_hash_id(value, '!', "room_id")?),
        KEY_SENDER => one("sender", unpack_user_like(value, "sender")?),
        KEY_ORIGIN_SERVER_TS => one(
            "origin_server_ts",
            unpack_relative(value, refs.previous().origin_server_ts, "origin_server_ts")?,
        ),
        KEY_DEPTH => one(
            "depth",
            unpack_relative(value, refs.previous().depth, "depth")?,
        ),
        KEY_PREV_EVENTS => one("prev_events", unpack_event_ids(value, refs, "prev_events")?),
        KEY_AUTH_EVENTS => one("auth_events", unpack_event_ids(value, refs, "auth_events")?),
        KEY_STATE_KEY => one("state_key", unpack_user_like(value, "state_key")?),
        KEY_CONTENT => one("content", cbor_to_json(value, "content")?),
        KEY_UNSIGNED => one("unsigned", cbor_to_json(value, "unsigned")?),
        KEY_REDACTS => one("redacts", unpack_event_id(value, refs, "redacts")?),
        KEY_EXTRA => {
            let Cbor::Map(entries) = value else {
                return Err(WireError::Shape("extra fields"));
            };
            Ok(cbor_to_object(entries, "extra fields")?
                .into_iter()
                .collect())
        }
        _ => Err(WireError::Shape("event key")),
    }
}

fn unpack_event_type(value: Cbor) -> Result<Json, WireError> {
    match value {
        Cbor::Text(t) => Ok(Json::String(t)),
        Cbor::Integer(i) => {
            let index = usize::try_from(i).map_err(|_| WireError::Shape("type"))?;
            let name = EVENT_TYPES.get(index).ok_or(WireError::Shape("type"))?;
            Ok(Json::String((*name).to_owned()))
        }
        _ => Err(WireError::Shape("type")),
    }
}

fn unpack_hash_id(value: Cbor, sigil: char, context: &'static str) -> Result<Json, WireError> {
    match value {
        Cbor::Text(t) => Ok(Json::String(t)),
        Cbor::Bytes(hash) if hash.len() == 32 => Ok(Json::String(format!(
            "{sigil}{}",
            base64::encode_url_safe(hash)
        ))),
        _ => Err(WireError::Shape(context)),
    }
}

fn unpack_event_ids(
    value: Cbor,
    refs: &dyn EventRefs,
    context: &'static str,
) -> Result<Json, WireError> {
    let Cbor::Array(ids) = value else {
        return Err(WireError::Shape(context));
    };
    Ok(Json::Array(
        ids.into_iter()
            .map(|id| unpack_event_id(id, refs, context))
            .collect::<Result<_, _>>()?,
    ))
}

fn unpack_event_id(
    value: Cbor,
    refs: &dyn EventRefs,
    context: &'static str,
) -> Result<Json, WireError> {
    match value {
        Cbor::Integer(reference) => {
            let reference = u64::try_from(reference).map_err(|_| WireError::Shape(context))?;
            refs.resolve(reference)
                .map(Json::String)
                .ok_or(WireError::UnknownReference(reference))
        }
        other => unpack_hash_id(other, '$', context),
    }
}

fn unpack_user_like(value: Cbor, context: &'static str) -> Result<Json, WireError> {
    match value {
        Cbor::Text(t) => Ok(Json::String(t)),
        Cbor::Array(parts) => match <[Cbor; 2]>::try_from(parts) {
            Ok([Cbor::Text(local), Cbor::Bytes(key)]) if key.len() == 32 => {
                Ok(Json::String(format!("@{local}:{}", hex::encode(key))))
            }
            _ => Err(WireError::Shape(context)),
        },
        _ => Err(WireError::Shape(context)),
    }
}

fn unpack_relative(
    value: Cbor,
    base: Option<u64>,
    context: &'static str,
) -> Result<Json, WireError> {
    let Cbor::Integer(i) = value else {
        return Err(WireError::Shape(context));
    };
    let whole = i128::from(i) + i128::from(base.unwrap_or(0));
    if !(0..=i128::from(MAX_SAFE_INTEGER)).contains(&whole) {
        return Err(WireError::IntegerRange(context));
    }
    Ok(Json::from(whole as u64))
}

fn unpack_signatures(value: Cbor, implied_server: Option<&str>) -> Result<Json, WireError> {
    let Cbor::Array(entries) = value else {
        return Err(WireError::Shape("signatures"));
    };
    let mut signatures: std::collections::BTreeMap<String, Object> = Default::default();
    for entry in entries {
        let (server, key_id, signature) = unpack_signature_entry(entry, implied_server)?;
        let by_key = signatures.entry(server).or_default();
        if by_key
            .insert(key_id.clone(), Json::String(signature))
            .is_some()
        {
            return Err(WireError::DuplicateKey(key_id));
        }
    }
    Ok(Json::Object(
        signatures
            .into_iter()
            .map(|(server, by_key)| (server, Json::Object(by_key)))
            .collect(),
    ))
}

/// `[signature]` (the sender's server, `ed25519:1`), `[server, signature]` (`ed25519:1`) or
/// `[server, key id, signature]`.
fn unpack_signature_entry(
    entry: Cbor,
    implied_server: Option<&str>,
) -> Result<(String, String, String), WireError> {
    let shape = || WireError::Shape("signatures");
    let Cbor::Array(parts) = entry else {
        return Err(shape());
    };
    let (server, key_id, signature) = match <[Cbor; 3]>::try_from(parts) {
        Ok([server, Cbor::Text(key_id), signature]) => (Some(server), key_id, signature),
        Ok(_) => return Err(shape()),
        Err(parts) => match <[Cbor; 2]>::try_from(parts) {
            Ok([server, signature]) => (Some(server), DEFAULT_KEY_ID.to_owned(), signature),
            Err(parts) => match <[Cbor; 1]>::try_from(parts) {
                Ok([signature]) => (None, DEFAULT_KEY_ID.to_owned(), signature),
                Err(_) => return Err(shape()),
            },
        },
    };
    let server = match (server, implied_server) {
        (None, Some(implied)) => implied.to_owned(),
        (Some(Cbor::Text(t)), _) => t,
        (Some(Cbor::Bytes(key)), _) if key.len() == 32 => hex::encode(key),
        _ => return Err(shape()),
    };
    let signature = match signature {
        Cbor::Text(t) => t,
        Cbor::Bytes(bytes) => base64::encode(bytes),
        _ => return Err(shape()),
    };
    Ok((server, key_id, signature))
}

/// Key absent: the content hash, recomputed (unless `hashes` came verbatim as an extra because
/// it was not an object). Null: the event had no `hashes`. Bytes: a `sha256` that differs from
/// the content, as in a redacted event. A map: `hashes` verbatim.
fn restore_hashes(
    event: &mut Object,
    field: Option<Cbor>,
    content_hash: &dyn Fn(&Object) -> [u8; 32],
) -> Result<(), WireError> {
    if event.contains_key("hashes") {
        return match field {
            None => Ok(()),
            Some(_) => Err(WireError::DuplicateKey("hashes".into())),
        };
    }
    let sha256 = |hash: &[u8]| {
        Json::Object(Object::from_iter([(
            "sha256".to_owned(),
            Json::String(base64::encode(hash)),
        )]))
    };
    let hashes = match field {
        None => sha256(&content_hash(event)),
        Some(Cbor::Null) => return Ok(()),
        Some(Cbor::Bytes(hash)) if hash.len() == 32 => sha256(&hash),
        Some(map @ Cbor::Map(_)) => cbor_to_json(map, "hashes")?,
        Some(_) => return Err(WireError::Shape("hashes")),
    };
    event.insert("hashes".into(), hashes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoomVersion;
    use crate::canonical_json;
    use crate::signing::{ServerKey, hash_and_sign_event};
    use proptest::prelude::*;
    use serde_json::json;

    fn node_key() -> ServerKey {
        ServerKey::node(&[42; 32])
    }

    fn hash_id(sigil: char, byte: u8) -> String {
        format!("{sigil}{}", base64::encode_url_safe([byte; 32]))
    }

    /// A signed v12 text message between hex-named servers: one prev event, three auth events.
    pub(crate) fn typical_message() -> Object {
        let key = node_key();
        let mut event = json!({
            "type": "m.room.message", "room_id": hash_id('!', 1), "sender": format!("@alice:{}", key.server_name()),
            "origin_server_ts": 1_764_000_000_000u64, "depth": 1234, "prev_events": [hash_id('$', 2)],
            "auth_events": [hash_id('$', 3), hash_id('$', 4), hash_id('$', 5)],
            "content": {"msgtype": "m.text", "body": "Surfacing at 0600, all well ok"}
        })
        .as_object()
        .unwrap()
        .clone();
        hash_and_sign_event(RoomVersion::V12, &mut event, &key).unwrap();
        event
    }

    #[test]
    fn typical_message_round_trips_at_less_than_half_the_size() {
        let event = typical_message();
        let bytes = encode(&event);
        assert_eq!(decode(&bytes).unwrap(), event);
        let json_len = canonical_json::object_to_string(&event).len();
        assert!(
            bytes.len() * 2 <= json_len,
            "cbor {} json {}",
            bytes.len(),
            json_len
        );
    }

    #[test]
    fn unusual_shapes_round_trip() {
        let events = [
            json!({}),
            json!({"type": "custom.type", "room_id": "!old:example.org", "sender": "@bob:example.org",
                   "prev_events": ["$0:domain", hash_id('$', 9)], "hashes": {}, "signatures": {"x": {"k": "not base64!"}},
                   "depth": -1, "origin": "example.org", "extra": [1, {"a": null}]}),
            json!({"hashes": {"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "content": {"body": "redacted?"}}),
            json!({"hashes": {"sha256": "short"}, "signatures": {"s": {}}, "state_key": "@a:", "redacts": hash_id('$', 1)}),
            json!({"type": 5, "origin_server_ts": "x", "unsigned": {"age": 3}, "content": "not an object"}),
            json!({"hashes": null, "signatures": []}),
            json!({"sender": "@a:b.org", "signatures": {"b.org": {"ed25519:1": "AAAA", "ed25519:2": "BBBB"},
                   "c.org": {"ed25519:1": "CCCC", "x": "?"}, "d.org": {}}}),
            json!({"sender": "@a:b.org", "signatures": {"b.org": {"ed25519:2": "BBBB"}}}),
            json!({"hashes": {"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "other": "x"}}),
        ];
        for event in events {
            let event = event.as_object().unwrap().clone();
            assert_eq!(decode(&encode(&event)).unwrap(), event, "{event:?}");
        }
    }

    #[test]
    fn rejects_non_canonical_input() {
        let event = typical_message();
        let mut bytes = encode(&event);
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(WireError::NonCanonical));

        // The same event with its type spelled out instead of indexed.
        let mut fields = match pack(&event, &NoRefs, &|_| true) {
            Cbor::Map(fields) => fields,
            _ => unreachable!(),
        };
        fields[0].1 = Cbor::Text("m.room.message".into());
        let mut spelled = Vec::new();
        ciborium::ser::into_writer(&Cbor::Map(fields), &mut spelled).unwrap();
        assert_eq!(decode(&spelled), Err(WireError::NonCanonical));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let huge_array = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let huge_text = [
            0xa1, 0x09, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let deep = vec![0x81; 10_000];
        let float = [0xa1, 0x04, 0xf9, 0x3c, 0x00];
        let big_int = [
            0xa1, 0x04, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        for input in [
            &[][..],
            &[0xff],
            &huge_array,
            &huge_text,
            &deep,
            &float,
            &big_int,
            b"{\"json\":1}",
        ] {
            assert!(decode(input).is_err(), "{input:?}");
        }
        assert!(matches!(
            decode(&vec![0; MAX_WIRE_EVENT_BYTES + 1]),
            Err(WireError::TooLarge(_))
        ));
    }

    fn arb_event() -> impl Strategy<Value = Object> {
        let id = |sigil: char| {
            prop_oneof![
                any::<[u8; 32]>()
                    .prop_map(move |h| format!("{sigil}{}", base64::encode_url_safe(h))),
                ".*"
            ]
        };
        let user = prop_oneof![
            (any::<[u8; 32]>(), "[a-z]{1,8}").prop_map(|(k, l)| format!("@{l}:{}", hex::encode(k))),
            ".*"
        ];
        (
            prop::sample::select(EVENT_TYPES)
                .prop_map(str::to_owned)
                .boxed(),
            id('!'),
            user.clone(),
            prop::option::of(user),
            prop::collection::vec(id('$'), 0..4),
            crate::testing::arb_json(),
            any::<u64>().prop_map(|t| t % (1 << 53)),
            prop::option::of(crate::testing::arb_json()),
        )
            .prop_map(
                |(event_type, room_id, sender, state_key, prevs, content, ts, extra)| {
                    let mut event = json!({
                    "type": event_type, "room_id": room_id, "sender": sender, "prev_events": prevs,
                    "auth_events": [], "content": content, "origin_server_ts": ts, "depth": ts / 7,
                })
                .as_object()
                .unwrap()
                .clone();
                    if let Some(state_key) = state_key {
                        event.insert("state_key".into(), Json::String(state_key));
                    }
                    if let Some(extra) = extra {
                        event.insert("origin".into(), extra);
                    }
                    hash_and_sign_event(RoomVersion::V12, &mut event, &node_key()).unwrap();
                    event
                },
            )
    }

    /// A link that carried an event with these counters and nothing else worth referencing.
    struct After(Previous);

    impl EventRefs for After {
        fn reference(&self, _: &str) -> Option<u64> {
            None
        }

        fn resolve(&self, _: u64) -> Option<String> {
            None
        }

        fn previous(&self) -> Previous {
            self.0
        }
    }

    #[test]
    fn counters_close_to_the_previous_events_cost_a_few_bytes() {
        let mut event = typical_message();
        let ts = 1_795_651_260_123u64;
        event.insert("origin_server_ts".into(), json!(ts));
        event.insert("depth".into(), json!(5_000));
        let previous = After(Previous {
            origin_server_ts: Some(ts - 42_000),
            depth: Some(4_999),
        });
        let relative = encode_with(&event, &previous);
        assert_eq!(
            encode(&event).len() - relative.len(),
            8,
            "9+3 bytes become 3+1"
        );
        assert_eq!(decode_with(&relative, &previous).unwrap(), event);
        let earlier = After(Previous {
            origin_server_ts: Some(ts + 1),
            depth: Some(5_001),
        });
        let backwards = encode_with(&event, &earlier);
        assert_eq!(decode_with(&backwards, &earlier).unwrap(), event);
        let future = After(Previous {
            origin_server_ts: Some(MAX_SAFE_INTEGER as u64),
            depth: None,
        });
        assert!(matches!(
            decode_with(&relative, &future),
            Err(WireError::IntegerRange(_))
        ));
    }

    proptest! {
        #[test]
        fn relative_counters_round_trip(
            event in arb_event(),
            ts in proptest::option::of(0..=MAX_SAFE_INTEGER as u64),
            depth in proptest::option::of(0..=MAX_SAFE_INTEGER as u64),
        ) {
            let link = After(Previous { origin_server_ts: ts, depth });
            let decoded = decode_with(&encode_with(&event, &link), &link).unwrap();
            prop_assert_eq!(decoded, event);
        }

        #[test]
        fn encode_decode_is_identity(event in arb_event()) {
            let bytes = encode(&event);
            let decoded = decode(&bytes).unwrap();
            prop_assert_eq!(canonical_json::object_to_string(&decoded), canonical_json::object_to_string(&event));
        }

        #[test]
        fn arbitrary_json_objects_round_trip(value in crate::testing::arb_json()) {
            let object = match value { Json::Object(o) => o, other => Object::from_iter([("x".to_owned(), other)]) };
            prop_assert_eq!(decode(&encode(&object)).unwrap(), object);
        }

        #[test]
        fn mutated_wire_bytes_never_panic(event in arb_event(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut bytes = encode(&event);
            for (position, byte) in flips {
                let index = position % bytes.len();
                bytes[index] = byte;
            }
            if let Ok(decoded) = decode(&bytes) {
                prop_assert_eq!(encode(&decoded), bytes);
            }
        }
    }
}
