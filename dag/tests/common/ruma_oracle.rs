//! ruma-state-res as an oracle: the same fixture events and state maps, resolved by ruma.

use std::collections::{HashMap, HashSet};

use dag::RoomVersion;
use dag::state_res::StateMap;
use dag::state_res::fixture::FixtureEvent;
use ruma_common::room_version_rules::{
    AuthorizationRules, RoomVersionRules, StateResolutionV2Rules,
};
use ruma_common::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId,
};
use ruma_events::{StateEventType, TimelineEventType};
use ruma_state_res::utils::event_id_set::EventIdSet;
use serde_json::value::RawValue;

/// A fixture event in ruma's types.
pub struct RumaEvent {
    event_id: OwnedEventId,
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    event_type: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    prev_events: Vec<OwnedEventId>,
    auth_events: Vec<OwnedEventId>,
    rejected: bool,
}

impl RumaEvent {
    pub fn new(event: &FixtureEvent) -> Self {
        let ids = |ids: &[String]| {
            ids.iter()
                .map(|id| id.as_str().try_into().unwrap())
                .collect()
        };
        RumaEvent {
            event_id: event.event_id.as_str().try_into().unwrap(),
            room_id: event.room_id.as_deref().map(|id| id.try_into().unwrap()),
            sender: event.sender.as_str().try_into().unwrap(),
            origin_server_ts: MilliSecondsSinceUnixEpoch((event.origin_server_ts as u32).into()),
            event_type: event.event_type.as_str().into(),
            content: serde_json::value::to_raw_value(&event.content).unwrap(),
            state_key: event.state_key.clone(),
            prev_events: ids(&event.prev_events),
            auth_events: ids(&event.auth_events),
            rejected: event.rejected,
        }
    }
}

impl ruma_state_res::Event for RumaEvent {
    type Id = OwnedEventId;

    fn event_id(&self) -> &OwnedEventId {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id.as_deref()
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.event_type
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&OwnedEventId> {
        None
    }

    fn rejected(&self) -> bool {
        self.rejected
    }
}

/// Everything ruma's `resolve` needs besides the events: it leaves auth chains and the conflicted
/// state subgraph to the caller, who (like a server with an auth chain index) has them at hand,
/// so both are computed here, before any timing.
pub struct RumaInput {
    rules: AuthorizationRules,
    state_res: StateResolutionV2Rules,
    events: HashMap<OwnedEventId, RumaEvent>,
    pub states: Vec<ruma_state_res::StateMap<OwnedEventId>>,
    pub auth_chains: Vec<EventIdSet<OwnedEventId>>,
    subgraph: EventIdSet<OwnedEventId>,
}

impl RumaInput {
    pub fn new(version: RoomVersion, events: &[FixtureEvent], states: &[StateMap<String>]) -> Self {
        let rules = match version {
            RoomVersion::V10 => RoomVersionRules::V10,
            RoomVersion::V11 => RoomVersionRules::V11,
            RoomVersion::V12 => RoomVersionRules::V12,
        };
        let events: HashMap<OwnedEventId, RumaEvent> = events
            .iter()
            .map(|event| {
                (
                    event.event_id.as_str().try_into().unwrap(),
                    RumaEvent::new(event),
                )
            })
            .collect();
        let states: Vec<_> = states.iter().map(to_ruma_state).collect();
        let auth_chains = states
            .iter()
            .map(|state| auth_chain_of_state(state, &events))
            .collect();
        let state_res = *rules.state_res.v2_rules().unwrap();
        let subgraph = if state_res.consider_conflicted_state_subgraph {
            conflicted_subgraph(&conflicted_events(&states), &events)
        } else {
            EventIdSet::new()
        };
        RumaInput {
            rules: rules.authorization,
            state_res,
            events,
            states,
            auth_chains,
            subgraph,
        }
    }

    /// ruma's answer, or its error as a string.
    pub fn resolve(&self) -> Result<StateMap<String>, String> {
        self.resolve_with(self.auth_chains.clone())
    }

