//! Link-local event references. Each end of a link numbers the events the link carried in each
//! direction; a later event citing one of them in `prev_events`, `auth_events` or `redacts`
//! names it by a small number instead of its 32-byte hash.
//!
//! Events this end sent are numbered back from the newest one sent: the receiver processes
//! frames in order, so its table is exactly as long as ours when it decodes. Events this end
//! received are numbered back from the count it had received when it encoded the frame
//! (`acked`, carried in the frame), because the other end may have sent more since.

use std::collections::{HashMap, VecDeque};

use crate::canonical_json::Object;
use crate::room::Incoming;
use crate::wire::{EventRefs, Previous};
use crate::{Pdu, RoomEvent, RoomVersion, hashing};

/// Events remembered per direction.
const CAPACITY: usize = 4096;
/// Received events are referenced only this far back, so that the other end, which may have
/// sent up to this many more events meanwhile, has not forgotten them yet.
const RECEIVED_REACH: u64 = (CAPACITY / 2) as u64;

#[derive(Default)]
struct RefTable {
    ids: VecDeque<String>,
    /// Every position an ID holds in the table, ascending.
    positions: HashMap<String, Vec<u64>>,
    next: u64,
    /// Timestamp and depth of the latest event, which the next one's are coded against.
    previous: Previous,
}

impl RefTable {
    fn push(&mut self, id: String) {
        if self.ids.len() == CAPACITY {
            self.evict_oldest();
        }
        self.positions
            .entry(id.clone())
            .or_default()
            .push(self.next);
        self.ids.push_back(id);
        self.next += 1;
    }

    fn evict_oldest(&mut self) {
        let Some(evicted) = self.ids.pop_front() else {
            return;
        };
        if let Some(positions) = self.positions.get_mut(&evicted) {
            positions.remove(0);
            if positions.is_empty() {
                self.positions.remove(&evicted);
            }
        }
    }

    fn first_position(&self) -> u64 {
        self.next - self.ids.len() as u64
    }

    /// How far back from position `end` (exclusive) the latest occurrence of `id` is.
    fn distance_before(&self, id: &str, end: u64, reach: u64) -> Option<u64> {
        let position = self.positions.get(id)?.iter().rev().find(|p| **p < end)?;
        let distance = end - 1 - position;
        (distance < reach).then_some(distance)
    }

    fn at_distance_before(&self, distance: u64, end: u64) -> Option<String> {
        let position = end.checked_sub(distance.checked_add(1)?)?;
        if position < self.first_position() || position >= self.next {
            return None;
        }
        self.ids
            .get(usize::try_from(position - self.first_position()).ok()?)
            .cloned()
    }
}

#[derive(Default)]
pub(super) struct LinkRefs {
    sent: RefTable,
    received: RefTable,
}

/// The ID both ends register an event under. Room versions 11 and 12, the ones Flotilla
/// creates, share their reference hash, so no room version is needed to agree on it.
fn registered_id(event: &Object) -> String {
    hashing::event_id(RoomVersion::V11, event)
}

/// [`registered_id`] of a stored event: its own ID, unless its room version hashes otherwise.
fn registered_id_of(pdu: &Pdu) -> String {
    match pdu.version() {
        RoomVersion::V10 => registered_id(pdu.json()),
        RoomVersion::V11 | RoomVersion::V12 => pdu.event_id().to_owned(),
    }
}

impl LinkRefs {
    pub(super) fn sent(&mut self, pdu: &Pdu) {
        self.sent.push(registered_id_of(pdu));
        self.sent.previous.update(pdu.json());
    }

    /// Registers a received event; `prepared`, if receipt could prepare it, knows its ID.
    pub(super) fn received(&mut self, event: &Object, prepared: Option<&Incoming>) {
        let id = match prepared {
            Some(incoming) if incoming.version() != RoomVersion::V10 => {
                incoming.event_id().to_owned()
            }
            _ => registered_id(event),
        };
        self.received.push(id);
        self.received.previous.update(event);
    }

    /// How many events this end has received: the `acked` of the next frame it sends.
    pub(super) fn received_count(&self) -> u64 {
        self.received.next
    }

    /// References as this end writes them.
    pub(super) fn as_sender(&self) -> Perspective<'_> {
        Perspective {
            own: &self.sent,
            own_end: self.sent.next,
            other: &self.received,
            other_end: self.received.next,
        }
    }

    /// References as the other end wrote them, having received `acked` of our events.
    pub(super) fn as_receiver(&self, acked: u64) -> Perspective<'_> {
        Perspective {
            own: &self.received,
            own_end: self.received.next,
            other: &self.sent,
            other_end: acked,
        }
    }
}

/// A reference is `2 × distance` into the encoder's sent events, or `2 × distance + 1` into
/// the events it had received.
pub(super) struct Perspective<'a> {
    own: &'a RefTable,
    own_end: u64,
    other: &'a RefTable,
    other_end: u64,
}

impl EventRefs for Perspective<'_> {
    fn reference(&self, event_id: &str) -> Option<u64> {
        let own = self
            .own
            .distance_before(event_id, self.own_end, CAPACITY as u64)
            .map(|d| d.saturating_mul(2));
        let other = self
            .other
            .distance_before(event_id, self.other_end, RECEIVED_REACH);
        let other = other.map(|d| d.saturating_mul(2).saturating_add(1));
        own.into_iter().chain(other).min()
    }

    fn previous(&self) -> Previous {
        self.own.previous
    }

    fn resolve(&self, reference: u64) -> Option<String> {
        match reference % 2 {
            0 => self.own.at_distance_before(reference / 2, self.own_end),
            _ if reference / 2 < RECEIVED_REACH => {
                self.other.at_distance_before(reference / 2, self.other_end)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(count: usize) -> RefTable {
        let mut table = RefTable::default();
        for i in 0..count {
            table.push(format!("${i}"));
        }
        table
    }

    #[test]
    fn distances_count_back_from_an_end() {
        let table = table(10);
        assert_eq!(table.distance_before("$9", 10, 100), Some(0));
        assert_eq!(table.distance_before("$0", 10, 100), Some(9));
        assert_eq!(
            table.distance_before("$9", 9, 100),
            None,
            "not yet received at that end"
        );
        assert_eq!(table.distance_before("$5", 9, 100), Some(3));
        assert_eq!(table.distance_before("$0", 10, 5), None, "beyond reach");
        assert_eq!(table.at_distance_before(9, 10).as_deref(), Some("$0"));
        assert_eq!(table.at_distance_before(3, 9).as_deref(), Some("$5"));
        assert_eq!(table.at_distance_before(10, 10), None);
        assert_eq!(table.at_distance_before(u64::MAX, 10), None);
        assert_eq!(table.at_distance_before(0, 11), None, "not sent yet");
    }

    #[test]
    fn old_entries_are_forgotten() {
        let table = table(CAPACITY + 5);
        assert_eq!(table.distance_before("$0", table.next, u64::MAX), None);
        assert_eq!(table.at_distance_before(CAPACITY as u64, table.next), None);
        assert_eq!(
            table.distance_before("$5", table.next, u64::MAX),
            Some(CAPACITY as u64 - 1)
        );
    }

    #[test]
    fn repeats_keep_every_position() {
        let mut table = table(10);
        table.push("$3".into());
        assert_eq!(table.distance_before("$3", 11, u64::MAX), Some(0));
        assert_eq!(
            table.distance_before("$3", 10, u64::MAX),
            Some(6),
            "as an end that has not seen the repeat"
        );
    }
}
