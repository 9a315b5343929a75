//! Rule 5.4.1: invites redeeming an `m.room.third_party_invite`.

use serde_json::{Value, json};

use super::support::{ALICE, BOB, CAROL, Room, TestEvent};
use crate::RoomVersion;
use crate::auth::AuthError;
use crate::base64;
use crate::signing::{ServerKey, sign_json};

const TOKEN: &str = "abc123";

fn identity_server_key(seed_byte: u8) -> ServerKey {
    ServerKey::from_seed("id.example", "ed25519:0", &[seed_byte; 32])
}

fn public_key(key: &ServerKey) -> String {
    base64::encode(key.verifying_key().to_bytes())
}

/// `signed` for BOB and TOKEN, signed by `key`.
fn signed_by(key: &ServerKey) -> Value {
    let mut signed = json!({ "mxid": BOB, "token": TOKEN, "sender": ALICE });
    if let Some(object) = signed.as_object_mut() {
        sign_json(object, key).expect("signing a fresh object");
    }
    signed
}

/// A room where ALICE has issued a third-party invite whose keys are given by `content`.
fn room_with_pending_invite(version: RoomVersion, content: Value) -> Room {
    let mut room = Room::new(version);
    let pending = room
        .event("m.room.third_party_invite", ALICE)
        .state_key(TOKEN)
        .content(content)
        .build();
    room.add(pending);
    room
}

fn redeem(room: &mut Room, sender: &str, third_party_invite: Value) -> TestEvent {
    let content = json!({ "membership": "invite", "third_party_invite": third_party_invite });
    room.member(sender, BOB, "invite").content(content).build()
}

#[test]
fn a_signed_invite_matching_the_public_key_is_allowed() {
    let key = identity_server_key(1);
    for version in RoomVersion::ALL {
        let mut room = room_with_pending_invite(version, json!({ "public_key": public_key(&key) }));
        let invite = redeem(&mut room, ALICE, json!({ "signed": signed_by(&key) }));
        assert_eq!(room.check(&invite), Ok(()), "{version}");
    }
}

#[test]
fn keys_listed_in_public_keys_also_match() {
    let key = identity_server_key(1);
    let other = identity_server_key(2);
    let content = json!({
        "public_key": public_key(&other),
        "public_keys": [{ "public_key": public_key(&other) }, { "public_key": public_key(&key) }],
    });
    let mut room = room_with_pending_invite(RoomVersion::V12, content);
    let invite = redeem(&mut room, ALICE, json!({ "signed": signed_by(&key) }));
    assert_eq!(room.check(&invite), Ok(()));
}

#[test]
fn a_signature_by_another_key_is_rejected() {
    let key = identity_server_key(1);
    let mut room =
        room_with_pending_invite(RoomVersion::V11, json!({ "public_key": public_key(&key) }));
    let invite = redeem(
        &mut room,
        ALICE,
        json!({ "signed": signed_by(&identity_server_key(2)) }),
    );
    assert_eq!(
        room.check(&invite),
        Err(AuthError::ThirdPartyInviteBadSignature)
    );
}

#[test]
fn a_tampered_signed_object_is_rejected() {
    let key = identity_server_key(1);
    let mut room =
        room_with_pending_invite(RoomVersion::V11, json!({ "public_key": public_key(&key) }));
    let mut signed = signed_by(&key);
    signed["sender"] = json!(CAROL);
    let invite = redeem(&mut room, ALICE, json!({ "signed": signed }));
    assert_eq!(
        room.check(&invite),
        Err(AuthError::ThirdPartyInviteBadSignature)
    );
}

#[test]
fn the_signed_block_must_be_complete_and_name_the_target() {
    let key = identity_server_key(1);
    let mut room =
        room_with_pending_invite(RoomVersion::V10, json!({ "public_key": public_key(&key) }));
    let no_signed = redeem(&mut room, ALICE, json!({}));
    assert_eq!(
        room.check(&no_signed),
        Err(AuthError::ThirdPartyInviteMissingSigned)
    );
    let no_token = redeem(&mut room, ALICE, json!({ "signed": { "mxid": BOB } }));
    assert_eq!(
        room.check(&no_token),
        Err(AuthError::ThirdPartyInviteMissingMxidOrToken)
    );
    let other_mxid = redeem(
        &mut room,
        ALICE,
        json!({ "signed": { "mxid": CAROL, "token": TOKEN } }),
    );
    assert!(matches!(
        room.check(&other_mxid),
        Err(AuthError::ThirdPartyInviteMxidMismatch { .. })
    ));
    let unknown_token = redeem(
        &mut room,
        ALICE,
        json!({ "signed": { "mxid": BOB, "token": "nope" } }),
    );
    assert_eq!(
        room.check(&unknown_token),
        Err(AuthError::ThirdPartyInviteNotFound("nope".into()))
    );
}

#[test]
fn only_the_issuer_of_the_third_party_invite_may_redeem_it() {
    let key = identity_server_key(1);
    let mut room =
        room_with_pending_invite(RoomVersion::V11, json!({ "public_key": public_key(&key) }));
    room.set_membership(CAROL, "join");
    let invite = redeem(&mut room, CAROL, json!({ "signed": signed_by(&key) }));
    assert!(matches!(
        room.check(&invite),
        Err(AuthError::ThirdPartyInviteSenderMismatch { .. })
    ));
}

#[test]
fn a_banned_target_cannot_be_invited_by_third_party_invite() {
    let key = identity_server_key(1);
    let mut room =
        room_with_pending_invite(RoomVersion::V12, json!({ "public_key": public_key(&key) }));
    room.set_membership(BOB, "ban");
    let invite = redeem(&mut room, ALICE, json!({ "signed": signed_by(&key) }));
    assert_eq!(
        room.check(&invite),
        Err(AuthError::ThirdPartyInviteTargetBanned(BOB.into()))
    );
}

#[test]
fn url_safe_public_keys_are_accepted() {
    let key = identity_server_key(3);
    let url_safe = base64::encode_url_safe(key.verifying_key().to_bytes());
    let mut room = room_with_pending_invite(RoomVersion::V11, json!({ "public_key": url_safe }));
    let invite = redeem(&mut room, ALICE, json!({ "signed": signed_by(&key) }));
    assert_eq!(room.check(&invite), Ok(()));
}

#[test]
fn signatures_under_other_algorithms_are_not_tried() {
    let key = ServerKey::from_seed("id.example", "curve25519:0", &[4; 32]);
    let mut room =
        room_with_pending_invite(RoomVersion::V11, json!({ "public_key": public_key(&key) }));
    let invite = redeem(&mut room, ALICE, json!({ "signed": signed_by(&key) }));
    assert_eq!(
        room.check(&invite),
        Err(AuthError::ThirdPartyInviteBadSignature)
    );
}
