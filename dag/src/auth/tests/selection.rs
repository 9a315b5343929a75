//! Auth events selection and rule 3 (the shape of `auth_events`), plus the required signers.

use serde_json::json;

use super::support::{ALICE, BOB, CAROL, Room, TestEvent};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::{
    AuthError, auth_types_for_event, check_auth_events_shape, servers_that_must_sign,
};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, k)| ((*t).to_owned(), (*k).to_owned()))
        .collect()
}

#[test]
fn create_events_select_nothing() {
    for version in RoomVersion::ALL {
        assert!(
            auth_types_for_event(version, "m.room.create", ALICE, Some(""), &json!({})).is_empty()
        );
    }
}

#[test]
fn ordinary_events_select_create_power_levels_and_sender_before_v12() {
    let expected = pairs(&[
        ("m.room.create", ""),
        ("m.room.power_levels", ""),
        ("m.room.member", BOB),
    ]);
    for version in [V10, V11] {
        assert_eq!(
            auth_types_for_event(version, "m.room.message", BOB, None, &json!({})),
            expected
        );
    }
}

#[test]
fn v12_never_selects_the_create_event() {
    let expected = pairs(&[("m.room.power_levels", ""), ("m.room.member", BOB)]);
    assert_eq!(
        auth_types_for_event(V12, "m.room.topic", BOB, Some(""), &json!({})),
        expected
    );
}

#[test]
fn joins_invites_and_knocks_select_the_join_rules_and_the_target() {
    for membership in ["join", "invite", "knock"] {
        let types = auth_types_for_event(
            V12,
            "m.room.member",
            ALICE,
            Some(BOB),
            &json!({ "membership": membership }),
        );
        let expected = pairs(&[
            ("m.room.power_levels", ""),
            ("m.room.member", ALICE),
            ("m.room.member", BOB),
            ("m.room.join_rules", ""),
        ]);
        assert_eq!(types, expected, "{membership}");
    }
    let leave = auth_types_for_event(
        V12,
        "m.room.member",
        ALICE,
        Some(BOB),
        &json!({ "membership": "leave" }),
    );
    assert_eq!(
        leave,
        pairs(&[
            ("m.room.power_levels", ""),
            ("m.room.member", ALICE),
            ("m.room.member", BOB)
        ])
    );
}

#[test]
fn third_party_invites_select_the_token_and_restricted_joins_the_authoriser() {
    let invite =
        json!({ "membership": "invite", "third_party_invite": { "signed": { "token": "tok" } } });
    let types = auth_types_for_event(V11, "m.room.member", ALICE, Some(BOB), &invite);
    assert!(types.contains(&("m.room.third_party_invite".into(), "tok".into())));
    let join = json!({ "membership": "join", "join_authorised_via_users_server": CAROL });
    let types = auth_types_for_event(V11, "m.room.member", BOB, Some(BOB), &join);
    assert!(types.contains(&("m.room.member".into(), CAROL.into())));
    let leave = json!({ "membership": "leave", "join_authorised_via_users_server": CAROL });
    let types = auth_types_for_event(V11, "m.room.member", BOB, Some(BOB), &leave);
    assert!(!types.contains(&("m.room.member".into(), CAROL.into())));
}

#[test]
fn selection_has_no_duplicates() {
    let types = auth_types_for_event(
        V10,
        "m.room.member",
        BOB,
        Some(BOB),
        &json!({ "membership": "join", "join_authorised_via_users_server": BOB }),
    );
    assert_eq!(types.len(), 4);
}

/// A message by ALICE citing the given state events of `room`, by `(type, state_key)`.
fn citing(room: &mut Room, keys: &[(&str, &str)]) -> (TestEvent, Vec<TestEvent>) {
    let cited: Vec<TestEvent> = keys
        .iter()
        .map(|(t, k)| room.state[&((*t).to_owned(), (*k).to_owned())].clone())
        .collect();
    let ids: Vec<&str> = cited.iter().map(|e| e.event_id.as_str()).collect();
    let event = room
        .event("m.room.message", ALICE)
        .auth_events(&ids)
        .build();
    (event, cited)
}

fn shape(version: RoomVersion, event: &TestEvent, cited: &[TestEvent]) -> Result<(), AuthError> {
    let refs: Vec<&TestEvent> = cited.iter().collect();
    check_auth_events_shape(version, event, &refs, |_| false)
}

#[test]
fn well_formed_auth_events_pass() {
    let mut v11 = Room::new(V11);
    let (event, cited) = citing(&mut v11, &[("m.room.create", ""), ("m.room.member", ALICE)]);
    assert_eq!(shape(V11, &event, &cited), Ok(()));
    let mut v12 = Room::new(V12);
    let (event, cited) = citing(&mut v12, &[("m.room.member", ALICE)]);
    assert_eq!(shape(V12, &event, &cited), Ok(()));
}

#[test]
fn the_create_event_is_required_before_v12_and_forbidden_in_v12() {
    for version in [V10, V11] {
        let mut room = Room::new(version);
        let (event, cited) = citing(&mut room, &[("m.room.member", ALICE)]);
        assert_eq!(
            shape(version, &event, &cited),
            Err(AuthError::MissingCreateAuthEvent)
        );
    }
    let mut room = Room::new(V12);
    let (event, cited) = citing(
        &mut room,
        &[("m.room.create", ""), ("m.room.member", ALICE)],
    );
    assert!(matches!(
        shape(V12, &event, &cited),
        Err(AuthError::UnexpectedAuthEvent { .. })
    ));
}

