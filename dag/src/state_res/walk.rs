//! The state of a whole room DAG, computed the way a server that received every event would.
//!
//! Events are visited in a topological order of their `prev_events` and `auth_events`. The state
//! before an event is the resolution of the states after its `prev_events` (with one parent,
//! that parent's state as is). An event is accepted only if its auth events pass the auth rules'
//! own checks (none rejected, no duplicates or unexpected types, the create event among them
//! before v12), the rules allow it against its auth events, and they allow it against the state
//! before it. An accepted state event enters the state after it; any other event changes nothing
//! and is marked rejected. Rejected events are never used as auth events, but a later resolution
//! checks them as usual when they are in its conflicted set. The answer is the resolution of the
//! states after the forward extremities (the events no event cites in `prev_events`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};

use foldhash::quality::FixedState;

use super::algorithm::{InternedState, Resolver};
use super::{EventSource, ResolveError, StateMap, authz};
use crate::{RoomEvent, RoomVersion};

/// Why a DAG cannot be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("event {event_id} cites {cited_id} in its {field}, which is not among the events")]
    UnknownEvent {
        event_id: String,
        cited_id: String,
        field: &'static str,
    },
    #[error("event {event_id} is on a cycle of prev_events and auth_events")]
    Cycle { event_id: String },
    #[error("event {event_id} appears twice")]
    DuplicateEvent { event_id: String },
    #[error("there is no m.room.create event")]
    NoCreateEvent,
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// The outcome of walking a DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagState {
    /// The resolution of the states after the forward extremities.
    pub state: StateMap<String>,
    /// The events the walk rejected, in the order it visited them.
    pub rejected: Vec<String>,
}

/// Walks the DAG formed by `events`, all of which `source` must know, and returns its state.
///
/// An event that `source` already reports as rejected stays rejected.
pub fn resolve_dag<'a, S: EventSource>(
    version: RoomVersion,
    source: &'a S,
    events: &[&'a S::Event],
) -> Result<DagState, WalkError> {
    let order = topological_order(events)?;
    if !events.iter().any(|event| is_create(*event)) {
        return Err(WalkError::NoCreateEvent);
    }
    let walk_source = WalkSource {
        inner: source,
        rejected: RefCell::default(),
    };
    let mut walk = Walk::new(version, &walk_source, events);
    for position in order {
        walk.visit(events[position])?;
    }
    walk.finish()
}

fn is_create(event: &impl RoomEvent) -> bool {
    event.event_type() == "m.room.create" && event.state_key() == Some("")
}

/// `source`, with the walk's own rejections added as it makes them. An event's rejection is
/// decided before anything can cite it, so the resolver never sees it change.
struct WalkSource<'a, S> {
    inner: &'a S,
    rejected: RefCell<HashSet<String, FixedState>>,
}

impl<S: EventSource> EventSource for WalkSource<'_, S> {
    type Event = S::Event;

    fn event(&self, event_id: &str) -> Option<&S::Event> {
        self.inner.event(event_id)
    }

    fn is_rejected(&self, event_id: &str) -> bool {
        self.inner.is_rejected(event_id) || self.rejected.borrow().contains(event_id)
    }
}

struct Walk<'w, 'a, S: EventSource> {
    source: &'w WalkSource<'a, S>,
    resolver: Resolver<'w, WalkSource<'a, S>>,
    /// How many events not yet visited cite each event in `prev_events`.
    waiting_children: HashMap<&'a str, usize, FixedState>,
    /// The state after each visited event that some unvisited event still needs, or that no
    /// event cites (a forward extremity).
    state_after: HashMap<&'a str, InternedState, FixedState>,
    rejected: Vec<String>,
}

