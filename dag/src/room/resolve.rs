//! State resolution over a [`RoomStore`]: the events the resolver may read are fetched first.

use std::collections::HashMap;
use std::sync::Arc;

use super::store::{EventStatus, RoomStore, StoredEvent};
use super::{ReceiveError, State};
use crate::state_res::{self, EventSource, StateMap};
use crate::{Pdu, RoomEvent, RoomVersion};

/// The resolution of `states`; a single state, or identical ones, need no resolution.
pub(super) fn resolve_states(
    store: &impl RoomStore,
    version: RoomVersion,
    states: &[State],
) -> Result<State, ReceiveError> {
    resolve_states_with(store, None, version, states)
}

/// Like [`resolve_states`], where `pending` is an event not yet in the store that the states
/// may name.
pub(super) fn resolve_states_with(
    store: &impl RoomStore,
    pending: Option<&StoredEvent>,
    version: RoomVersion,
    states: &[State],
) -> Result<State, ReceiveError> {
    let Some(first) = states.first() else {
        return Ok(State::default());
    };
    if states.iter().all(|state| state == first) {
        return Ok(first.clone());
    }
    let source = Prefetched::load(store, pending, states);
    let maps: Vec<StateMap<String>> = states.iter().map(State::to_map).collect();
    Ok(State::from(state_res::resolve(version, &maps, &source)?))
}

/// The events of the given states and of their auth chains.
struct Prefetched {
    events: HashMap<String, Arc<StoredEvent>>,
}

impl Prefetched {
    fn load(store: &impl RoomStore, pending: Option<&StoredEvent>, states: &[State]) -> Prefetched {
        let mut events = HashMap::new();
        let fetch = |id: &str| match pending {
            Some(event) if event.pdu.event_id() == id => Some(Arc::new(event.clone())),
            _ => store.event(id),
        };
        let mut pending: Vec<String> = states.iter().flat_map(|s| s.values().cloned()).collect();
        while let Some(id) = pending.pop() {
            if events.contains_key(&id) {
                continue;
            }
            if let Some(event) = fetch(&id) {
                pending.extend(event.pdu.auth_events().map(str::to_owned));
                events.insert(id, event);
            }
        }
        Prefetched { events }
    }
}

impl EventSource for Prefetched {
    type Event = Pdu;

    fn event(&self, event_id: &str) -> Option<&Pdu> {
        self.events.get(event_id).map(|e| &*e.pdu)
    }

    fn is_rejected(&self, event_id: &str) -> bool {
        self.events
            .get(event_id)
            .is_some_and(|e| e.status == EventStatus::Rejected)
    }
}
