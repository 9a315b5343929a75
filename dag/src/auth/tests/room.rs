//! Rules 2 and 4, and the state every check needs: the room ID, the create event, m.federate.

use serde_json::json;

use super::support::{ALICE, BOB, DAVE, Room};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::{AuthError, check_auth};

#[test]
fn v12_room_id_must_be_the_create_event_id() {
    let mut room = Room::new(V12);
    assert_eq!(room.room_id, "!createhash");
    let message = room.event("m.room.message", ALICE).build();
    assert_eq!(room.check(&message), Ok(()));
    let elsewhere = room
        .event("m.room.message", ALICE)
        .room_id(Some("!otherhash"))
        .build();
    assert!(matches!(
        room.check(&elsewhere),
        Err(AuthError::RoomIdNotCreateEvent { .. })
    ));
}

#[test]
fn before_v12_the_room_id_must_match_the_create_event() {
    for version in [V10, V11] {
        let mut room = Room::new(version);
        let elsewhere = room
            .event("m.room.message", ALICE)
            .room_id(Some("!other:a.example"))
            .build();
        assert!(matches!(
            room.check(&elsewhere),
            Err(AuthError::RoomIdMismatch { .. })
        ));
    }
}

#[test]
fn an_event_without_room_id_is_rejected() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        let message = room.event("m.room.message", ALICE).room_id(None).build();
        assert_eq!(room.check(&message), Err(AuthError::MissingRoomId));
    }
}

#[test]
fn without_a_create_event_in_the_state_everything_is_rejected() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        let message = room.event("m.room.message", ALICE).build();
        let result = check_auth(version, &message, |_: &str, _: &str| None);
        assert_eq!(result, Err(AuthError::NoCreateEvent));
    }
}

#[test]
fn unfederated_rooms_refuse_senders_from_other_servers() {
    for version in RoomVersion::ALL {
        let mut room = Room::with_create_content(version, json!({ "m.federate": false }));
        room.set_join_rule("public");
        let local = room.member(DAVE, DAVE, "join").build();
        assert_eq!(room.check(&local), Ok(()), "{version}");
        let remote = room.member(BOB, BOB, "join").build();
        assert_eq!(
            room.check(&remote),
            Err(AuthError::NotFederated { sender: BOB.into() })
        );
    }
}

#[test]
fn federated_rooms_accept_senders_from_other_servers() {
    for federate in [json!({ "m.federate": true }), json!({})] {
        let mut room = Room::with_create_content(V11, federate);
        room.set_join_rule("public");
        let remote = room.member(BOB, BOB, "join").build();
        assert_eq!(room.check(&remote), Ok(()));
    }
}

#[test]
fn an_invalid_sender_is_rejected() {
    let mut room = Room::new(V11);
    let message = room.event("m.room.message", "alice").build();
    assert_eq!(
        room.check(&message),
        Err(AuthError::InvalidSender("alice".into()))
    );
}
