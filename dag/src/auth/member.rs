//! Rule 5: `m.room.member` events — joins, invites, leaves and kicks, bans and unbans, knocks.

use serde_json::Value;

use super::create::original_creator;
use super::error::AuthError;
use super::power::IntField;
use super::state::{RoomState, StateLookup};
use super::third_party::check_third_party_invite;
use crate::RoomEvent;

/// Rule 5. The signature rule 5.2 (`join_authorised_via_users_server`'s server must have signed)
/// is checked with the event's signatures; see [`super::servers_that_must_sign`].
pub fn check_member<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    event: &E,
) -> Result<(), AuthError> {
    let target = event.state_key().ok_or(AuthError::MemberMissingStateKey)?;
    let membership = event
        .content()
        .get("membership")
        .ok_or(AuthError::MemberMissingMembership)?;
    let Some(membership) = membership.as_str() else {
        return Err(AuthError::UnknownMembership(membership.to_string()));
    };
    match membership {
        "join" => check_join(room, event, target),
        "invite" => check_invite(room, event, target),
        "leave" => check_leave(room, event.sender(), target),
        "ban" => check_ban(room, event.sender(), target),
        "knock" => check_knock(room, event.sender(), target),
        unknown => Err(AuthError::UnknownMembership(unknown.to_owned())),
    }
}

/// Rule 5.3.
fn check_join<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    event: &E,
    target: &str,
) -> Result<(), AuthError> {
    if is_creator_first_join(room, event, target) {
        return Ok(());
    }
    if event.sender() != target {
        return Err(AuthError::JoinForOtherUser {
            sender: event.sender().to_owned(),
            target: target.to_owned(),
        });
    }
    let current = room.membership(target);
    if current == "ban" {
        return Err(AuthError::JoinWhileBanned(target.to_owned()));
    }
    let invited_or_joined = matches!(current, "invite" | "join");
    match room.join_rule() {
        "invite" | "knock" if invited_or_joined => Ok(()),
        "restricted" | "knock_restricted" if invited_or_joined => Ok(()),
        "restricted" | "knock_restricted" => check_join_authoriser(room, event.content()),
        "public" => Ok(()),
        join_rule => Err(AuthError::JoinNotAllowed {
            join_rule: join_rule.to_owned(),
            user: target.to_owned(),
        }),
    }
}

/// Rule 5.3.1: the only previous event is the create event and the joining user is the creator.
fn is_creator_first_join<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    event: &E,
    target: &str,
) -> bool {
    let mut prev_events = event.prev_events();
    prev_events.len() == 1
        && prev_events.next() == Some(room.create.event_id())
        && original_creator(room.version, room.create) == Some(target)
}

/// Rule 5.3.5.2: a restricted join is vouched for by a joined member who may invite.
fn check_join_authoriser<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    content: &Value,
) -> Result<(), AuthError> {
    let authoriser = match content.get("join_authorised_via_users_server") {
        None => return Err(AuthError::RestrictedJoinWithoutAuthoriser),
        Some(value) => value.as_str().ok_or(AuthError::InvalidJoinAuthoriser)?,
    };
    let may_invite = room.membership(authoriser) == "join"
        && room.user_power(authoriser) >= room.level(IntField::Invite);
    if may_invite {
        Ok(())
    } else {
        Err(AuthError::RestrictedJoinAuthoriserCannotInvite(
            authoriser.to_owned(),
        ))
    }
}

/// Rule 5.4.
fn check_invite<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    event: &E,
    target: &str,
) -> Result<(), AuthError> {
    if let Some(third_party_invite) = event.content().get("third_party_invite") {
        return check_third_party_invite(room, event, target, third_party_invite);
    }
    let sender = event.sender();
    if room.membership(sender) != "join" {
        return Err(AuthError::InviterNotJoined(sender.to_owned()));
    }
    let current = room.membership(target);
    if matches!(current, "join" | "ban") {
        return Err(AuthError::InviteTargetJoinedOrBanned {
            target: target.to_owned(),
            membership: current.to_owned(),
        });
    }
    let (required, actual) = (room.level(IntField::Invite), room.user_power(sender));
    if actual >= required {
        Ok(())
    } else {
        Err(AuthError::InviteNeedsInviteLevel { required, actual })
    }
}

/// Rule 5.5: leaving, rejecting an invite, withdrawing a knock, kicking and unbanning.
fn check_leave<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    sender: &str,
    target: &str,
) -> Result<(), AuthError> {
    let sender_membership = room.membership(sender);
    if sender == target {
        return match sender_membership {
            "invite" | "join" | "knock" => Ok(()),
            membership => Err(AuthError::LeaveFromInvalidMembership {
                user: sender.to_owned(),
                membership: membership.to_owned(),
            }),
        };
    }
    if sender_membership != "join" {
        return Err(AuthError::SenderNotJoinedForMembershipChange(
            sender.to_owned(),
        ));
    }
    let actual = room.user_power(sender);
    let ban_level = room.level(IntField::Ban);
    if room.membership(target) == "ban" && actual < ban_level {
        return Err(AuthError::UnbanNeedsBanLevel {
            required: ban_level,
            actual,
        });
    }
    let (required, target_power) = (room.level(IntField::Kick), room.user_power(target));
    if actual >= required && target_power < actual {
        Ok(())
    } else {
        Err(AuthError::KickNotAllowed {
            required,
            target: target_power,
            actual,
        })
    }
}

/// Rule 5.6.
fn check_ban<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    sender: &str,
    target: &str,
) -> Result<(), AuthError> {
    if room.membership(sender) != "join" {
        return Err(AuthError::SenderNotJoinedForMembershipChange(
            sender.to_owned(),
        ));
    }
    let (required, actual) = (room.level(IntField::Ban), room.user_power(sender));
    let target_power = room.user_power(target);
    if actual >= required && target_power < actual {
        Ok(())
    } else {
        Err(AuthError::BanNotAllowed {
            required,
            target: target_power,
            actual,
        })
    }
}

/// Rule 5.7.
fn check_knock<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    sender: &str,
    target: &str,
) -> Result<(), AuthError> {
    let join_rule = room.join_rule();
    if !matches!(join_rule, "knock" | "knock_restricted") {
        return Err(AuthError::KnockNotAllowed(join_rule.to_owned()));
    }
    if sender != target {
        return Err(AuthError::KnockForOtherUser {
            sender: sender.to_owned(),
            target: target.to_owned(),
        });
    }
    match room.membership(sender) {
        membership @ ("ban" | "invite" | "join") => Err(AuthError::KnockFromInvalidMembership {
            user: sender.to_owned(),
            membership: membership.to_owned(),
        }),
        _ => Ok(()),
    }
}
