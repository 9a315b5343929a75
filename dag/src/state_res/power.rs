//! Power events and the sender power level used by the reverse topological power ordering.

use serde_json::Value;

use crate::{RoomEvent, RoomVersion};

/// A sender's power level; room version 12 gives room creators infinite power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Power {
    Level(i64),
    Infinite,
}

/// The power of a room creator when no `m.room.power_levels` event exists (before v12).
const CREATOR_DEFAULT_POWER: i64 = 100;

/// The spec's power event: `m.room.power_levels`, `m.room.join_rules`, or a kick or ban (an
/// `m.room.member` leave or ban whose sender is not its target).
///
/// ruma and Synapse also count `m.room.create`; the module documentation of
/// [`crate::state_res`] explains why that cannot change an answer.
pub(crate) fn is_power_event(event: &impl RoomEvent) -> bool {
    let Some(state_key) = event.state_key() else {
        return false;
    };
    match event.event_type() {
        "m.room.power_levels" | "m.room.join_rules" => state_key.is_empty(),
        "m.room.member" => {
            let membership = event.content().get("membership").and_then(Value::as_str);
            matches!(membership, Some("leave" | "ban")) && event.sender() != state_key
        }
        _ => false,
    }
}

/// The creators of a room from its create event: the sender (`content.creator` in v10), and
/// since v12 the `additional_creators`.
pub(crate) fn is_creator(version: RoomVersion, create: &impl RoomEvent, user: &str) -> bool {
    if version.create_has_creator_field() {
        return create.content().get("creator").and_then(Value::as_str) == Some(user);
    }
    if create.sender() == user {
        return true;
    }
    version.room_id_is_create_hash()
        && create
            .content()
            .get("additional_creators")
            .and_then(Value::as_array)
            .is_some_and(|creators| {
                creators
                    .iter()
                    .any(|creator| creator.as_str() == Some(user))
            })
}

/// A user's level in an `m.room.power_levels` content: `users[user]`, else `users_default`,
/// else 0. Values that are not integers count as absent.
pub(crate) fn user_level(power_levels: &Value, user: &str) -> i64 {
    power_levels
        .get("users")
        .and_then(|users| users.get(user))
        .and_then(Value::as_i64)
        .or_else(|| power_levels.get("users_default").and_then(Value::as_i64))
        .unwrap_or(0)
}

/// The sender's power level "when looking at its auth events", for the power ordering.
///
/// `power_levels` is the `m.room.power_levels` content among the auth events, and `create` the
/// create event: among the auth events before v12, named by the room ID from v12.
pub(crate) fn sender_power<E: RoomEvent>(
    version: RoomVersion,
    event: &E,
    power_levels: Option<&Value>,
    create: Option<&E>,
) -> Power {
    let creator = create.is_some_and(|create| is_creator(version, create, event.sender()));
    if version.room_id_is_create_hash() && (creator || is_own_create(event)) {
        return Power::Infinite;
    }
    match power_levels {
        Some(content) => Power::Level(user_level(content, event.sender())),
        None if creator => Power::Level(CREATOR_DEFAULT_POWER),
        None => Power::Level(0),
    }
}

/// A create event's sender is the creator, whatever the create event's own auth events say.
fn is_own_create(event: &impl RoomEvent) -> bool {
    event.event_type() == "m.room.create" && event.state_key() == Some("")
}
