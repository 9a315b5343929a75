//! Rule 1: the create event.

use serde_json::json;

use super::support::{ALICE, BOB, create_event};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::{AuthError, check_auth};

fn check(version: RoomVersion, create: &super::support::TestEvent) -> Result<(), AuthError> {
    check_auth(version, create, |_: &str, _: &str| None)
}

#[test]
fn a_well_formed_create_event_is_allowed_in_every_version() {
    for version in RoomVersion::ALL {
        assert_eq!(
            check(version, &create_event(version, ALICE, json!({}))),
            Ok(()),
            "{version}"
        );
    }
}

#[test]
fn create_with_prev_events_is_rejected() {
    for version in RoomVersion::ALL {
        let mut create = create_event(version, ALICE, json!({}));
        create.prev_events = vec!["$earlier".to_owned()];
        assert_eq!(
            check(version, &create),
            Err(AuthError::CreateHasPrevEvents),
            "{version}"
        );
    }
}

#[test]
fn before_v12_the_room_id_must_be_on_the_senders_server() {
    for version in [V10, V11] {
        let mut create = create_event(version, ALICE, json!({}));
        create.room_id = Some("!room:b.example".to_owned());
        assert!(matches!(
            check(version, &create),
            Err(AuthError::CreateRoomIdDomainMismatch { .. })
        ));
        create.room_id = None;
        assert_eq!(check(version, &create), Err(AuthError::CreateMissingRoomId));
    }
}

#[test]
fn v12_create_must_not_have_a_room_id() {
    let mut create = create_event(V12, ALICE, json!({}));
    create.room_id = Some("!room:a.example".to_owned());
    assert_eq!(check(V12, &create), Err(AuthError::CreateHasRoomId));
}

#[test]
fn unrecognised_or_contradicting_room_version_is_rejected() {
    for version in RoomVersion::ALL {
        let unknown = create_event(version, ALICE, json!({ "room_version": "9" }));
        assert_eq!(
            check(version, &unknown),
            Err(AuthError::UnrecognisedRoomVersion("9".into()))
        );
        let not_a_string = create_event(version, ALICE, json!({ "room_version": 11 }));
        assert!(matches!(
            check(version, &not_a_string),
            Err(AuthError::UnrecognisedRoomVersion(_))
        ));
        let other = if version == V11 { "12" } else { "11" };
        let contradicting = create_event(version, ALICE, json!({ "room_version": other }));
        assert!(matches!(
            check(version, &contradicting),
            Err(AuthError::RoomVersionMismatch { .. })
        ));
    }
}

#[test]
fn absent_room_version_is_not_checked() {
    for version in RoomVersion::ALL {
        let mut create = create_event(version, ALICE, json!({}));
        create
            .content
            .as_object_mut()
            .map(|content| content.remove("room_version"));
        assert_eq!(check(version, &create), Ok(()));
    }
}

#[test]
fn v10_requires_creator_and_v11_does_not() {
    let mut v10 = create_event(V10, ALICE, json!({}));
    v10.content
        .as_object_mut()
        .map(|content| content.remove("creator"));
    assert_eq!(check(V10, &v10), Err(AuthError::CreateMissingCreator));
    let v11 = create_event(V11, ALICE, json!({}));
    assert!(v11.content.get("creator").is_none());
    assert_eq!(check(V11, &v11), Ok(()));
}

#[test]
fn v12_additional_creators_must_be_valid_user_ids() {
    let valid = create_event(V12, ALICE, json!({ "additional_creators": [BOB] }));
    assert_eq!(check(V12, &valid), Ok(()));
    for invalid in [
        json!("@bob:b.example"),
        json!(["bob"]),
        json!([BOB, 7]),
        json!(["@bob"]),
    ] {
        let create = create_event(V12, ALICE, json!({ "additional_creators": invalid }));
        assert_eq!(
            check(V12, &create),
            Err(AuthError::InvalidAdditionalCreators),
            "{invalid}"
        );
    }
}

#[test]
fn additional_creators_mean_nothing_before_v12() {
    for version in [V10, V11] {
        let create = create_event(version, ALICE, json!({ "additional_creators": "junk" }));
        assert_eq!(check(version, &create), Ok(()));
    }
}
