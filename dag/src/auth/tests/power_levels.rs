//! Rule 10: changes to `m.room.power_levels`.

use serde_json::{Value, json};

use super::support::{ALICE, BOB, CAROL, Room};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::{AuthError, Power};

/// A room where BOB (joined) has `bob_level` and CAROL (joined) has 50, with ALICE at 100 before
/// v12 (in v12 she is a creator and may not be listed).
fn room_with_levels(version: RoomVersion, bob_level: i64, extra: Value) -> Room {
    let mut room = Room::new(version);
    room.set_membership(BOB, "join")
        .set_membership(CAROL, "join");
    room.set_power_levels(levels(version, bob_level, extra));
    room
}

fn levels(version: RoomVersion, bob_level: i64, extra: Value) -> Value {
    let mut users = json!({ BOB: bob_level, CAROL: 50 });
    if version != V12 {
        users[ALICE] = json!(100);
    }
    let mut content = json!({ "users": users });
    if let (Some(content), Some(extra)) = (content.as_object_mut(), extra.as_object()) {
        content.extend(extra.clone());
    }
    content
}

fn change(room: &mut Room, sender: &str, content: Value) -> Result<(), AuthError> {
    let event = room
        .state_event("m.room.power_levels", sender, content)
        .build();
    room.check(&event)
}

#[test]
fn string_and_float_values_are_rejected_in_every_version() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        for field in [
            "users_default",
            "events_default",
            "state_default",
            "ban",
            "redact",
            "kick",
            "invite",
        ] {
            let result = change(&mut room, ALICE, json!({ field: "50" }));
            assert_eq!(
                result,
                Err(AuthError::PowerLevelNotInteger(field.into())),
                "{version} {field}"
            );
            let result = change(&mut room, ALICE, json!({ field: 50.5 }));
            assert_eq!(result, Err(AuthError::PowerLevelNotInteger(field.into())));
        }
        for map in ["events", "notifications", "users"] {
            let key = if map == "users" { BOB } else { "room" };
            let result = change(&mut room, ALICE, json!({ map: { key: "50" } }));
            assert_eq!(
                result,
                Err(AuthError::PowerLevelMapNotIntegers(map.into())),
                "{version} {map}"
            );
            let result = change(&mut room, ALICE, json!({ map: [] }));
            assert_eq!(result, Err(AuthError::PowerLevelMapNotIntegers(map.into())));
        }
        assert_eq!(
            change(
                &mut room,
                ALICE,
                json!({ "ban": 50, "events": { "m.room.name": 50 } })
            ),
            Ok(())
        );
    }
}

#[test]
fn integers_beyond_canonical_json_range_are_rejected() {
    let mut room = Room::new(V11);
    let result = change(&mut room, ALICE, json!({ "ban": 1_i64 << 53 }));
    assert_eq!(result, Err(AuthError::PowerLevelNotInteger("ban".into())));
}

#[test]
fn users_keys_must_be_valid_user_ids() {
    let mut room = Room::new(V10);
    let result = change(&mut room, ALICE, json!({ "users": { "bob": 10 } }));
    assert_eq!(
        result,
        Err(AuthError::PowerLevelUserIdInvalid("bob".into()))
    );
}

#[test]
fn the_first_power_levels_event_is_allowed_whatever_it_says() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        assert_eq!(
            change(
                &mut room,
                ALICE,
                levels(version, 1000, json!({ "ban": 9000 }))
            ),
            Ok(()),
            "{version}"
        );
    }
}

#[test]
fn nobody_raises_a_level_above_their_own() {
    for version in RoomVersion::ALL {
        let mut room = room_with_levels(version, 60, json!({ "state_default": 50 }));
        assert_eq!(
            change(
                &mut room,
                BOB,
                levels(version, 60, json!({ "state_default": 60 }))
            ),
            Ok(())
        );
        let too_high = change(
            &mut room,
            BOB,
            levels(version, 60, json!({ "state_default": 61 })),
        );
        assert!(
            matches!(too_high, Err(AuthError::PowerLevelChangeTooHigh { .. })),
            "{version}"
        );
        let self_promotion = change(
            &mut room,
            BOB,
            levels(version, 61, json!({ "state_default": 50 })),
        );
        assert!(matches!(
            self_promotion,
            Err(AuthError::PowerLevelChangeTooHigh { .. })
        ));
    }
}

#[test]
fn nobody_changes_a_value_that_is_above_their_own_level() {
    let mut room = room_with_levels(V11, 60, json!({ "ban": 70 }));
    let result = change(&mut room, BOB, levels(V11, 60, json!({ "ban": 50 })));
    assert!(matches!(
        result,
        Err(AuthError::PowerLevelChangeTooHigh { .. })
    ));
    let removal = change(&mut room, BOB, levels(V11, 60, json!({})));
    assert!(matches!(
        removal,
        Err(AuthError::PowerLevelChangeTooHigh { .. })
    ));
}

