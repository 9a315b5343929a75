//! What the room logic needs from storage, and an in-memory implementation.
//!
//! The node implements [`RoomStore`] over SQLite; the simulator and tests use [`MemoryStore`].
//! Reads return shared handles so a store may keep a cache; every write is one [`RoomCommit`],
//! which the store applies atomically: once `commit` returns, the event is durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use foldhash::quality::FixedState;

use super::State;
use crate::{Pdu, RoomVersion};

/// How an event fared in the checks on receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Part of the room: its state counts and it may be a forward extremity.
    Accepted,
    /// Allowed by the state before it but not by the room's current state: kept and relayed
    /// so other nodes decide for themselves, but never shown to clients or built upon.
    SoftFailed,
    /// Failed the rules against its auth events or the state before it: kept only so it is
    /// not fetched again, never relayed, never an auth event.
    Rejected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub pdu: Arc<Pdu>,
    pub status: EventStatus,
    /// The room state after this event; for a rejected event, the state before it.
    pub state_after: State,
}

/// A room's bookkeeping beyond its events.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomInfo {
    pub room_id: String,
    pub version: RoomVersion,
    /// Accepted events that no accepted event cites: the `prev_events` of the next local event.
    pub forward_extremities: Vec<String>,
    /// Events held and relayed (accepted or soft-failed) that no such event cites: what this
    /// node tells peers it has. Differs from the forward extremities only by soft-failed events.
    pub sync_heads: Vec<String>,
    /// The resolution of the states after the sync heads: a function of the events held, so
    /// every node holding the same events agrees on it. Soft-failed events count here, but
    /// state resolution checks them again against the other branches; what soft-failure
    /// withholds is a place in the timeline and in new events' `prev_events`.
    pub current_state: State,
}

/// One atomic write: a new event and the room bookkeeping that follows from it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomCommit {
    pub event: StoredEvent,
    pub room: RoomInfo,
}

pub trait RoomStore {
    fn event(&self, event_id: &str) -> Option<Arc<StoredEvent>>;
    fn room(&self, room_id: &str) -> Option<RoomInfo>;
    /// Every room held, sorted.
    fn room_ids(&self) -> Vec<String>;
    /// A held, non-rejected event of the room with the greatest depth not above `depth`. The
    /// sync protocol samples a room's history with it without walking the DAG.
    fn event_at_or_below_depth(&self, room_id: &str, depth: u64) -> Option<String>;
    /// Applies the commit atomically and durably.
    fn commit(&mut self, commit: RoomCommit);
}

/// A store in memory, for the simulator and tests. The simulator starts a thousand nodes from
/// clones of one store and keeps them all in memory, so each event ID is allocated once per
/// store (shared by its indexes) and a clone copies pointers, not strings.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    events: HashMap<Arc<str>, Arc<StoredEvent>, FixedState>,
    rooms: HashMap<String, RoomInfo, FixedState>,
    /// Non-rejected event IDs by room and depth.
    by_depth: HashMap<String, BTreeMap<u64, Arc<str>>, FixedState>,
    /// Event IDs in the order they were committed.
    log: Vec<Arc<str>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Event IDs in commit order.
    pub fn log(&self) -> &[Arc<str>] {
        &self.log
    }
}

impl RoomStore for MemoryStore {
    fn event(&self, event_id: &str) -> Option<Arc<StoredEvent>> {
        self.events.get(event_id).cloned()
    }

    fn room(&self, room_id: &str) -> Option<RoomInfo> {
        self.rooms.get(room_id).cloned()
    }

    fn room_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.rooms.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn event_at_or_below_depth(&self, room_id: &str, depth: u64) -> Option<String> {
        let by_depth = self.by_depth.get(room_id)?;
        by_depth
            .range(..=depth)
            .next_back()
            .map(|(_, id)| id.to_string())
    }

    fn commit(&mut self, commit: RoomCommit) {
        let event_id: Arc<str> = crate::RoomEvent::event_id(&*commit.event.pdu).into();
        if commit.event.status != EventStatus::Rejected {
            self.by_depth
                .entry(commit.room.room_id.clone())
                .or_default()
                .insert(commit.event.pdu.depth(), Arc::clone(&event_id));
        }
        self.log.push(Arc::clone(&event_id));
        self.events.insert(event_id, Arc::new(commit.event));
        self.rooms.insert(commit.room.room_id.clone(), commit.room);
    }
}
