//! Rule 10: who may change `m.room.power_levels`, and to what.

use std::collections::{BTreeMap, BTreeSet};

use super::error::AuthError;
use super::power::{IntField, Power, PowerLevels, levels_of};
use super::state::{RoomState, StateLookup};
use crate::RoomEvent;

/// Rule 10. `sender_power` is the sender's power in the current state.
pub fn check_power_levels<'a, E: RoomEvent + 'a, S: StateLookup<'a, E>>(
    room: &RoomState<'a, E, S>,
    event: &E,
    sender_power: Power,
) -> Result<(), AuthError> {
    let new = levels_of(event)?;
    let creator_listed = room
        .creators()
        .iter()
        .find(|creator| new.users.contains_key(**creator));
    if room.version.room_id_is_create_hash()
        && let Some(creator) = creator_listed
    {
        return Err(AuthError::PowerLevelUsersContainsCreator(
            (*creator).to_owned(),
        ));
    }
    if !room.has_power_levels_event() {
        return Ok(());
    }
    let current = room.levels();
    check_int_fields(current, &new, sender_power)?;
    let too_high = |current_level: i64| Power::Level(current_level) > sender_power;
    check_map_changes(
        "events",
        &current.events,
        &new.events,
        sender_power,
        too_high,
    )?;
    check_map_changes(
        "notifications",
        &current.notifications,
        &new.notifications,
        sender_power,
        too_high,
    )?;
    check_users(&current.users, &new.users, event.sender(), sender_power)
}

/// Rule 10.6: an added, changed or removed integer property may neither have been nor become
/// higher than the sender's power. An absent property counts as its default value, as the
/// spec's "power levels are inferred from defaults" says.
fn check_int_fields(
    current: &PowerLevels,
    new: &PowerLevels,
    sender_power: Power,
) -> Result<(), AuthError> {
    for field in IntField::ALL {
        if current.explicit(field) == new.explicit(field) {
            continue;
        }
        let (current_level, new_level) = (current.get(field), new.get(field));
        if Power::Level(current_level) > sender_power || Power::Level(new_level) > sender_power {
            return Err(AuthError::PowerLevelChangeTooHigh {
                field: field.key().to_owned(),
                current: describe(current.explicit(field)),
                new: describe(new.explicit(field)),
                actual: sender_power,
            });
        }
    }
    Ok(())
}

/// Rules 10.7 and 10.8 (and 10.10 for `users`): an entry being changed or removed is refused
/// when `current_too_high` says so of its current value; an entry being added or changed may
/// not become higher than the sender's power.
fn check_map_changes(
    property: &str,
    current: &BTreeMap<String, i64>,
    new: &BTreeMap<String, i64>,
    sender_power: Power,
    current_too_high: impl Fn(i64) -> bool,
) -> Result<(), AuthError> {
    let keys: BTreeSet<&str> = current
        .keys()
        .chain(new.keys())
        .map(String::as_str)
        .collect();
    for key in keys {
        let (current_level, new_level) = (current.get(key).copied(), new.get(key).copied());
        if current_level == new_level {
            continue;
        }
        let refused = current_level.is_some_and(&current_too_high)
            || new_level.is_some_and(|level| Power::Level(level) > sender_power);
        if refused {
            return Err(AuthError::PowerLevelChangeTooHigh {
                field: format!("{property}.{key}"),
                current: describe(current_level),
                new: describe(new_level),
                actual: sender_power,
            });
        }
    }
    Ok(())
}

/// Rules 10.9 and 10.10: nobody may change or remove the entry of another user whose current
/// level is at least their own, nor give anyone more than their own power.
fn check_users(
    current: &BTreeMap<String, i64>,
    new: &BTreeMap<String, i64>,
    sender: &str,
    sender_power: Power,
) -> Result<(), AuthError> {
    let peer_or_superior =
        |user: &str, level: i64| user != sender && Power::Level(level) >= sender_power;
    let changed_peer = current
        .iter()
        .find(|(user, level)| new.get(*user) != Some(*level) && peer_or_superior(user, **level));
    if let Some((user, _)) = changed_peer {
        return Err(AuthError::PowerLevelOfPeerOrSuperior {
            user: user.clone(),
            actual: sender_power,
        });
    }
    check_map_changes("users", current, new, sender_power, |_| false)
}

fn describe(level: Option<i64>) -> String {
    level.map_or_else(|| "absent".to_owned(), |level| level.to_string())
}
