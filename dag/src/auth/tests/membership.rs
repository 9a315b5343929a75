//! Rules 5.1, 5.4 (without third-party invites), 5.5, 5.6, 5.7 and 5.8.

use serde_json::json;

use super::support::{ALICE, BOB, CAROL, Room};
use crate::RoomVersion::{self, V10, V11, V12};
use crate::auth::{AuthError, Power};

#[test]
fn member_events_need_a_state_key_and_a_membership() {
    let mut room = Room::new(V11);
    let mut no_state_key = room.member(ALICE, ALICE, "join").build();
    no_state_key.state_key = None;
    assert_eq!(
        room.check(&no_state_key),
        Err(AuthError::MemberMissingStateKey)
    );
    let no_membership = room.event("m.room.member", ALICE).state_key(ALICE).build();
    assert_eq!(
        room.check(&no_membership),
        Err(AuthError::MemberMissingMembership)
    );
}

#[test]
fn unknown_memberships_are_rejected() {
    let mut room = Room::new(V12);
    let odd = room.member(ALICE, ALICE, "lurk").build();
    assert_eq!(
        room.check(&odd),
        Err(AuthError::UnknownMembership("lurk".into()))
    );
    let not_string = room
        .event("m.room.member", ALICE)
        .state_key(ALICE)
        .content(json!({ "membership": 1 }))
        .build();
    assert_eq!(
        room.check(&not_string),
        Err(AuthError::UnknownMembership("1".into()))
    );
}

#[test]
fn a_joined_member_may_invite_at_the_default_invite_level() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join")
            .set_power_levels(json!({ "users": { ALICE: 100 } }));
        let invite = room.member(BOB, CAROL, "invite").build();
        assert_eq!(room.check(&invite), Ok(()), "{version}");
    }
}

#[test]
fn a_non_member_cannot_invite() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        let invite = room.member(BOB, CAROL, "invite").build();
        assert_eq!(
            room.check(&invite),
            Err(AuthError::InviterNotJoined(BOB.into()))
        );
    }
}

#[test]
fn joined_or_banned_users_cannot_be_invited() {
    for membership in ["join", "ban"] {
        let mut room = Room::new(V11);
        room.set_membership(BOB, membership);
        let invite = room.member(ALICE, BOB, "invite").build();
        assert!(matches!(
            room.check(&invite),
            Err(AuthError::InviteTargetJoinedOrBanned { .. })
        ));
    }
}

#[test]
fn inviting_needs_the_invite_level() {
    let mut room = Room::new(V10);
    room.set_membership(BOB, "join")
        .set_power_levels(json!({ "users": { ALICE: 100 }, "invite": 50 }));
    let invite = room.member(BOB, CAROL, "invite").build();
    let expected = AuthError::InviteNeedsInviteLevel {
        required: Power::Level(50),
        actual: Power::Level(0),
    };
    assert_eq!(room.check(&invite), Err(expected));
}

#[test]
fn members_leave_and_invitees_or_knockers_withdraw() {
    for membership in ["join", "invite", "knock"] {
        let mut room = Room::new(V11);
        room.set_membership(BOB, membership);
        let leave = room.member(BOB, BOB, "leave").build();
        assert_eq!(room.check(&leave), Ok(()), "{membership}");
    }
}

#[test]
fn leaving_needs_a_membership_to_leave() {
    for membership in ["leave", "ban"] {
        let mut room = Room::new(V11);
        room.set_membership(BOB, membership);
        let leave = room.member(BOB, BOB, "leave").build();
        assert!(matches!(
            room.check(&leave),
            Err(AuthError::LeaveFromInvalidMembership { .. })
        ));
    }
}

#[test]
fn kicking_needs_the_kick_level_and_more_power_than_the_target() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join")
            .set_membership(CAROL, "join");
        room.set_power_levels(json!({ "users": { ALICE: 100, BOB: 50, CAROL: 50 } }));
        let by_alice = room.member(ALICE, BOB, "leave").build();
        assert_eq!(room.check(&by_alice), Ok(()), "{version}");
        let by_peer = room.member(BOB, CAROL, "leave").build();
        assert!(matches!(
            room.check(&by_peer),
            Err(AuthError::KickNotAllowed { .. })
        ));
    }
}

#[test]
fn kicking_below_the_kick_level_is_rejected() {
    let mut room = Room::new(V11);
    room.set_membership(BOB, "join")
        .set_membership(CAROL, "join");
    room.set_power_levels(json!({ "users": { ALICE: 100, BOB: 40 }, "kick": 45 }));
    let kick = room.member(BOB, CAROL, "leave").build();
    assert!(matches!(
        room.check(&kick),
        Err(AuthError::KickNotAllowed { .. })
    ));
}

#[test]
fn a_non_member_cannot_kick() {
    let mut room = Room::new(V11);
    room.set_membership(BOB, "leave")
        .set_membership(CAROL, "join");
    let kick = room.member(BOB, CAROL, "leave").build();
    assert_eq!(
        room.check(&kick),
        Err(AuthError::SenderNotJoinedForMembershipChange(BOB.into()))
    );
}

