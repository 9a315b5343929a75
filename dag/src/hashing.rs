//! Content hashes, reference hashes, event IDs and v12 room IDs.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::RoomVersion;
use crate::base64;
use crate::canonical_json::{self, Object};
use crate::redaction::redact;

/// SHA-256 of the event without `unsigned`, `signatures` and `hashes`: what `hashes.sha256`
/// must hold. It covers the full content, so a redacted event no longer matches it.
pub fn content_hash(event: &Object) -> [u8; 32] {
    let mut stripped = event.clone();
    for key in ["unsigned", "signatures", "hashes"] {
        stripped.remove(key);
    }
    sha256(&canonical_json::object_to_string(&stripped))
}

/// SHA-256 of the redacted event without `signatures` and `unsigned`: the event's identity.
/// It survives redaction, so an event keeps its ID when its content is removed.
pub fn reference_hash(version: RoomVersion, event: &Object) -> [u8; 32] {
    sha256(&redacted_canonical(version, event))
}

/// The canonical JSON of the redacted event without `signatures`, `unsigned` and `age_ts`:
/// what the reference hash hashes. Redaction keeps neither `unsigned` nor `age_ts`, so these
/// are also exactly the bytes an event signature signs (the redacted event without
/// `signatures` and `unsigned`), and a receiver serialises them once for both.
pub fn redacted_canonical(version: RoomVersion, event: &Object) -> String {
    let mut redacted = redact(version, event);
    for key in ["signatures", "unsigned", "age_ts"] {
        redacted.remove(key);
    }
    canonical_json::object_to_string(&redacted)
}

/// `$` followed by the URL-safe unpadded base64 reference hash (room versions 4 and later).
pub fn event_id(version: RoomVersion, event: &Object) -> String {
    event_id_of_redacted(&redacted_canonical(version, event))
}

/// The event ID of the event whose [`redacted_canonical`] form is `redacted`.
pub fn event_id_of_redacted(redacted: &str) -> String {
    format!("${}", base64::encode_url_safe(sha256(redacted)))
}

/// A v12 room ID: the create event's reference hash with the `!` sigil.
pub fn room_id_from_create(version: RoomVersion, create_event: &Object) -> String {
    format!(
        "!{}",
        base64::encode_url_safe(reference_hash(version, create_event))
    )
}

/// Sets `hashes.sha256` to the event's content hash, keeping any other hash entries.
pub fn add_content_hash(event: &mut Object) {
    let hash = base64::encode(content_hash(event));
    let hashes = event
        .entry("hashes")
        .or_insert_with(|| Value::Object(Object::new()));
    if !hashes.is_object() {
        *hashes = Value::Object(Object::new());
    }
    if let Value::Object(hashes) = hashes {
        hashes.insert("sha256".into(), Value::String(hash));
    }
}

/// Whether `hashes.sha256` holds the event's content hash.
pub fn content_hash_matches(event: &Object) -> bool {
    let claimed = event
        .get("hashes")
        .and_then(|h| h.get("sha256"))
        .and_then(Value::as_str);
    claimed
        .and_then(|c| base64::decode(c).ok())
        .is_some_and(|c| c == content_hash(event))
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn content_hash_ignores_unsigned_signatures_and_hashes() {
        let a = object(json!({"type": "X", "content": {"a": 1}}));
        let b = object(
            json!({"type": "X", "content": {"a": 1}, "unsigned": {"age": 5},
                              "signatures": {"s": {}}, "hashes": {"sha256": "zzz"}}),
        );
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = object(json!({"type": "X", "content": {"a": 2}}));
        assert_ne!(content_hash(&a), content_hash(&c));
    }

    #[test]
    fn reference_hash_survives_redaction_but_not_protected_changes() {
        let event = object(
            json!({"type": "m.room.message", "content": {"body": "x"}, "depth": 1,
                                  "hashes": {"sha256": "h"}, "signatures": {"s": {}}}),
        );
        let redacted = redact(RoomVersion::V11, &event);
        assert_eq!(
            event_id(RoomVersion::V11, &event),
            event_id(RoomVersion::V11, &redacted)
        );
        let mut deeper = event.clone();
        deeper.insert("depth".into(), json!(2));
        assert_ne!(
            event_id(RoomVersion::V11, &event),
            event_id(RoomVersion::V11, &deeper)
        );
    }

    #[test]
    fn origin_is_covered_only_in_v10() {
        let event = object(json!({"type": "X", "content": {}, "origin": "a"}));
        let mut other = event.clone();
        other.insert("origin".into(), json!("b"));
        assert_ne!(
            event_id(RoomVersion::V10, &event),
            event_id(RoomVersion::V10, &other)
        );
        assert_eq!(
            event_id(RoomVersion::V11, &event),
            event_id(RoomVersion::V11, &other)
        );
    }

    #[test]
    fn ids_are_url_safe_and_unpadded() {
        let event = object(json!({"type": "m.room.create", "content": {"room_version": "12"}}));
        let room_id = room_id_from_create(RoomVersion::V12, &event);
        let event_id = event_id(RoomVersion::V12, &event);
        assert_eq!(room_id.len(), 44);
        assert_eq!(&room_id[1..], &event_id[1..]);
        assert!(!room_id.contains(['+', '/', '=']));
    }

    #[test]
    fn add_and_check_content_hash() {
        let mut event = object(json!({"type": "X", "content": {"body": "a"}}));
        assert!(!content_hash_matches(&event));
        add_content_hash(&mut event);
        assert!(content_hash_matches(&event));
        event.insert("content".into(), json!({"body": "b"}));
        assert!(!content_hash_matches(&event));
    }
}
