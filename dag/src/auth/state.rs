//! The room state an event is authorized against, read through the caller's lookup, with the
//! derived facts every rule needs (creators, power levels, memberships) computed once.

use std::borrow::Cow;

use super::create::creators;
use super::error::AuthError;
use super::power::{IntField, Power, PowerLevels, levels_of};
use crate::{RoomEvent, RoomVersion};

pub const CREATE: &str = "m.room.create";
pub const MEMBER: &str = "m.room.member";
pub const POWER_LEVELS: &str = "m.room.power_levels";
pub const JOIN_RULES: &str = "m.room.join_rules";
pub const THIRD_PARTY_INVITE: &str = "m.room.third_party_invite";

/// Where there is no join rules event the room is invite-only, as other servers assume.
const DEFAULT_JOIN_RULE: &str = "invite";
/// A user with no member event has left (or never joined).
const NO_MEMBERSHIP: &str = "leave";
/// Before v12, the creator's level while the room has no power levels event.
const CREATOR_LEVEL_WITHOUT_POWER_LEVELS: i64 = 100;

/// Looks up the current state event with a given type and state key.
pub trait StateLookup<'a, E: 'a>: Fn(&str, &str) -> Option<&'a E> {}

impl<'a, E: 'a, F: Fn(&str, &str) -> Option<&'a E>> StateLookup<'a, E> for F {}

pub struct RoomState<'a, E, S> {
    pub version: RoomVersion,
    lookup: S,
    pub create: &'a E,
    creators: Vec<&'a str>,
    has_power_levels_event: bool,
    /// The defaults when the room has no power levels event.
    levels: Cow<'a, PowerLevels>,
}

impl<'a, E, S> RoomState<'a, E, S>
where
    E: RoomEvent + 'a,
    S: StateLookup<'a, E>,
{
    pub fn load(version: RoomVersion, lookup: S) -> Result<Self, AuthError> {
        let create = lookup(CREATE, "").ok_or(AuthError::NoCreateEvent)?;
        let creators = creators(version, create)
            .map_err(|_| AuthError::MalformedState("the m.room.create event"))?;
        let power_levels_event = lookup(POWER_LEVELS, "");
        let levels = match power_levels_event {
            Some(event) => levels_of(event)
                .map_err(|_| AuthError::MalformedState("the current m.room.power_levels event"))?,
            None => Cow::Owned(PowerLevels::default()),
        };
        Ok(RoomState {
            version,
            lookup,
            create,
            creators,
            has_power_levels_event: power_levels_event.is_some(),
            levels,
        })
    }

    pub fn get(&self, event_type: &str, state_key: &str) -> Option<&'a E> {
        (self.lookup)(event_type, state_key)
    }

    pub fn has_power_levels_event(&self) -> bool {
        self.has_power_levels_event
    }

    pub fn is_creator(&self, user_id: &str) -> bool {
        self.creators.contains(&user_id)
    }

    pub fn creators(&self) -> &[&'a str] {
        &self.creators
    }

    /// The user's current membership; accepted member events always carry a string membership,
    /// so anything else reads as a membership no rule matches.
    pub fn membership(&self, user_id: &str) -> &'a str {
        match self.get(MEMBER, user_id) {
            None => NO_MEMBERSHIP,
            Some(member) => member
                .content()
                .get("membership")
                .and_then(|m| m.as_str())
                .unwrap_or(""),
        }
    }

    /// The current join rule. Join rules events are not validated by the auth rules, so a
    /// non-string `join_rule` reads as a rule that allows nothing.
    pub fn join_rule(&self) -> &'a str {
        let Some(join_rules) = self.get(JOIN_RULES, "") else {
            return DEFAULT_JOIN_RULE;
        };
        match join_rules.content().get("join_rule") {
            None => DEFAULT_JOIN_RULE,
            Some(rule) => rule.as_str().unwrap_or(""),
        }
    }

    /// The current power levels; the defaults when the room has no power levels event.
    pub fn levels(&self) -> &PowerLevels {
        &self.levels
    }

    pub fn level(&self, field: IntField) -> Power {
        Power::Level(self.levels.get(field))
    }

    /// A user's current power: v12 creators are above every level; otherwise the power levels
    /// event decides, and without one the creator has 100 and everybody else 0.
    pub fn user_power(&self, user_id: &str) -> Power {
        if self.version.room_id_is_create_hash() && self.is_creator(user_id) {
            return Power::Creator;
        }
        if !self.has_power_levels_event && self.is_creator(user_id) {
            return Power::Level(CREATOR_LEVEL_WITHOUT_POWER_LEVELS);
        }
        Power::Level(self.levels.listed_user_level(user_id))
    }
}