#[test]
fn unbanning_needs_the_ban_and_kick_levels() {
    let mut room = Room::new(V11);
    room.set_membership(BOB, "join")
        .set_membership(CAROL, "ban");
    room.set_power_levels(json!({ "users": { ALICE: 100, BOB: 50 }, "ban": 60, "kick": 50 }));
    let by_bob = room.member(BOB, CAROL, "leave").build();
    let expected = AuthError::UnbanNeedsBanLevel {
        required: Power::Level(60),
        actual: Power::Level(50),
    };
    assert_eq!(room.check(&by_bob), Err(expected));
    room.set_power_levels(json!({ "users": { ALICE: 100, BOB: 60 }, "ban": 60, "kick": 70 }));
    let below_kick = room.member(BOB, CAROL, "leave").build();
    assert!(matches!(
        room.check(&below_kick),
        Err(AuthError::KickNotAllowed { .. })
    ));
    let by_alice = room.member(ALICE, CAROL, "leave").build();
    assert_eq!(room.check(&by_alice), Ok(()));
}

#[test]
fn banning_needs_the_ban_level_and_more_power_than_the_target() {
    for version in RoomVersion::ALL {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join");
        room.set_power_levels(json!({ "users": { ALICE: 100, BOB: 50, CAROL: 50 }, "ban": 50 }));
        let by_alice = room.member(ALICE, CAROL, "ban").build();
        assert_eq!(room.check(&by_alice), Ok(()), "{version}");
        let on_peer = room.member(BOB, CAROL, "ban").build();
        assert!(matches!(
            room.check(&on_peer),
            Err(AuthError::BanNotAllowed { .. })
        ));
        let on_superior = room.member(BOB, ALICE, "ban").build();
        assert!(matches!(
            room.check(&on_superior),
            Err(AuthError::BanNotAllowed { .. })
        ));
    }
}

#[test]
fn a_non_member_cannot_ban() {
    let mut room = Room::new(V12);
    let ban = room.member(BOB, CAROL, "ban").build();
    assert_eq!(
        room.check(&ban),
        Err(AuthError::SenderNotJoinedForMembershipChange(BOB.into()))
    );
}

#[test]
fn without_power_levels_the_creator_has_100_before_v12() {
    for version in [V10, V11] {
        let mut room = Room::new(version);
        room.set_membership(BOB, "join");
        let ban = room.member(ALICE, BOB, "ban").build();
        assert_eq!(room.check(&ban), Ok(()));
        let counter_ban = room.member(BOB, ALICE, "ban").build();
        let expected = AuthError::BanNotAllowed {
            required: Power::Level(50),
            target: Power::Level(100),
            actual: Power::Level(0),
        };
        assert_eq!(room.check(&counter_ban), Err(expected));
    }
}

#[test]
fn v12_creators_cannot_be_banned_or_kicked_by_anyone_else() {
    let mut room = Room::with_create_content(V12, json!({ "additional_creators": [BOB] }));
    room.set_membership(BOB, "join")
        .set_membership(CAROL, "join");
    room.set_power_levels(json!({ "users": { CAROL: 1000 } }));
    let ban = room.member(CAROL, ALICE, "ban").build();
    let expected = AuthError::BanNotAllowed {
        required: Power::Level(50),
        target: Power::Creator,
        actual: Power::Level(1000),
    };
    assert_eq!(room.check(&ban), Err(expected));
    let creator_on_creator = room.member(BOB, ALICE, "leave").build();
    assert!(matches!(
        room.check(&creator_on_creator),
        Err(AuthError::KickNotAllowed { .. })
    ));
    let creator_kicks = room.member(BOB, CAROL, "leave").build();
    assert_eq!(room.check(&creator_kicks), Ok(()));
}

#[test]
fn knocking_needs_a_knock_join_rule() {
    for version in RoomVersion::ALL {
        for join_rule in ["knock", "knock_restricted"] {
            let mut room = Room::new(version);
            room.set_join_rule(join_rule);
            let knock = room.member(BOB, BOB, "knock").build();
            assert_eq!(room.check(&knock), Ok(()), "{version} {join_rule}");
        }
        for join_rule in ["public", "invite", "restricted"] {
            let mut room = Room::new(version);
            room.set_join_rule(join_rule);
            let knock = room.member(BOB, BOB, "knock").build();
            assert_eq!(
                room.check(&knock),
                Err(AuthError::KnockNotAllowed(join_rule.into()))
            );
        }
    }
}

#[test]
fn knocking_is_only_for_oneself() {
    let mut room = Room::new(V11);
    room.set_join_rule("knock");
    let knock = room.member(ALICE, BOB, "knock").build();
    assert!(matches!(
        room.check(&knock),
        Err(AuthError::KnockForOtherUser { .. })
    ));
}

#[test]
fn banned_invited_or_joined_users_cannot_knock() {
    for membership in ["ban", "invite", "join"] {
        let mut room = Room::new(V11);
        room.set_join_rule("knock").set_membership(BOB, membership);
        let knock = room.member(BOB, BOB, "knock").build();
        assert!(
            matches!(
                room.check(&knock),
                Err(AuthError::KnockFromInvalidMembership { .. })
            ),
            "{membership}"
        );
    }
}
