//! The interned auth DAG: events and `(type, state_key)` pairs as dense integers.
//!
//! An event is interned only after all of its auth events, so its index is greater than theirs:
//! index order is a topological order of the auth DAG, oldest first.

use std::collections::HashMap;

use foldhash::quality::FixedState;

use super::{EventSource, ResolveError, power};
use crate::{RoomEvent, RoomVersion};

pub(crate) type EventIndex = u32;
pub(crate) type KeyIndex = u32;

pub(crate) const POWER_LEVELS: &str = "m.room.power_levels";
pub(crate) const CREATE: &str = "m.room.create";

/// What the resolver needs of one event, computed once.
pub(crate) struct Node<'a, E> {
    pub(crate) event: &'a E,
    pub(crate) id: &'a str,
    /// `None` for a message event.
    pub(crate) key: Option<KeyIndex>,
    auth_start: u32,
    auth_end: u32,
    pub(crate) rejected: bool,
    pub(crate) power_event: bool,
    /// The `m.room.power_levels` event among its auth events: the next step of its mainline.
    pub(crate) power_levels_parent: Option<EventIndex>,
}

pub(crate) struct Graph<'a, S: EventSource> {
    pub(crate) version: RoomVersion,
    pub(crate) source: &'a S,
    nodes: Vec<Node<'a, S::Event>>,
    auth_edges: Vec<EventIndex>,
    by_id: HashMap<&'a str, EventIndex, FixedState>,
    keys: HashMap<(&'a str, &'a str), KeyIndex, FixedState>,
    key_names: Vec<(&'a str, &'a str)>,
    /// The keys of `m.room.create` and `m.room.power_levels`, once interned: the resolver asks
    /// for them per event, and comparing integers beats comparing type strings.
    create_key: Option<KeyIndex>,
    power_levels_key: Option<KeyIndex>,
}

/// An event whose auth events are still being interned.
struct Pending<'a, E> {
    event: &'a E,
    auth_ids: Vec<&'a str>,
    next: usize,
}

impl<'a, S: EventSource> Graph<'a, S> {
    pub(crate) fn new(version: RoomVersion, source: &'a S) -> Self {
        Graph {
            version,
            source,
            nodes: Vec::new(),
            auth_edges: Vec::new(),
            by_id: HashMap::default(),
            keys: HashMap::default(),
            key_names: Vec::new(),
            create_key: None,
            power_levels_key: None,
        }
    }

    pub(crate) fn node(&self, index: EventIndex) -> &Node<'a, S::Event> {
        &self.nodes[index as usize]
    }

    pub(crate) fn auth_events(&self, index: EventIndex) -> &[EventIndex] {
        let node = self.node(index);
        &self.auth_edges[node.auth_start as usize..node.auth_end as usize]
    }

    pub(crate) fn key_name(&self, key: KeyIndex) -> (&'a str, &'a str) {
        self.key_names[key as usize]
    }

    pub(crate) fn find_key(&self, event_type: &str, state_key: &str) -> Option<KeyIndex> {
        self.keys.get(&(event_type, state_key)).copied()
    }

    pub(crate) fn find_event(&self, event_id: &str) -> Option<EventIndex> {
        self.by_id.get(event_id).copied()
    }

    pub(crate) fn intern_key(&mut self, event_type: &'a str, state_key: &'a str) -> KeyIndex {
        let next = self.key_names.len() as KeyIndex;
        let key = *self.keys.entry((event_type, state_key)).or_insert(next);
        if key == next {
            self.key_names.push((event_type, state_key));
            match (event_type, state_key) {
                (CREATE, "") => self.create_key = Some(key),
                (POWER_LEVELS, "") => self.power_levels_key = Some(key),
                _ => {}
            }
        }
        key
    }

    /// Whether the event is the room's `m.room.create` event (by type and empty state key).
    pub(crate) fn is_create(&self, index: EventIndex) -> bool {
        let key = self.node(index).key;
        key.is_some() && key == self.create_key
    }

    /// Interns the event and, first, its whole auth chain.
    pub(crate) fn intern(&mut self, event_id: &str) -> Result<EventIndex, ResolveError> {
        if let Some(index) = self.find_event(event_id) {
            return Ok(index);
        }
        let event = self
            .source
            .event(event_id)
            .ok_or_else(|| ResolveError::MissingEvent {
                event_id: event_id.to_owned(),
            })?;
        self.intern_new(event)
    }

    /// Depth-first over auth events with an explicit stack: auth chains can be long.
    fn intern_new(&mut self, root: &'a S::Event) -> Result<EventIndex, ResolveError> {
        let mut visiting: HashMap<&'a str, (), FixedState> = HashMap::default();
        visiting.insert(root.event_id(), ());
        let mut stack = vec![Pending::new(root)];
        while let Some(top) = stack.last_mut() {
            let Some(&auth_id) = top.auth_ids.get(top.next) else {
                let done = stack.pop().map(|pending| pending.event);
                if let Some(event) = done {
                    visiting.remove(event.event_id());
                    self.push_node(event);
                }
                continue;
            };
            top.next += 1;
            if self.by_id.contains_key(auth_id) {
                continue;
            }
            if visiting.contains_key(auth_id) {
                return Err(ResolveError::AuthCycle {
                    event_id: auth_id.to_owned(),
                });
            }
            let citing = top.event.event_id();
            let auth_event =
                self.source
                    .event(auth_id)
                    .ok_or_else(|| ResolveError::MissingAuthEvent {
                        event_id: citing.to_owned(),
                        auth_event_id: auth_id.to_owned(),
                    })?;
            visiting.insert(auth_event.event_id(), ());
            stack.push(Pending::new(auth_event));
        }
        self.find_event(root.event_id())
            .ok_or_else(|| ResolveError::MissingEvent {
                event_id: root.event_id().to_owned(),
            })
    }

    /// Adds an event whose auth events are all interned.
    fn push_node(&mut self, event: &'a S::Event) -> EventIndex {
        let index = self.nodes.len() as EventIndex;
        let auth_start = self.auth_edges.len() as u32;
        let mut power_levels_parent = None;
        for auth_id in event.auth_events() {
            let Some(auth_index) = self.find_event(auth_id) else {
                continue;
            };
            let auth_key = self.node(auth_index).key;
            if power_levels_parent.is_none()
                && auth_key.is_some()
                && auth_key == self.power_levels_key
            {
                power_levels_parent = Some(auth_index);
            }
            self.auth_edges.push(auth_index);
        }
        let key = event
            .state_key()
            .map(|state_key| self.intern_key(event.event_type(), state_key));
        let id = event.event_id();
        self.nodes.push(Node {
            event,
            id,
            key,
            auth_start,
            auth_end: self.auth_edges.len() as u32,
            rejected: self.source.is_rejected(id),
            power_event: power::is_power_event(event),
            power_levels_parent,
        });
        self.by_id.insert(id, index);
        index
    }
}

impl<'a, E: RoomEvent> Pending<'a, E> {
    fn new(event: &'a E) -> Self {
        Pending {
            event,
            auth_ids: event.auth_events().collect(),
            next: 0,
        }
    }
}
