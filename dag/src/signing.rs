//! ed25519 signatures on JSON objects and on events (appendices, "Signing JSON"; server-server
//! API, "Signing events").
//!
//! Verification keeps two outcomes apart, as the spec requires: a bad signature means the
//! event is rejected; a good signature with a content-hash mismatch means the event is genuine
//! but was altered or redacted on the way, and must be used in its redacted form.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::Value;

use crate::RoomVersion;
use crate::base64;
use crate::canonical_json::{self, Object};
use crate::hashing::{add_content_hash, content_hash_matches};
use crate::redaction::redact;

/// A server's signing key together with the names it signs under.
pub struct ServerKey {
    server_name: String,
    key_id: String,
    signing_key: SigningKey,
}

impl ServerKey {
    pub fn from_seed(
        server_name: impl Into<String>,
        key_id: impl Into<String>,
        seed: &[u8; 32],
    ) -> Self {
        ServerKey {
            server_name: server_name.into(),
            key_id: key_id.into(),
            signing_key: SigningKey::from_bytes(seed),
        }
    }

    /// A Flotilla node's key: its server name is the hex of the public key, its key ID
    /// `ed25519:1`, so a server name is enough to check the node's signatures.
    pub fn node(seed: &[u8; 32]) -> Self {
        let signing_key = SigningKey::from_bytes(seed);
        let server_name = hex::encode(signing_key.verifying_key().as_bytes());
        ServerKey {
            server_name,
            key_id: crate::pdu::NODE_KEY_ID.to_owned(),
            signing_key,
        }
    }

    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }
}

/// Reads a 32-byte ed25519 seed from base64.
pub fn seed_from_base64(text: &str) -> Result<[u8; 32], SignatureError> {
    let bytes = base64::decode(text.trim()).map_err(|_| SignatureError::InvalidKey)?;
    bytes.try_into().map_err(|_| SignatureError::InvalidKey)
}

/// Reads a 32-byte ed25519 public key from base64.
pub fn verifying_key_from_base64(text: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes: [u8; 32] = base64::decode(text.trim())
        .map_err(|_| SignatureError::InvalidKey)?
        .try_into()
        .map_err(|_| SignatureError::InvalidKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| SignatureError::InvalidKey)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature from {0}")]
    MissingSignature(String),
    #[error("no signature from {server} with key {key_id}")]
    MissingKey { server: String, key_id: String },
    #[error("`signatures` is not an object of objects of strings")]
    MalformedSignatures,
    #[error("signature is not valid base64 of 64 bytes")]
    MalformedSignature,
    #[error("signature does not verify")]
    BadSignature,
    #[error("key is not valid base64 of a 32-byte ed25519 key")]
    InvalidKey,
}

/// Signs `object` in place: the canonical form without `signatures` and `unsigned` is signed
/// and the signature added under `signatures.<server>.<key id>`.
pub fn sign_json(object: &mut Object, key: &ServerKey) -> Result<(), SignatureError> {
    let mut signatures = match object.remove("signatures") {
        None => Object::new(),
        Some(Value::Object(signatures)) => signatures,
        Some(_) => return Err(SignatureError::MalformedSignatures),
    };
    let unsigned = object.remove("unsigned");
    let signature = key
        .signing_key
        .sign(canonical_json::object_to_string(object).as_bytes());
    let entry = signatures
        .entry(key.server_name.clone())
        .or_insert_with(|| Value::Object(Object::new()));
    let Value::Object(server_signatures) = entry else {
        return Err(SignatureError::MalformedSignatures);
    };
    server_signatures.insert(
        key.key_id.clone(),
        Value::String(base64::encode(signature.to_bytes())),
    );
    object.insert("signatures".into(), Value::Object(signatures));
    if let Some(unsigned) = unsigned {
        object.insert("unsigned".into(), unsigned);
    }
    Ok(())
}

/// Checks that `server` signed `object` with `key_id`, whose public key is `public_key`.
pub fn verify_json(
    object: &Object,
    server: &str,
    key_id: &str,
    public_key: &VerifyingKey,
) -> Result<(), SignatureError> {
    let signature = signature_bytes(object, server, key_id)?;
    let mut signed = object.clone();
    signed.remove("signatures");
    signed.remove("unsigned");
    let message = canonical_json::object_to_string(&signed);
    Ed25519.verify(public_key.as_bytes(), message.as_bytes(), &signature)
}

/// Checks ed25519 signatures, strictly (as [`VerifyingKey::verify_strict`]). Receipt of an event
/// takes one as a parameter so that a driver may supply its own; every implementation must give
/// exactly the answers of [`Ed25519`]. The simulator's remembers verdicts across the nodes it
/// runs in one process (see `simulations::verdicts`).
pub trait SignatureCheck {
    /// Whether `signature` over `message` verifies under the ed25519 `public_key`:
    /// [`SignatureError::InvalidKey`] if the key is not a curve point,
    /// [`SignatureError::BadSignature`] if the signature does not verify.
    fn verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError>;

