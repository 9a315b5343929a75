//! Rule 5.4.1: an invite that redeems a third-party invite (`content.third_party_invite`).

use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::error::AuthError;
use super::state::{RoomState, StateLookup, THIRD_PARTY_INVITE};
use crate::RoomEvent;
use crate::base64;
use crate::canonical_json::Object;
use crate::signing::verify_json;

/// Signatures on `signed` are ed25519; other algorithms are skipped, as other servers do.
const ED25519_KEY_ID_PREFIX: &str = "ed25519:";

/// Rules 5.4.1.1 to 5.4.1.8. Passing them allows the invite outright: the inviter need not be
/// joined or hold the invite level, because the identity server's signature vouches for it.
pub fn check_third_party_invite<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    invite: &E,
    target: &str,
    third_party_invite: &Value,
) -> Result<(), AuthError> {
    if room.membership(target) == "ban" {
        return Err(AuthError::ThirdPartyInviteTargetBanned(target.to_owned()));
    }
    let signed = third_party_invite
        .get("signed")
        .ok_or(AuthError::ThirdPartyInviteMissingSigned)?;
    let field = |name| signed.get(name).and_then(Value::as_str);
    let (Some(mxid), Some(token)) = (field("mxid"), field("token")) else {
        return Err(AuthError::ThirdPartyInviteMissingMxidOrToken);
    };
    if mxid != target {
        return Err(AuthError::ThirdPartyInviteMxidMismatch {
            mxid: mxid.to_owned(),
            state_key: target.to_owned(),
        });
    }
    let Some(pending) = room.get(THIRD_PARTY_INVITE, token) else {
        return Err(AuthError::ThirdPartyInviteNotFound(token.to_owned()));
    };
    if pending.sender() != invite.sender() {
        return Err(AuthError::ThirdPartyInviteSenderMismatch {
            sender: invite.sender().to_owned(),
        });
    }
    match signed.as_object() {
        Some(signed) if is_signed_by_any(signed, &public_keys(pending.content())) => Ok(()),
        _ => Err(AuthError::ThirdPartyInviteBadSignature),
    }
}

/// The keys of an `m.room.third_party_invite`: `public_key` and every `public_keys[].public_key`.
/// Keys that do not decode cannot match a signature and are left out.
fn public_keys(content: &Value) -> Vec<VerifyingKey> {
    let single = content.get("public_key");
    let listed = content
        .get("public_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("public_key"));
    single
        .into_iter()
        .chain(listed)
        .filter_map(Value::as_str)
        .filter_map(decode_public_key)
        .collect()
}

/// Identity servers publish keys in standard or URL-safe base64, padded or not.
fn decode_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes = base64::decode(text)
        .or_else(|_| base64::decode_url_safe(text))
        .ok()?;
    VerifyingKey::from_bytes(&bytes.try_into().ok()?).ok()
}

/// Rule 5.4.1.7: any ed25519 signature in `signed`, from any server, verifies with any key.
fn is_signed_by_any(signed: &Object, keys: &[VerifyingKey]) -> bool {
    let Some(signatures) = signed.get("signatures").and_then(Value::as_object) else {
        return false;
    };
    signatures.iter().any(|(server, by_key_id)| {
        by_key_id.as_object().is_some_and(|by_key_id| {
            by_key_id
                .keys()
                .filter(|key_id| key_id.starts_with(ED25519_KEY_ID_PREFIX))
                .any(|key_id| {
                    keys.iter()
                        .any(|key| verify_json(signed, server, key_id, key).is_ok())
                })
        })
    })
}
