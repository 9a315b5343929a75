//! The resolver's view of the authorization rules in [`crate::auth`].

use super::graph::{CREATE, KeyIndex};
use crate::auth::{auth_types_for_event, check_auth, check_auth_events_shape};
use crate::{RoomEvent, RoomVersion};

/// The `(type, state_key)` pairs the rules read for `event`: the keys the iterative auth checks
/// take from the state being resolved.
pub(crate) fn auth_types(version: RoomVersion, event: &impl RoomEvent) -> Vec<(String, String)> {
    auth_types_for_event(
        version,
        event.event_type(),
        event.sender(),
        event.state_key(),
        event.content(),
    )
}

/// Whether the rules allow `event` against the state `lookup` answers.
pub(crate) fn is_allowed<'a, E: RoomEvent + 'a>(
    version: RoomVersion,
    event: &E,
    lookup: impl Fn(&str, &str) -> Option<&'a E>,
) -> bool {
    check_auth(version, event, lookup).is_ok()
}

/// Whether the event's cited auth events pass the rules' own checks on them.
pub(crate) fn auth_events_acceptable<E: RoomEvent>(
    version: RoomVersion,
    event: &E,
    auth_events: &[&E],
    is_rejected: impl Fn(&str) -> bool,
) -> bool {
    check_auth_events_shape(version, event, auth_events, |auth| {
        is_rejected(auth.event_id())
    })
    .is_ok()
}

/// The state events an iterative auth check sees, one per `(type, state_key)`.
pub(crate) struct AuthSet<'a, E> {
    events: Vec<(KeyIndex, &'a E)>,
    /// v12: the create event named by the room ID, whatever else says otherwise.
    room_create: Option<&'a E>,
}

impl<E> Default for AuthSet<'_, E> {
    fn default() -> Self {
        AuthSet {
            events: Vec::new(),
            room_create: None,
        }
    }
}

impl<'a, E: RoomEvent> AuthSet<'a, E> {
    /// Adds `event` under `key`, replacing the event there.
    pub(crate) fn insert(&mut self, key: KeyIndex, event: &'a E) {
        match self.events.iter_mut().find(|(other, _)| *other == key) {
            Some(slot) => slot.1 = event,
            None => self.events.push((key, event)),
        }
    }

    pub(crate) fn set_room_create(&mut self, create: Option<&'a E>) {
        self.room_create = create;
    }

    pub(crate) fn get(&self, event_type: &str, state_key: &str) -> Option<&'a E> {
        if event_type == CREATE && state_key.is_empty() && self.room_create.is_some() {
            return self.room_create;
        }
        self.events
            .iter()
            .map(|&(_, event)| event)
            .find(|event| event.state_key() == Some(state_key) && event.event_type() == event_type)
    }
}
