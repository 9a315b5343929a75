//! Rule 5.3: joins, including the creator's first join and restricted joins.

use serde_json::json;

use super::support::{ALICE, BOB, CAROL, Room, create_event};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::AuthError;

/// A room holding only its create event, so the next event's only parent is the create event.
fn fresh_room(version: RoomVersion, create_content: serde_json::Value) -> Room {
    let mut room = Room::with_create_content(version, create_content);
    room.state
        .retain(|(event_type, _), _| event_type == "m.room.create");
    room.latest = room.create().event_id.clone();
    room
}

#[test]
fn the_creator_joins_right_after_the_create_event() {
    for version in RoomVersion::ALL {
        let mut room = fresh_room(version, json!({}));
        let join = room.member(ALICE, ALICE, "join").build();
        assert_eq!(room.check(&join), Ok(()), "{version}");
    }
}

#[test]
fn nobody_else_joins_right_after_the_create_event() {
    for version in RoomVersion::ALL {
        let mut room = fresh_room(version, json!({}));
        let join = room.member(BOB, BOB, "join").build();
        assert!(
            matches!(room.check(&join), Err(AuthError::JoinNotAllowed { .. })),
            "{version}"
        );
    }
}

#[test]
fn v12_additional_creators_get_no_first_join() {
    let mut room = fresh_room(V12, json!({ "additional_creators": [BOB] }));
    let join = room.member(BOB, BOB, "join").build();
    assert!(matches!(
        room.check(&join),
        Err(AuthError::JoinNotAllowed { .. })
    ));
}

#[test]
fn the_first_join_needs_the_create_event_as_only_parent() {
    for version in RoomVersion::ALL {
        let mut room = fresh_room(version, json!({}));
        let create_id = room.create().event_id.clone();
        let join = room
            .member(ALICE, ALICE, "join")
            .prev_events(&[&create_id, "$other"])
            .build();
        assert!(
            matches!(room.check(&join), Err(AuthError::JoinNotAllowed { .. })),
            "{version}"
        );
    }
}

#[test]
fn v10_first_join_follows_content_creator_and_v11_follows_sender() {
    let mut v10 = fresh_room(V10, json!({}));
    let create = create_event(V10, BOB, json!({ "creator": ALICE }));
    v10.state
        .insert(("m.room.create".into(), String::new()), create);
    v10.room_id = "!room:b.example".into();
    let join = v10.member(ALICE, ALICE, "join").build();
    assert_eq!(v10.check(&join), Ok(()));

    let mut v11 = fresh_room(V11, json!({ "creator": BOB }));
    let bob_join = v11.member(BOB, BOB, "join").build();
    assert!(v11.check(&bob_join).is_err());
    let alice_join = v11.member(ALICE, ALICE, "join").build();
    assert_eq!(v11.check(&alice_join), Ok(()));
}

#[test]
fn nobody_joins_on_behalf_of_someone_else() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_join_rule("public");
        let join = room.member(ALICE, BOB, "join").build();
        assert!(matches!(
            room.check(&join),
            Err(AuthError::JoinForOtherUser { .. })
        ));
    }
}

#[test]
fn banned_users_cannot_join_a_public_room() {
    let mut room = Room::new(V11);
    room.set_join_rule("public").set_membership(BOB, "ban");
    let join = room.member(BOB, BOB, "join").build();
    assert_eq!(
        room.check(&join),
        Err(AuthError::JoinWhileBanned(BOB.into()))
    );
}

#[test]
fn anyone_joins_a_public_room_and_joining_twice_is_allowed() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_join_rule("public");
        let join = room.member(BOB, BOB, "join").build();
        assert_eq!(room.check(&join), Ok(()));
        room.add(join);
        let again = room
            .member(BOB, BOB, "join")
            .content(json!({ "membership": "join", "displayname": "B" }))
            .build();
        assert_eq!(room.check(&again), Ok(()));
    }
}

