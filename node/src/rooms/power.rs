//! Power levels as the room service reads them for decisions outside the authorization rules:
//! whether a redaction takes effect, who may remove a room alias, and what a client may be
//! offered.

use dag::{Pdu, RoomEvent, RoomVersion};
use serde_json::Value;

/// A user's power in a room: creators of v12 rooms have infinite power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Power {
    Level(i64),
    Creator,
}

/// The power of `user_id` given the room's create event and power levels content.
pub fn user_power(
    version: RoomVersion,
    create: Option<&Pdu>,
    power_levels: Option<&Value>,
    user_id: &str,
) -> Power {
    if version.room_id_is_create_hash() && create.is_some_and(|create| is_creator(create, user_id))
    {
        return Power::Creator;
    }
    match power_levels {
        Some(content) => Power::Level(
            content
                .get("users")
                .and_then(|users| users.get(user_id))
                .or_else(|| content.get("users_default"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
        ),
        // Without power levels the creator has 100 and everyone else 0.
        None if create.is_some_and(|create| create.sender() == user_id) => Power::Level(100),
        None => Power::Level(0),
    }
}

fn is_creator(create: &Pdu, user_id: &str) -> bool {
    create.sender() == user_id
        || create
            .content()
            .get("additional_creators")
            .and_then(Value::as_array)
            .is_some_and(|creators| creators.iter().any(|c| c.as_str() == Some(user_id)))
}

/// A power level field of the content (`redact`, `kick`, …) with the spec's default.
pub fn required_level(power_levels: Option<&Value>, field: &str, default: i64) -> i64 {
    power_levels
        .and_then(|content| content.get(field))
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// Whether `sender` may redact other users' events ("handling redactions", v3+).
pub fn may_redact(
    version: RoomVersion,
    create: Option<&Pdu>,
    power_levels: Option<&Value>,
    sender: &str,
) -> bool {
    user_power(version, create, power_levels, sender)
        >= Power::Level(required_level(power_levels, "redact", 50))
}

/// Whether `sender` has the power to send the state event `event_type`.
pub fn may_send_state(
    version: RoomVersion,
    create: Option<&Pdu>,
    power_levels: Option<&Value>,
    sender: &str,
    event_type: &str,
) -> bool {
    let required = power_levels
        .and_then(|content| content.get("events"))
        .and_then(|events| events.get(event_type))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| required_level(power_levels, "state_default", 50));
    user_power(version, create, power_levels, sender) >= Power::Level(required)
}