    /// Starts checking every signature `requests` yields, if this check can answer many faster
    /// than one by one (a driver may verify them on other threads while the caller stores the
    /// events before them), and returns where the answers, those of
    /// [`SignatureCheck::verify`], come out in order. `None`, the default, if not: then
    /// `requests` is not consumed and callers ask one at a time.
    fn verify_all(
        &self,
        requests: &mut dyn Iterator<Item = SignatureRequest>,
    ) -> Option<Box<dyn PendingVerdicts>> {
        let _ = requests;
        None
    }
}

/// One question for [`SignatureCheck::verify_all`].
#[derive(Debug, Clone)]
pub struct SignatureRequest {
    pub public_key: [u8; 32],
    pub message: Vec<u8>,
    pub signature: [u8; 64],
}

/// The answers to a [`SignatureCheck::verify_all`], in the order of its requests.
pub trait PendingVerdicts {
    /// The next answer, waited for if it is not ready yet; `None` after the last.
    fn next_verdict(&mut self) -> Option<Result<(), SignatureError>>;
}

/// Verifies every signature it is asked about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ed25519;

impl SignatureCheck for Ed25519 {
    fn verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| SignatureError::InvalidKey)?;
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .map_err(|_| SignatureError::BadSignature)
    }
}

/// Checks that `server` signed, with `key_id` and the ed25519 `public_key`, the object whose
/// signed bytes (canonical JSON without `signatures` and `unsigned`) are `message`; `object`
/// supplies the signatures.
pub fn verify_signed_bytes(
    object: &Object,
    message: &[u8],
    server: &str,
    key_id: &str,
    public_key: &[u8; 32],
    check: &dyn SignatureCheck,
) -> Result<(), SignatureError> {
    let signature = signature_bytes(object, server, key_id)?;
    check.verify(public_key, message, &signature)
}

/// The signature `server` made with `key_id` on `object`, as bytes.
pub fn signature_bytes(
    object: &Object,
    server: &str,
    key_id: &str,
) -> Result<[u8; 64], SignatureError> {
    base64::decode(signature_of(object, server, key_id)?)
        .map_err(|_| SignatureError::MalformedSignature)?
        .try_into()
        .map_err(|_| SignatureError::MalformedSignature)
}

fn signature_of<'a>(
    object: &'a Object,
    server: &str,
    key_id: &str,
) -> Result<&'a str, SignatureError> {
    let signatures = match object.get("signatures") {
        None => return Err(SignatureError::MissingSignature(server.to_owned())),
        Some(Value::Object(signatures)) => signatures,
        Some(_) => return Err(SignatureError::MalformedSignatures),
    };
    let by_server = match signatures.get(server) {
        None => return Err(SignatureError::MissingSignature(server.to_owned())),
        Some(Value::Object(by_server)) => by_server,
        Some(_) => return Err(SignatureError::MalformedSignatures),
    };
    match by_server.get(key_id) {
        None => Err(SignatureError::MissingKey {
            server: server.to_owned(),
            key_id: key_id.to_owned(),
        }),
        Some(Value::String(signature)) => Ok(signature),
        Some(_) => Err(SignatureError::MalformedSignatures),
    }
}

/// Adds the content hash, then signs the redacted event and copies the signature over, so the
/// signature stays valid when the event is later redacted.
pub fn hash_and_sign_event(
    version: RoomVersion,
    event: &mut Object,
    key: &ServerKey,
) -> Result<(), SignatureError> {
    add_content_hash(event);
    let mut redacted = redact(version, event);
    sign_json(&mut redacted, key)?;
    let signatures = redacted
        .remove("signatures")
        .unwrap_or(Value::Object(Object::new()));
    event.insert("signatures".into(), signatures);
    Ok(())
}

/// What verifying an event's content hash found, once its signature is known to be good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHash {
    Matches,
    /// The event is authentic but its content was changed: use its redacted form.
    Mismatch,
}