impl<'w, 'a: 'w, S: EventSource> Walk<'w, 'a, S> {
    fn new(version: RoomVersion, source: &'w WalkSource<'a, S>, events: &[&'a S::Event]) -> Self {
        let mut waiting_children: HashMap<&'a str, usize, FixedState> = HashMap::default();
        for event in events {
            for prev in event.prev_events() {
                *waiting_children.entry(prev).or_default() += 1;
            }
        }
        Walk {
            source,
            resolver: Resolver::new(version, source),
            waiting_children,
            state_after: HashMap::default(),
            rejected: Vec::new(),
        }
    }

    fn visit(&mut self, event: &'a S::Event) -> Result<(), WalkError> {
        let before = self.state_before(event);
        let mut after = before;
        if self.is_accepted(event, &after) {
            if event.state_key().is_some() {
                let index = self.resolver.graph.intern(event.event_id())?;
                if let Some(key) = self.resolver.graph.node(index).key {
                    after.insert(key, index);
                }
            }
        } else {
            self.source
                .rejected
                .borrow_mut()
                .insert(event.event_id().to_owned());
            self.rejected.push(event.event_id().to_owned());
        }
        self.state_after.insert(event.event_id(), after);
        Ok(())
    }

    /// The resolution of the states after the event's `prev_events`, releasing those no later
    /// event needs.
    fn state_before(&mut self, event: &'a S::Event) -> InternedState {
        let parents: Vec<InternedState> = event
            .prev_events()
            .filter_map(|prev| self.take_state_after(prev))
            .collect();
        self.resolver.resolve_interned(&parents)
    }

    fn take_state_after(&mut self, event_id: &str) -> Option<InternedState> {
        let waiting = self.waiting_children.get_mut(event_id)?;
        *waiting -= 1;
        if *waiting == 0 {
            self.state_after.remove(event_id)
        } else {
            self.state_after.get(event_id).cloned()
        }
    }

    fn is_accepted(&self, event: &'a S::Event, before: &InternedState) -> bool {
        let version = self.resolver.graph.version;
        if self.source.is_rejected(event.event_id()) {
            return false;
        }
        let auth_events: Vec<&'a S::Event> = event
            .auth_events()
            .filter_map(|id| self.source.inner.event(id))
            .collect();
        let rejected = |id: &str| self.source.is_rejected(id);
        if !authz::auth_events_acceptable(version, event, &auth_events, rejected) {
            return false;
        }
        let by_auth_events = |event_type: &str, state_key: &str| {
            auth_events
                .iter()
                .copied()
                .find(|auth| auth.event_type() == event_type && auth.state_key() == Some(state_key))
        };
        let graph = &self.resolver.graph;
        let by_state = |event_type: &str, state_key: &str| {
            let key = graph.find_key(event_type, state_key)?;
            before.get(&key).map(|&index| graph.node(index).event)
        };
        authz::is_allowed(version, event, by_auth_events)
            && authz::is_allowed(version, event, by_state)
    }

    fn finish(mut self) -> Result<DagState, WalkError> {
        let extremities: Vec<InternedState> =
            self.state_after.drain().map(|(_, state)| state).collect();
        let resolved = self.resolver.resolve_interned(&extremities);
        Ok(DagState {
            state: self.resolver.export_state(&resolved),
            rejected: self.rejected,
        })
    }
}

/// Positions of `events` in an order where every event follows its `prev_events` and
/// `auth_events`.
fn topological_order<E: RoomEvent>(events: &[&E]) -> Result<Vec<usize>, WalkError> {
    let mut position: HashMap<&str, usize, FixedState> =
        HashMap::with_capacity_and_hasher(events.len(), FixedState::default());
    for (index, event) in events.iter().enumerate() {
        if position.insert(event.event_id(), index).is_some() {
            return Err(WalkError::DuplicateEvent {
                event_id: event.event_id().to_owned(),
            });
        }
    }
    let mut pending_parents = vec![0usize; events.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    for (index, event) in events.iter().enumerate() {
        let cited = event.prev_events().map(|id| (id, "prev_events"));
        let cited = cited.chain(event.auth_events().map(|id| (id, "auth_events")));
        let mut parents = HashSet::new();
        for (cited_id, field) in cited {
            let Some(&parent) = position.get(cited_id) else {
                return Err(WalkError::UnknownEvent {
                    event_id: event.event_id().to_owned(),
                    cited_id: cited_id.to_owned(),
                    field,
                });
            };
            if parents.insert(parent) {
                pending_parents[index] += 1;
                children[parent].push(index);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..events.len())
        .filter(|&index| pending_parents[index] == 0)
        .collect();
    let mut order = Vec::with_capacity(events.len());
    while let Some(index) = ready.pop_front() {
        order.push(index);
        for &child in &children[index] {
            pending_parents[child] -= 1;
            if pending_parents[child] == 0 {
                ready.push_back(child);
            }
        }
    }
    match (0..events.len()).find(|&index| pending_parents[index] > 0) {
        Some(index) => Err(WalkError::Cycle {
            event_id: events[index].event_id().to_owned(),
        }),
        None => Ok(order),
    }
}