#[test]
fn invite_and_knock_rooms_need_an_invite_or_a_join() {
    for join_rule in ["invite", "knock"] {
        let mut room = Room::new(V11);
        room.set_join_rule(join_rule);
        let uninvited = room.member(BOB, BOB, "join").build();
        assert!(
            matches!(
                room.check(&uninvited),
                Err(AuthError::JoinNotAllowed { .. })
            ),
            "{join_rule}"
        );
        room.set_membership(BOB, "invite");
        let invited = room.member(BOB, BOB, "join").build();
        assert_eq!(room.check(&invited), Ok(()), "{join_rule}");
    }
}

#[test]
fn without_join_rules_the_room_is_invite_only() {
    let mut room = Room::new(V11);
    let uninvited = room.member(BOB, BOB, "join").build();
    assert!(matches!(
        room.check(&uninvited),
        Err(AuthError::JoinNotAllowed { .. })
    ));
    room.set_membership(BOB, "invite");
    let invited = room.member(BOB, BOB, "join").build();
    assert_eq!(room.check(&invited), Ok(()));
}

#[test]
fn private_and_unknown_join_rules_refuse_joins() {
    for join_rule in ["private", "something"] {
        let mut room = Room::new(V12);
        room.set_join_rule(join_rule);
        let join = room.member(BOB, BOB, "join").build();
        assert!(matches!(
            room.check(&join),
            Err(AuthError::JoinNotAllowed { .. })
        ));
    }
}

fn restricted_join(room: &mut Room, authoriser: Option<&str>) -> super::support::TestEvent {
    let mut content = json!({ "membership": "join" });
    if let Some(authoriser) = authoriser {
        content["join_authorised_via_users_server"] = json!(authoriser);
    }
    room.member(BOB, BOB, "join").content(content).build()
}

#[test]
fn restricted_joins_are_vouched_for_by_a_member_who_may_invite() {
    for version in RoomVersion::ALL {
        for join_rule in ["restricted", "knock_restricted"] {
            let mut room = Room::new(version);
            room.set_join_rule(join_rule);
            let vouched = restricted_join(&mut room, Some(ALICE));
            assert_eq!(room.check(&vouched), Ok(()), "{version} {join_rule}");
            let unvouched = restricted_join(&mut room, None);
            assert_eq!(
                room.check(&unvouched),
                Err(AuthError::RestrictedJoinWithoutAuthoriser)
            );
        }
    }
}

#[test]
fn restricted_join_authoriser_must_be_joined() {
    let mut room = Room::new(V11);
    room.set_join_rule("restricted")
        .set_membership(CAROL, "leave");
    let join = restricted_join(&mut room, Some(CAROL));
    assert_eq!(
        room.check(&join),
        Err(AuthError::RestrictedJoinAuthoriserCannotInvite(
            CAROL.into()
        ))
    );
}

#[test]
fn restricted_join_authoriser_must_reach_the_invite_level() {
    let mut room = Room::new(V10);
    room.set_join_rule("restricted")
        .set_membership(CAROL, "join");
    room.set_power_levels(json!({ "users": { ALICE: 100 }, "invite": 10 }));
    let join = restricted_join(&mut room, Some(CAROL));
    assert_eq!(
        room.check(&join),
        Err(AuthError::RestrictedJoinAuthoriserCannotInvite(
            CAROL.into()
        ))
    );
    room.set_power_levels(json!({ "users": { ALICE: 100, CAROL: 10 }, "invite": 10 }));
    let join = restricted_join(&mut room, Some(CAROL));
    assert_eq!(room.check(&join), Ok(()));
}

#[test]
fn restricted_rooms_let_invited_users_join_without_an_authoriser() {
    let mut room = Room::new(V12);
    room.set_join_rule("knock_restricted")
        .set_membership(BOB, "invite");
    let join = restricted_join(&mut room, None);
    assert_eq!(room.check(&join), Ok(()));
}

#[test]
fn a_non_string_authoriser_is_rejected() {
    let mut room = Room::new(V11);
    room.set_join_rule("restricted");
    let join = room
        .member(BOB, BOB, "join")
        .content(json!({ "membership": "join", "join_authorised_via_users_server": 1 }))
        .build();
    assert_eq!(room.check(&join), Err(AuthError::InvalidJoinAuthoriser));
}
