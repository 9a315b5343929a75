//! Rules 6 to 9: membership, the third-party invite event, required power levels, `@` state keys.

use serde_json::json;

use super::support::{ALICE, BOB, Room};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::{AuthError, Power};

#[test]
fn only_joined_members_send_events() {
    for membership in ["invite", "leave", "knock", "ban"] {
        let mut room = Room::new(V11);
        room.set_membership(BOB, membership);
        let message = room.event("m.room.message", BOB).build();
        assert_eq!(
            room.check(&message),
            Err(AuthError::SenderNotJoined(BOB.into())),
            "{membership}"
        );
    }
    let mut room = Room::new(V11);
    room.set_membership(BOB, "join");
    let message = room.event("m.room.message", BOB).build();
    assert_eq!(room.check(&message), Ok(()));
}

#[test]
fn third_party_invite_events_need_the_invite_level() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join")
            .set_power_levels(json!({ "invite": 10, "users": { BOB: 10 } }));
        let allowed = room
            .event("m.room.third_party_invite", BOB)
            .state_key("t")
            .build();
        assert_eq!(room.check(&allowed), Ok(()), "{version}");
        room.set_power_levels(json!({ "invite": 11, "users": { BOB: 10 } }));
        let refused = room
            .event("m.room.third_party_invite", BOB)
            .state_key("t")
            .build();
        let expected = AuthError::ThirdPartyInviteEventNeedsInviteLevel {
            required: Power::Level(11),
            actual: Power::Level(10),
        };
        assert_eq!(room.check(&refused), Err(expected));
    }
}

#[test]
fn without_power_levels_state_needs_50_and_messages_0() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join");
        let message = room.event("m.room.message", BOB).build();
        assert_eq!(room.check(&message), Ok(()), "{version}");
        let topic = room
            .state_event("m.room.topic", BOB, json!({ "topic": "t" }))
            .build();
        let expected = AuthError::InsufficientPower {
            event_type: "m.room.topic".into(),
            required: Power::Level(50),
            actual: Power::Level(0),
        };
        assert_eq!(room.check(&topic), Err(expected), "{version}");
        let by_creator = room
            .state_event("m.room.topic", ALICE, json!({ "topic": "t" }))
            .build();
        assert_eq!(room.check(&by_creator), Ok(()), "{version}");
    }
}

#[test]
fn events_overrides_the_defaults() {
    let mut room = Room::new(V10);
    room.set_membership(BOB, "join");
    room.set_power_levels(
        json!({ "users": { ALICE: 100 }, "events": { "m.room.topic": 0, "m.room.message": 20 } }),
    );
    let topic = room.state_event("m.room.topic", BOB, json!({})).build();
    assert_eq!(room.check(&topic), Ok(()));
    let message = room.event("m.room.message", BOB).build();
    assert!(matches!(
        room.check(&message),
        Err(AuthError::InsufficientPower { .. })
    ));
}

#[test]
fn events_default_and_state_default_apply_when_set() {
    let mut room = Room::new(V11);
    room.set_membership(BOB, "join");
    room.set_power_levels(json!({ "users": { BOB: 5 }, "events_default": 6, "state_default": 4 }));
    let message = room.event("m.room.message", BOB).build();
    assert!(matches!(
        room.check(&message),
        Err(AuthError::InsufficientPower { .. })
    ));
    let state = room
        .state_event("org.example.thing", BOB, json!({}))
        .build();
    assert_eq!(room.check(&state), Ok(()));
}

#[test]
fn redactions_need_only_their_event_level_not_the_redact_level() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join")
            .set_power_levels(json!({ "redact": 50 }));
        let redaction = room
            .event("m.room.redaction", BOB)
            .content(json!({ "redacts": "$x" }))
            .build();
        assert_eq!(room.check(&redaction), Ok(()), "{version}");
        room.set_power_levels(json!({ "events": { "m.room.redaction": 1 } }));
        let refused = room
            .event("m.room.redaction", BOB)
            .content(json!({ "redacts": "$x" }))
            .build();
        assert!(matches!(
            room.check(&refused),
            Err(AuthError::InsufficientPower { .. })
        ));
    }
}

#[test]
fn at_state_keys_belong_to_their_user() {
    for version in [V10, V11, V12] {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join")
            .set_power_levels(json!({ "state_default": 0 }));
        let own = room
            .event("org.example.profile", BOB)
            .state_key(BOB)
            .build();
        assert_eq!(room.check(&own), Ok(()), "{version}");
        let others = room
            .event("org.example.profile", BOB)
            .state_key(ALICE)
            .build();
        assert!(matches!(
            room.check(&others),
            Err(AuthError::StateKeyOfOtherUser { .. })
        ));
        let creators_too = room
            .event("org.example.profile", ALICE)
            .state_key(BOB)
            .build();
        assert!(matches!(
            room.check(&creators_too),
            Err(AuthError::StateKeyOfOtherUser { .. })
        ));
    }
}

#[test]
fn malformed_current_power_levels_reject_rather_than_guess() {
    let mut room = Room::new(V11);
    room.set_power_levels(json!({ "events_default": "0" }));
    let message = room.event("m.room.message", ALICE).build();
    assert!(matches!(
        room.check(&message),
        Err(AuthError::MalformedState(_))
    ));
}
