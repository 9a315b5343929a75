//! The minimal event form of ruma's state resolution tests: the fields the auth rules and state
//! resolution read, with event IDs as opaque strings and an optional `rejected` flag. Other
//! fields (ruma's files carry `test-comments`) are ignored.

use std::collections::HashMap;

use foldhash::quality::FixedState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EventSource;
use crate::RoomEvent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixtureEvent {
    pub event_id: String,
    /// Absent on a room version 12 create event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    pub sender: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_key: Option<String>,
    pub content: Value,
    pub origin_server_ts: u64,
    #[serde(default)]
    pub prev_events: Vec<String>,
    #[serde(default)]
    pub auth_events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacts: Option<String>,
    /// The event was rejected when received.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejected: bool,
}

impl RoomEvent for FixtureEvent {
    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn room_id(&self) -> Option<&str> {
        self.room_id.as_deref()
    }

    fn sender(&self) -> &str {
        &self.sender
    }

    fn event_type(&self) -> &str {
        &self.event_type
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn content(&self) -> &Value {
        &self.content
    }

    fn origin_server_ts(&self) -> u64 {
        self.origin_server_ts
    }

    fn prev_events(&self) -> impl ExactSizeIterator<Item = &str> {
        self.prev_events.iter().map(String::as_str)
    }

    fn auth_events(&self) -> impl ExactSizeIterator<Item = &str> {
        self.auth_events.iter().map(String::as_str)
    }

    fn redacts(&self) -> Option<&str> {
        self.redacts
            .as_deref()
            .or_else(|| self.content.get("redacts")?.as_str())
    }
}

/// Fixture events by ID; an event's `rejected` flag says whether it was rejected.
#[derive(Debug, Clone, Default)]
pub struct FixtureStore {
    events: HashMap<String, FixtureEvent, FixedState>,
}

impl FixtureStore {
    /// Adds an event; returns the event it replaced, if one had the same ID.
    pub fn insert(&mut self, event: FixtureEvent) -> Option<FixtureEvent> {
        self.events.insert(event.event_id.clone(), event)
    }

    pub fn get(&self, event_id: &str) -> Option<&FixtureEvent> {
        self.events.get(event_id)
    }

    pub fn get_mut(&mut self, event_id: &str) -> Option<&mut FixtureEvent> {
        self.events.get_mut(event_id)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FixtureEvent> {
        self.events.values()
    }
}

impl FromIterator<FixtureEvent> for FixtureStore {
    fn from_iter<I: IntoIterator<Item = FixtureEvent>>(events: I) -> Self {
        FixtureStore {
            events: events
                .into_iter()
                .map(|event| (event.event_id.clone(), event))
                .collect(),
        }
    }
}

impl EventSource for FixtureStore {
    type Event = FixtureEvent;

    fn event(&self, event_id: &str) -> Option<&FixtureEvent> {
        self.events.get(event_id)
    }

    fn is_rejected(&self, event_id: &str) -> bool {
        self.events
            .get(event_id)
            .is_some_and(|event| event.rejected)
    }
}

/// One entry of a resolved state, as `flotilla dag resolve` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StateEntry {
    #[serde(rename = "type")]
    pub event_type: String,
    pub state_key: String,
    pub event_id: String,
}

/// The state's entries sorted by `(type, state_key)`.
pub fn state_entries(state: &super::StateMap<String>) -> Vec<StateEntry> {
    let mut entries: Vec<StateEntry> = state
        .iter()
        .map(|((event_type, state_key), event_id)| StateEntry {
            event_type: event_type.clone(),
            state_key: state_key.clone(),
            event_id: event_id.clone(),
        })
        .collect();
    entries.sort();
    entries
}