/// Verifies the signature of `server` over the redacted event, then its content hash.
pub fn verify_event(
    version: RoomVersion,
    event: &Object,
    server: &str,
    key_id: &str,
    public_key: &VerifyingKey,
) -> Result<ContentHash, SignatureError> {
    verify_json(&redact(version, event), server, key_id, public_key)?;
    Ok(if content_hash_matches(event) {
        ContentHash::Matches
    } else {
        ContentHash::Mismatch
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn spec_key() -> ServerKey {
        let seed = seed_from_base64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap();
        ServerKey::from_seed("domain", "ed25519:1", &seed)
    }

    fn object(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn spec_json_signing_vectors() {
        let key = spec_key();
        let mut empty = Object::new();
        sign_json(&mut empty, &key).unwrap();
        assert_eq!(
            Value::Object(empty.clone()),
            json!({"signatures": {"domain": {"ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}})
        );
        verify_json(&empty, "domain", "ed25519:1", &key.verifying_key()).unwrap();

        let mut data = object(json!({"one": 1, "two": "Two"}));
        sign_json(&mut data, &key).unwrap();
        assert_eq!(
            Value::Object(data),
            json!({"one": 1, "two": "Two", "signatures": {"domain": {"ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}}})
        );
    }

    #[test]
    fn spec_event_signing_vectors() {
        let key = spec_key();
        let mut minimal = object(json!({
            "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
            "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [],
            "depth": 3, "unsigned": {"age_ts": 1000000}
        }));
        hash_and_sign_event(RoomVersion::V10, &mut minimal, &key).unwrap();
        assert_eq!(
            minimal["hashes"],
            json!({"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"})
        );
        assert_eq!(
            minimal["signatures"],
            json!({"domain": {"ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}})
        );
        assert_eq!(minimal["unsigned"], json!({"age_ts": 1000000}));

        let mut message = object(json!({
            "content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
            "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
            "signatures": {}, "unsigned": {"age_ts": 1000000}
        }));
        hash_and_sign_event(RoomVersion::V10, &mut message, &key).unwrap();
        assert_eq!(
            message["hashes"],
            json!({"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"})
        );
        assert_eq!(
            message["signatures"],
            json!({"domain": {"ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}})
        );
        let verified = verify_event(
            RoomVersion::V10,
            &message,
            "domain",
            "ed25519:1",
            &key.verifying_key(),
        );
        assert_eq!(verified, Ok(ContentHash::Matches));
    }

    fn signed_message(version: RoomVersion) -> (Object, ServerKey) {
        let key = spec_key();
        let mut event = object(json!({
            "type": "m.room.message", "content": {"body": "hello", "msgtype": "m.text"}, "room_id": "!r:domain",
            "sender": "@u:domain", "origin_server_ts": 5, "depth": 4, "prev_events": [], "auth_events": []
        }));
        hash_and_sign_event(version, &mut event, &key).unwrap();
        (event, key)
    }

    #[test]
    fn modified_protected_field_fails_signature() {
        for version in RoomVersion::ALL {
            let (mut event, key) = signed_message(version);
            event.insert("depth".into(), json!(5));
            let result = verify_event(version, &event, "domain", "ed25519:1", &key.verifying_key());
            assert_eq!(result, Err(SignatureError::BadSignature));
        }
    }

    #[test]
    fn changed_body_is_a_content_hash_mismatch_not_a_bad_signature() {
        for version in RoomVersion::ALL {
            let (mut event, key) = signed_message(version);
            event.insert(
                "content".into(),
                json!({"body": "changed", "msgtype": "m.text"}),
            );
            let result = verify_event(version, &event, "domain", "ed25519:1", &key.verifying_key());
            assert_eq!(result, Ok(ContentHash::Mismatch));
        }
    }

    #[test]
    fn altered_hash_is_a_bad_signature() {
        let (mut event, key) = signed_message(RoomVersion::V12);
        event.insert(
            "hashes".into(),
            json!({"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        );
        let result = verify_event(
            RoomVersion::V12,
            &event,
            "domain",
            "ed25519:1",
            &key.verifying_key(),
        );
        assert_eq!(result, Err(SignatureError::BadSignature));
    }

    #[test]
    fn redacted_event_still_verifies() {
        let (event, key) = signed_message(RoomVersion::V11);
        let redacted = redact(RoomVersion::V11, &event);
        let result = verify_event(
            RoomVersion::V11,
            &redacted,
            "domain",
            "ed25519:1",
            &key.verifying_key(),
        );
        assert_eq!(result, Ok(ContentHash::Mismatch));
    }

    #[test]
    fn missing_and_malformed_signatures_are_errors() {
        let (event, key) = signed_message(RoomVersion::V12);
        let public = key.verifying_key();
        assert_eq!(
            verify_event(RoomVersion::V12, &event, "other", "ed25519:1", &public),
            Err(SignatureError::MissingSignature("other".into()))
        );
        assert!(matches!(
            verify_event(RoomVersion::V12, &event, "domain", "ed25519:2", &public),
            Err(SignatureError::MissingKey { .. })
        ));
        let mut bad = event.clone();
        bad.insert("signatures".into(), json!({"domain": {"ed25519:1": "!!"}}));
        assert_eq!(
            verify_event(RoomVersion::V12, &bad, "domain", "ed25519:1", &public),
            Err(SignatureError::MalformedSignature)
        );
        bad.insert("signatures".into(), json!("x"));
        assert_eq!(
            verify_event(RoomVersion::V12, &bad, "domain", "ed25519:1", &public),
            Err(SignatureError::MalformedSignatures)
        );
    }
}