    /// As [`Self::resolve`], with the auth chains (which ruma consumes) given.
    pub fn resolve_with(
        &self,
        auth_chains: Vec<EventIdSet<OwnedEventId>>,
    ) -> Result<StateMap<String>, String> {
        let resolved = ruma_state_res::resolve(
            &self.rules,
            &self.state_res,
            &self.states,
            auth_chains,
            |id: &EventId| self.events.get(id),
            |_| Some(self.subgraph.clone()),
        )
        .map_err(|error| error.to_string())?;
        Ok(resolved
            .into_iter()
            .map(|((event_type, state_key), id)| {
                ((event_type.to_string(), state_key), id.to_string())
            })
            .collect())
    }
}

fn to_ruma_state(state: &StateMap<String>) -> ruma_state_res::StateMap<OwnedEventId> {
    state
        .iter()
        .map(|((event_type, state_key), id)| {
            (
                (StateEventType::from(event_type.as_str()), state_key.clone()),
                id.as_str().try_into().unwrap(),
            )
        })
        .collect()
}

/// The union of the auth chains of a state's events (not the events themselves), one walk.
fn auth_chain_of_state(
    state: &ruma_state_res::StateMap<OwnedEventId>,
    events: &HashMap<OwnedEventId, RumaEvent>,
) -> EventIdSet<OwnedEventId> {
    let mut chain = EventIdSet::new();
    let mut stack: Vec<&OwnedEventId> = state
        .values()
        .flat_map(|id| events[id].auth_events.iter())
        .collect();
    while let Some(id) = stack.pop() {
        if chain.insert(id.clone()) {
            stack.extend(events[id].auth_events.iter());
        }
    }
    chain
}

/// The events of the conflicted state set: values of keys on which the states do not all agree.
fn conflicted_events(states: &[ruma_state_res::StateMap<OwnedEventId>]) -> HashSet<&OwnedEventId> {
    let keys: HashSet<_> = states.iter().flat_map(|state| state.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            let first = states[0].get(*key);
            first.is_none() || states.iter().any(|state| state.get(*key) != first)
        })
        .flat_map(|key| states.iter().filter_map(move |state| state.get(key)))
        .collect()
}

/// Events on auth paths between conflicted events: auth ancestors of a conflicted event that
/// have a conflicted auth ancestor or are conflicted.
fn conflicted_subgraph(
    targets: &HashSet<&OwnedEventId>,
    events: &HashMap<OwnedEventId, RumaEvent>,
) -> EventIdSet<OwnedEventId> {
    let mut below: Vec<&OwnedEventId> = targets.iter().copied().collect();
    let mut seen: HashSet<&OwnedEventId> = targets.clone();
    let mut index = 0;
    while index < below.len() {
        for auth in &events[below[index]].auth_events {
            if seen.insert(auth) {
                below.push(auth);
            }
        }
        index += 1;
    }
    let mut reaches: HashMap<&OwnedEventId, bool> = HashMap::new();
    let mut subgraph = EventIdSet::new();
    for &start in &below {
        if reaches_target(start, targets, events, &mut reaches) {
            subgraph.insert(start.clone());
        }
    }
    subgraph
}

fn reaches_target<'e>(
    start: &'e OwnedEventId,
    targets: &HashSet<&OwnedEventId>,
    events: &'e HashMap<OwnedEventId, RumaEvent>,
    memo: &mut HashMap<&'e OwnedEventId, bool>,
) -> bool {
    let mut stack = vec![start];
    while let Some(&top) = stack.last() {
        if memo.contains_key(top) {
            stack.pop();
            continue;
        }
        let auth = &events[top].auth_events;
        if let Some(pending) = auth.iter().find(|auth| !memo.contains_key(*auth)) {
            stack.push(pending);
            continue;
        }
        let reaches = targets.contains(top) || auth.iter().any(|auth| memo[auth]);
        memo.insert(top, reaches);
        stack.pop();
    }
    memo[start]
}