#[test]
fn duplicate_pairs_are_rejected() {
    let mut room = Room::new(V11);
    let (mut event, mut cited) = citing(
        &mut room,
        &[("m.room.create", ""), ("m.room.member", ALICE)],
    );
    let mut second_join = cited[1].clone();
    second_join.event_id = "$secondjoin".into();
    event.auth_events.push(second_join.event_id.clone());
    cited.push(second_join);
    let expected = AuthError::DuplicateAuthEvent {
        event_type: "m.room.member".into(),
        state_key: ALICE.into(),
    };
    assert_eq!(shape(V11, &event, &cited), Err(expected));
}

#[test]
fn citing_one_event_twice_is_a_duplicate() {
    let mut room = Room::new(V12);
    let (mut event, cited) = citing(&mut room, &[("m.room.member", ALICE)]);
    event.auth_events.push(cited[0].event_id.clone());
    let expected = AuthError::RepeatedAuthEventId {
        event_id: cited[0].event_id.clone(),
    };
    assert_eq!(shape(V12, &event, &cited), Err(expected));
}

#[test]
fn unselected_pairs_are_rejected() {
    let mut room = Room::new(V11);
    room.set_join_rule("public").set_membership(BOB, "join");
    let (event, cited) = citing(
        &mut room,
        &[("m.room.create", ""), ("m.room.join_rules", "")],
    );
    assert!(matches!(
        shape(V11, &event, &cited),
        Err(AuthError::UnexpectedAuthEvent { .. })
    ));
    let (event, cited) = citing(&mut room, &[("m.room.create", ""), ("m.room.member", BOB)]);
    assert!(matches!(
        shape(V11, &event, &cited),
        Err(AuthError::UnexpectedAuthEvent { .. })
    ));
}

#[test]
fn rejected_auth_events_are_rejected() {
    let mut room = Room::new(V10);
    let (event, cited) = citing(
        &mut room,
        &[("m.room.create", ""), ("m.room.member", ALICE)],
    );
    let refs: Vec<&TestEvent> = cited.iter().collect();
    let join_id = cited[1].event_id.clone();
    let result = check_auth_events_shape(V10, &event, &refs, |e| e.event_id == join_id);
    assert_eq!(
        result,
        Err(AuthError::RejectedAuthEvent { event_id: join_id })
    );
}

#[test]
fn auth_events_from_another_room_are_rejected() {
    let mut room = Room::new(V12);
    let (event, mut cited) = citing(&mut room, &[("m.room.member", ALICE)]);
    cited[0].room_id = Some("!otherhash".into());
    assert!(matches!(
        shape(V12, &event, &cited),
        Err(AuthError::AuthEventInOtherRoom { .. })
    ));
}

#[test]
fn supplied_events_must_be_exactly_the_cited_ones() {
    let mut room = Room::new(V11);
    let (event, cited) = citing(
        &mut room,
        &[("m.room.create", ""), ("m.room.member", ALICE)],
    );
    assert!(matches!(
        shape(V11, &event, &cited[..1]),
        Err(AuthError::MissingAuthEvent { .. })
    ));
    let mut uncited = event.clone();
    uncited.auth_events.pop();
    assert!(matches!(
        shape(V11, &uncited, &cited),
        Err(AuthError::AuthEventNotListed { .. })
    ));
}

#[test]
fn non_state_auth_events_are_rejected() {
    let mut room = Room::new(V11);
    let message = room.event("m.room.message", ALICE).build();
    let create = room.create().clone();
    let event = room
        .event("m.room.message", ALICE)
        .auth_events(&[&create.event_id, &message.event_id])
        .build();
    assert_eq!(
        shape(V11, &event, &[create, message.clone()]),
        Err(AuthError::AuthEventNotState {
            event_id: message.event_id
        })
    );
}

#[test]
fn create_events_have_no_auth_events_to_check() {
    let room = Room::new(V11);
    let create = room.create().clone();
    assert_eq!(shape(V11, &create, &[]), Ok(()));
}

#[test]
fn the_sender_and_the_join_authoriser_must_sign() {
    let mut room = Room::new(V11);
    let message = room.event("m.room.message", ALICE).build();
    assert_eq!(servers_that_must_sign(&message), Ok(vec!["a.example"]));
    let join = room
        .member(BOB, BOB, "join")
        .content(json!({ "membership": "join", "join_authorised_via_users_server": CAROL }))
        .build();
    assert_eq!(
        servers_that_must_sign(&join),
        Ok(vec!["b.example", "c.example"])
    );
    let same_server = room
        .member(BOB, BOB, "join")
        .content(
            json!({ "membership": "join", "join_authorised_via_users_server": "@other:b.example" }),
        )
        .build();
    assert_eq!(servers_that_must_sign(&same_server), Ok(vec!["b.example"]));
    let bad = room
        .member(BOB, BOB, "join")
        .content(json!({ "membership": "join", "join_authorised_via_users_server": "carol" }))
        .build();
    assert_eq!(
        servers_that_must_sign(&bad),
        Err(AuthError::InvalidJoinAuthoriser)
    );
    let bad_sender = room.event("m.room.message", "nobody").build();
    assert_eq!(
        servers_that_must_sign(&bad_sender),
        Err(AuthError::InvalidSender("nobody".into()))
    );
}
