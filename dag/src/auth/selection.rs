//! Which state events an event must cite as its `auth_events` (server-server API, "Auth events
//! selection") and rule 3, which checks the cited list against that selection.

use std::collections::HashSet;

use serde_json::Value;

use super::error::AuthError;
use super::state::{CREATE, JOIN_RULES, MEMBER, POWER_LEVELS, THIRD_PARTY_INVITE};
use crate::{RoomEvent, RoomVersion};

/// The `(type, state_key)` pairs a new event's `auth_events` are selected from, in a stable
/// order and without duplicates. An `m.room.create` event has none; in v12 the create event is
/// never selected because the room ID names it. Malformed member content selects only what can
/// be read from it; rule 5.1 rejects such an event anyway.
pub fn auth_types_for_event(
    version: RoomVersion,
    event_type: &str,
    sender: &str,
    state_key: Option<&str>,
    content: &Value,
) -> Vec<(String, String)> {
    if event_type == CREATE {
        return Vec::new();
    }
    let mut types = Vec::new();
    let mut select = |event_type: &str, state_key: &str| {
        let key = (event_type.to_owned(), state_key.to_owned());
        if !types.contains(&key) {
            types.push(key);
        }
    };
    if !version.room_id_is_create_hash() {
        select(CREATE, "");
    }
    select(POWER_LEVELS, "");
    select(MEMBER, sender);
    if event_type == MEMBER {
        if let Some(target) = state_key {
            select(MEMBER, target);
        }
        let membership = content.get("membership").and_then(Value::as_str);
        if matches!(membership, Some("join" | "invite" | "knock")) {
            select(JOIN_RULES, "");
        }
        if membership == Some("invite")
            && let Some(token) = third_party_invite_token(content)
        {
            select(THIRD_PARTY_INVITE, token);
        }
        let authoriser = content
            .get("join_authorised_via_users_server")
            .and_then(Value::as_str);
        if membership == Some("join")
            && let Some(authoriser) = authoriser
        {
            select(MEMBER, authoriser);
        }
    }
    types
}

fn third_party_invite_token(content: &Value) -> Option<&str> {
    content
        .get("third_party_invite")?
        .get("signed")?
        .get("token")?
        .as_str()
}

/// Rule 3 for a non-create event: `auth_events` are the resolved events the event cites,
/// and `is_rejected` says whether one of them was itself rejected. Every cited ID must be
/// supplied, no pair may repeat, every entry must be selected for this event and in its room,
/// and before v12 the create event must be among them. A create event is decided by rule 1
/// alone and passes here.
pub fn check_auth_events_shape<E: RoomEvent>(
    version: RoomVersion,
    event: &E,
    auth_events: &[&E],
    is_rejected: impl Fn(&E) -> bool,
) -> Result<(), AuthError> {
    if event.event_type() == CREATE {
        return Ok(());
    }
    check_supplied_match_cited(event, auth_events)?;
    let selected = auth_types_for_event(
        version,
        event.event_type(),
        event.sender(),
        event.state_key(),
        event.content(),
    );
    let mut seen = HashSet::new();
    for auth_event in auth_events {
        let event_id = || auth_event.event_id().to_owned();
        let state_key = auth_event
            .state_key()
            .ok_or_else(|| AuthError::AuthEventNotState {
                event_id: event_id(),
            })?;
        let key = (auth_event.event_type(), state_key);
        if !seen.insert(key) {
            return Err(AuthError::DuplicateAuthEvent {
                event_type: key.0.to_owned(),
                state_key: key.1.to_owned(),
            });
        }
        if !selected
            .iter()
            .any(|(t, k)| (t.as_str(), k.as_str()) == key)
        {
            return Err(AuthError::UnexpectedAuthEvent {
                event_id: event_id(),
                event_type: key.0.to_owned(),
                state_key: key.1.to_owned(),
            });
        }
        if is_rejected(auth_event) {
            return Err(AuthError::RejectedAuthEvent {
                event_id: event_id(),
            });
        }
        if auth_event.room_id() != event.room_id() {
            return Err(AuthError::AuthEventInOtherRoom {
                event_id: event_id(),
            });
        }
    }
    if !version.room_id_is_create_hash() && !seen.contains(&(CREATE, "")) {
        return Err(AuthError::MissingCreateAuthEvent);
    }
    Ok(())
}

/// The supplied events are exactly the ones the event cites, each cited once, so rule 3 sees
/// the whole list.
fn check_supplied_match_cited<E: RoomEvent>(
    event: &E,
    auth_events: &[&E],
) -> Result<(), AuthError> {
    let mut cited = HashSet::new();
    if let Some(repeated) = event
        .auth_events()
        .find(|event_id| !cited.insert(*event_id))
    {
        return Err(AuthError::RepeatedAuthEventId {
            event_id: repeated.to_owned(),
        });
    }
    let supplied: HashSet<&str> = auth_events.iter().map(|e| e.event_id()).collect();
    if let Some(missing) = cited.difference(&supplied).next() {
        return Err(AuthError::MissingAuthEvent {
            event_id: (*missing).to_owned(),
        });
    }
    if let Some(extra) = supplied.difference(&cited).next() {
        return Err(AuthError::AuthEventNotListed {
            event_id: (*extra).to_owned(),
        });
    }
    Ok(())
}
