//! The Matrix authorization rules for room versions 10, 11 and 12, written once over
//! [`RoomEvent`] and free of I/O.
//!
//! Public API:
//! - [`auth_types_for_event`]: the `(type, state_key)` pairs a new event must cite as its
//!   `auth_events` ("auth events selection"; never the create event in v12).
//! - [`check_auth_events_shape`]: rule 3 (rule 2 in v10/v11), checking the cited `auth_events`
//!   themselves: all supplied, no duplicate pairs, only selected pairs, none rejected, all in the
//!   event's room, and the create event among them before v12.
//! - [`servers_that_must_sign`]: the servers whose signatures the caller verifies before the
//!   rules run (the sender's, and the restricted-join authoriser's for rule 5.2).
//! - [`check_auth`]: every other rule, against a state given as a lookup by `(type, state_key)`.
//!   Receipt of a PDU calls it against the event's auth events and against the state before the
//!   event; state resolution calls it in its iterative auth checks. The lookup must answer
//!   `("m.room.create", "")` in every version; in v12 the caller finds the create event from
//!   the room ID.
//! - [`AuthError`]: which rule rejected the event; [`Power`] appears in its messages.
//!
//! Rules not expressible here: whether a cited event was rejected is the caller's knowledge
//! (passed to [`check_auth_events_shape`]); signatures are verified by the caller (see
//! [`servers_that_must_sign`]). `m.room.redaction` events get no special treatment: in these
//! versions the redact level is not an authorization rule, only the ordinary required power level
//! from `events`/`events_default` applies, and whether a redaction takes effect is decided
//! later ("handling redactions").

mod create;
mod error;
mod ids;
mod member;
mod power;
mod power_change;
mod selection;
mod signers;
mod state;
mod third_party;

#[cfg(test)]
mod tests;

pub use error::AuthError;
pub use power::{ParsedPowerLevels, Power};
pub use selection::{auth_types_for_event, check_auth_events_shape};
pub use signers::servers_that_must_sign;

use create::check_create;
use ids::{server_name_of, user_server_name};
use member::check_member;
use power::IntField;
use power_change::check_power_levels;
use state::{CREATE, MEMBER, POWER_LEVELS, RoomState, StateLookup, THIRD_PARTY_INVITE};

use crate::{RoomEvent, RoomVersion};

/// Whether `event` is allowed by the authorization rules of `version` against the room state
/// that `state` looks up by `(type, state_key)`. Rule 3 (the shape of `auth_events`) is
/// [`check_auth_events_shape`]; everything else is here.
pub fn check_auth<'a, E: RoomEvent + 'a>(
    version: RoomVersion,
    event: &E,
    state: impl Fn(&str, &str) -> Option<&'a E>,
) -> Result<(), AuthError> {
    if event.event_type() == CREATE {
        return check_create(version, event);
    }
    let room = RoomState::load(version, state)?;
    check_room_id(version, event, room.create)?;
    check_federation(event, room.create)?;
    if event.event_type() == MEMBER {
        return check_member(&room, event);
    }
    check_sender_may_send(&room, event)
}

/// Rule 2 in v12: the room ID is the create event's ID with `!` for `$`. Earlier versions name
/// the room in the create event, and the event must be in that room.
fn check_room_id<E: RoomEvent>(
    version: RoomVersion,
    event: &E,
    create: &E,
) -> Result<(), AuthError> {
    let room_id = event.room_id().ok_or(AuthError::MissingRoomId)?;
    if version.room_id_is_create_hash() {
        let names_create = room_id
            .strip_prefix('!')
            .is_some_and(|hash| create.event_id().strip_prefix('$') == Some(hash));
        if !names_create {
            return Err(AuthError::RoomIdNotCreateEvent {
                room_id: room_id.to_owned(),
                create_event_id: create.event_id().to_owned(),
            });
        }
    } else if create.room_id() != Some(room_id) {
        return Err(AuthError::RoomIdMismatch {
            room_id: room_id.to_owned(),
            create_room_id: create.room_id().unwrap_or_default().to_owned(),
        });
    }
    Ok(())
}

/// Rule 4: with `m.federate: false` only users on the creator's server may send events.
fn check_federation<E: RoomEvent>(event: &E, create: &E) -> Result<(), AuthError> {
    let sender_server = user_server_name(event.sender())
        .ok_or_else(|| AuthError::InvalidSender(event.sender().to_owned()))?;
    let unfederated = create.content().get("m.federate") == Some(&serde_json::Value::Bool(false));
    if unfederated && server_name_of(create.sender()) != Some(sender_server) {
        return Err(AuthError::NotFederated {
            sender: event.sender().to_owned(),
        });
    }
    Ok(())
}

/// Rules 6 to 10, for every event but create and member events.
fn check_sender_may_send<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    event: &E,
) -> Result<(), AuthError> {
    let sender = event.sender();
    if room.membership(sender) != "join" {
        return Err(AuthError::SenderNotJoined(sender.to_owned()));
    }
    let actual = room.user_power(sender);
    if event.event_type() == THIRD_PARTY_INVITE {
        let required = room.level(IntField::Invite);
        return if actual >= required {
            Ok(())
        } else {
            Err(AuthError::ThirdPartyInviteEventNeedsInviteLevel { required, actual })
        };
    }
    let required = Power::Level(
        room.levels()
            .required_for_event(event.event_type(), event.state_key().is_some()),
    );
    if required > actual {
        return Err(AuthError::InsufficientPower {
            event_type: event.event_type().to_owned(),
            required,
            actual,
        });
    }
    if let Some(state_key) = event.state_key()
        && state_key.starts_with('@')
        && state_key != sender
    {
        return Err(AuthError::StateKeyOfOtherUser {
            state_key: state_key.to_owned(),
            sender: sender.to_owned(),
        });
    }
    if event.event_type() == POWER_LEVELS {
        return check_power_levels(room, event, actual);
    }
    Ok(())
}