#[test]
fn an_absent_property_counts_as_its_default_when_changed() {
    let may_send = json!({ "events": { "m.room.power_levels": 40 } });
    let mut room = room_with_levels(V11, 40, may_send.clone());
    let mut kick = may_send.clone();
    kick["kick"] = json!(30);
    let result = change(&mut room, BOB, levels(V11, 40, kick));
    assert!(
        matches!(result, Err(AuthError::PowerLevelChangeTooHigh { .. })),
        "kick defaults to 50"
    );
    let mut invite = may_send;
    invite["invite"] = json!(30);
    assert_eq!(
        change(&mut room, BOB, levels(V11, 40, invite)),
        Ok(()),
        "invite defaults to 0"
    );
}

#[test]
fn events_and_notifications_entries_follow_the_same_limits() {
    for map in ["events", "notifications"] {
        let mut room = room_with_levels(V10, 60, json!({ map: { "a": 70, "b": 10 } }));
        let lower_b = change(
            &mut room,
            BOB,
            levels(V10, 60, json!({ map: { "a": 70, "b": 20 } })),
        );
        assert_eq!(lower_b, Ok(()), "{map}");
        let add_high = change(
            &mut room,
            BOB,
            levels(V10, 60, json!({ map: { "a": 70, "b": 10, "c": 61 } })),
        );
        assert!(
            matches!(add_high, Err(AuthError::PowerLevelChangeTooHigh { .. })),
            "{map}"
        );
        let remove_a = change(&mut room, BOB, levels(V10, 60, json!({ map: { "b": 10 } })));
        assert!(
            matches!(remove_a, Err(AuthError::PowerLevelChangeTooHigh { .. })),
            "{map}"
        );
    }
}

#[test]
fn nobody_changes_a_user_at_or_above_their_own_level() {
    for version in RoomVersion::ALL {
        let mut room = room_with_levels(version, 50, json!({}));
        let mut demote_carol = levels(version, 50, json!({}));
        demote_carol["users"][CAROL] = json!(0);
        let expected = AuthError::PowerLevelOfPeerOrSuperior {
            user: CAROL.into(),
            actual: Power::Level(50),
        };
        assert_eq!(
            change(&mut room, BOB, demote_carol),
            Err(expected),
            "{version}"
        );
        let mut room = room_with_levels(version, 51, json!({}));
        let mut demote_carol = levels(version, 51, json!({}));
        demote_carol["users"][CAROL] = json!(0);
        assert_eq!(change(&mut room, BOB, demote_carol), Ok(()), "{version}");
    }
}

#[test]
fn users_may_lower_their_own_level() {
    let mut room = room_with_levels(V11, 60, json!({}));
    assert_eq!(change(&mut room, BOB, levels(V11, 10, json!({}))), Ok(()));
}

#[test]
fn v12_creators_may_not_be_listed_in_users() {
    let mut room = Room::with_create_content(V12, json!({ "additional_creators": [BOB] }));
    let alice_listed = change(&mut room, ALICE, json!({ "users": { ALICE: 100 } }));
    assert_eq!(
        alice_listed,
        Err(AuthError::PowerLevelUsersContainsCreator(ALICE.into()))
    );
    let bob_listed = change(&mut room, ALICE, json!({ "users": { BOB: 100 } }));
    assert_eq!(
        bob_listed,
        Err(AuthError::PowerLevelUsersContainsCreator(BOB.into()))
    );
    assert_eq!(
        change(&mut room, ALICE, json!({ "users": { CAROL: 100 } })),
        Ok(())
    );
}

#[test]
fn listing_the_creator_is_fine_before_v12() {
    for version in [V10, V11] {
        let mut room = Room::new(version);
        assert_eq!(
            change(&mut room, ALICE, json!({ "users": { ALICE: 100 } })),
            Ok(())
        );
    }
}

#[test]
fn v12_creators_have_infinite_power() {
    let mut room = Room::with_create_content(V12, json!({ "additional_creators": [BOB] }));
    room.set_membership(BOB, "join")
        .set_membership(CAROL, "join");
    room.set_power_levels(json!({ "users": { CAROL: 9000 }, "ban": 9000, "state_default": 9000 }));
    let by_additional_creator = change(&mut room, BOB, json!({ "users": { CAROL: 0 }, "ban": 1 }));
    assert_eq!(by_additional_creator, Ok(()));
    let topic = room.state_event("m.room.topic", ALICE, json!({})).build();
    assert_eq!(room.check(&topic), Ok(()));
    let carol_lists_bob = change(
        &mut room,
        CAROL,
        json!({ "users": { CAROL: 9000, BOB: 1 } }),
    );
    assert_eq!(
        carol_lists_bob,
        Err(AuthError::PowerLevelUsersContainsCreator(BOB.into()))
    );
}

#[test]
fn before_v12_a_creator_listed_lower_has_only_that_level() {
    let mut room = room_with_levels(V11, 60, json!({}));
    let may_send = json!({ "m.room.power_levels": 0 });
    room.set_power_levels(json!({ "users": { ALICE: 10, BOB: 60 }, "events": may_send }));
    let result = change(
        &mut room,
        ALICE,
        json!({ "users": { ALICE: 10, BOB: 0 }, "events": may_send }),
    );
    assert!(matches!(
        result,
        Err(AuthError::PowerLevelOfPeerOrSuperior { .. })
    ));
}
