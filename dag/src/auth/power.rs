//! Power levels as the authorization rules read them: the content of an `m.room.power_levels`
//! event, validated the way room versions 10 and later require (integers only, never strings),
//! with the spec's defaults for everything left out.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::error::AuthError;
use super::ids::is_valid_user_id;
use crate::RoomEvent;
use crate::canonical_json::MAX_SAFE_INTEGER;

/// A user's power. Room creators in version 12 outrank every finite level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Power {
    Level(i64),
    Creator,
}

impl fmt::Display for Power {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Power::Level(level) => write!(f, "{level}"),
            Power::Creator => f.write_str("infinite (room creator)"),
        }
    }
}

/// The integer properties of the power levels content whose changes rule 10.6 restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntField {
    UsersDefault,
    EventsDefault,
    StateDefault,
    Ban,
    Redact,
    Kick,
    Invite,
}

impl IntField {
    pub const ALL: [IntField; 7] = [
        IntField::UsersDefault,
        IntField::EventsDefault,
        IntField::StateDefault,
        IntField::Ban,
        IntField::Redact,
        IntField::Kick,
        IntField::Invite,
    ];

    pub fn key(self) -> &'static str {
        match self {
            IntField::UsersDefault => "users_default",
            IntField::EventsDefault => "events_default",
            IntField::StateDefault => "state_default",
            IntField::Ban => "ban",
            IntField::Redact => "redact",
            IntField::Kick => "kick",
            IntField::Invite => "invite",
        }
    }

    /// The value the spec uses when the property is absent, and also when there is no power
    /// levels event at all (where `state_default` is 50, as every other server treats it).
    pub fn default_value(self) -> i64 {
        match self {
            IntField::UsersDefault | IntField::EventsDefault | IntField::Invite => 0,
            IntField::StateDefault | IntField::Ban | IntField::Redact | IntField::Kick => 50,
        }
    }
}

/// The validated content of an `m.room.power_levels` event. `PowerLevels::default()` is the room
/// with no power levels event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerLevels {
    ints: [Option<i64>; IntField::ALL.len()],
    pub events: BTreeMap<String, i64>,
    pub notifications: BTreeMap<String, i64>,
    pub users: BTreeMap<String, i64>,
}

/// What validating a power levels content gave, as an event may keep it
/// ([`RoomEvent::parsed_power_levels`]): every rule check reads the room's power levels, so
/// parsing (and validating every user ID) once per event instead of once per check matters.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPowerLevels(Result<PowerLevels, AuthError>);

impl ParsedPowerLevels {
    pub fn of(content: &Value) -> ParsedPowerLevels {
        ParsedPowerLevels(PowerLevels::from_content(content))
    }
}

/// The validated power levels of `event`'s content: the event's own parse if it keeps one.
pub fn levels_of<E: RoomEvent>(event: &E) -> Result<Cow<'_, PowerLevels>, AuthError> {
    match event.parsed_power_levels() {
        Some(ParsedPowerLevels(parsed)) => parsed.as_ref().map(Cow::Borrowed).map_err(Clone::clone),
        None => PowerLevels::from_content(event.content()).map(Cow::Owned),
    }
}

impl PowerLevels {
    /// Validates `content` by rules 10.1 to 10.3: the integer properties are integers, `events`
    /// and `notifications` are objects of integers, `users` maps valid user IDs to integers.
    pub fn from_content(content: &Value) -> Result<Self, AuthError> {
        let mut levels = PowerLevels::default();
        for (slot, field) in levels.ints.iter_mut().zip(IntField::ALL) {
            *slot = match content.get(field.key()) {
                None => None,
                Some(value) => Some(
                    as_integer(value)
                        .ok_or_else(|| AuthError::PowerLevelNotInteger(field.key().to_owned()))?,
                ),
            };
        }
        levels.events = integer_map(content, "events")?;
        levels.notifications = integer_map(content, "notifications")?;
        levels.users = users_map(content)?;
        Ok(levels)
    }

    /// The property as written in the content, `None` when absent.
    pub fn explicit(&self, field: IntField) -> Option<i64> {
        self.ints[field as usize]
    }

    pub fn get(&self, field: IntField) -> i64 {
        self.explicit(field)
            .unwrap_or_else(|| field.default_value())
    }

    /// The level an event of this type needs: its `events` entry, else `state_default` for state
    /// events and `events_default` for the rest.
    pub fn required_for_event(&self, event_type: &str, is_state: bool) -> i64 {
        match self.events.get(event_type) {
            Some(level) => *level,
            None if is_state => self.get(IntField::StateDefault),
            None => self.get(IntField::EventsDefault),
        }
    }

    /// The level of a user this content names or defaults, ignoring creators.
    pub fn listed_user_level(&self, user_id: &str) -> i64 {
        self.users
            .get(user_id)
            .copied()
            .unwrap_or_else(|| self.get(IntField::UsersDefault))
    }
}

/// A JSON integer in the range canonical JSON allows. Strings and floats are not integers.
fn as_integer(value: &Value) -> Option<i64> {
    value.as_i64().filter(|n| n.abs() <= MAX_SAFE_INTEGER)
}

fn integer_map(content: &Value, key: &str) -> Result<BTreeMap<String, i64>, AuthError> {
    let not_integers = || AuthError::PowerLevelMapNotIntegers(key.to_owned());
    match content.get(key) {
        None => Ok(BTreeMap::new()),
        Some(value) => value
            .as_object()
            .ok_or_else(not_integers)?
            .iter()
            .map(|(name, level)| Ok((name.clone(), as_integer(level).ok_or_else(not_integers)?)))
            .collect(),
    }
}

fn users_map(content: &Value) -> Result<BTreeMap<String, i64>, AuthError> {
    let users = integer_map(content, "users")?;
    match users.keys().find(|user_id| !is_valid_user_id(user_id)) {
        Some(invalid) => Err(AuthError::PowerLevelUserIdInvalid(invalid.clone())),
        None => Ok(users),
    }
}
