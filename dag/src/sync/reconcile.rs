//! Working out what a peer lacks from what it says it holds.
//!
//! A node holds every ancestor of every event it holds, so a peer's heads plus a sample of older
//! events it holds (the locator) describe its whole set: everything below any of them. The
//! events to send are ours that lie above all of them.

use std::collections::{BinaryHeap, HashMap};

use sha2::{Digest, Sha256};

use super::message::RoomHeads;
use crate::RoomEvent;
use crate::room::{EventStatus, RoomStore};

/// A digest of every room's sync heads: equal digests mean equal event sets.
pub fn digest(store: &impl RoomStore) -> [u8; 16] {
    let mut rooms: Vec<(String, Vec<String>)> = store
        .room_ids()
        .into_iter()
        .filter_map(|id| store.room(&id).map(|room| (id, room.sync_heads)))
        .collect();
    rooms.sort();
    let mut hasher = Sha256::new();
    for (room_id, heads) in rooms {
        hasher.update(room_id.as_bytes());
        for head in heads {
            hasher.update(b"\0");
            hasher.update(head.as_bytes());
        }
        hasher.update(b"\n");
    }
    let hash = hasher.finalize();
    let mut digest = [0; 16];
    digest.copy_from_slice(&hash[..16]);
    digest
}

/// The room's heads and a locator: held events at depths 1, 2, 4, 8, … below the deepest head,
/// and the create event; with the event last shared with the peer, if any.
pub fn room_heads(
    store: &impl RoomStore,
    room_id: &str,
    shared: Option<&(u64, String)>,
) -> Option<RoomHeads> {
    let room = store.room(room_id)?;
    let top = room
        .sync_heads
        .iter()
        .filter_map(|id| store.event(id))
        .map(|e| e.pdu.depth())
        .max()
        .unwrap_or(0);
    let mut depths = Vec::new();
    let mut distance = 1u64;
    while distance < top {
        depths.push(top - distance);
        distance = distance.saturating_mul(2);
    }
    depths.push(1);
    Some(RoomHeads {
        room_id: room_id.to_owned(),
        locator: sample(store, room_id, &room.sync_heads, depths),
        heads: room.sync_heads,
        shared: shared.map(|(depth, id)| (id.clone(), *depth)),
    })
}

/// The room's heads with a locator of about [`DENSE_SAMPLES`] events between two depths.
pub fn dense_room_heads(
    store: &impl RoomStore,
    room_id: &str,
    above: u64,
    below: u64,
) -> Option<RoomHeads> {
    let room = store.room(room_id)?;
    let step = (below.saturating_sub(above) / DENSE_SAMPLES).max(1);
    let depths: Vec<u64> = (1..=DENSE_SAMPLES)
        .map(|i| below.saturating_sub(i * step))
        .filter(|d| *d > above)
        .collect();
    Some(RoomHeads {
        room_id: room_id.to_owned(),
        locator: sample(store, room_id, &room.sync_heads, depths),
        heads: room.sync_heads,
        shared: None,
    })
}

/// How many locator entries a refinement asks for.
const DENSE_SAMPLES: u64 = 48;

/// Held events at (or just below) the given descending depths, without repeats or heads.
fn sample(
    store: &impl RoomStore,
    room_id: &str,
    heads: &[String],
    depths: Vec<u64>,
) -> Vec<(String, u64)> {
    let mut locator: Vec<(String, u64)> = Vec::new();
    for depth in depths {
        let Some(id) = store.event_at_or_below_depth(room_id, depth) else {
            continue;
        };
        let fresh = locator.last().is_none_or(|(last, _)| *last != id) && !heads.contains(&id);
        if let (true, Some(event)) = (fresh, store.event(&id)) {
            locator.push((id, event.pdu.depth()));
        }
    }
    locator
}

/// When we cannot tell which of our events in a depth range the peer holds, and there are
/// more than a few of them, the range to ask a denser locator for.
pub fn doubtful_range(
    store: &impl RoomStore,
    theirs: &RoomHeads,
    missing: &[String],
) -> Option<(u64, u64)> {
    const TOLERATED: usize = 8;
    // Where the two nodes left off is known exactly: whatever of ours lies above it and reached
    // them by another path costs a duplicate at worst, cheaper than a round trip.
    if let Some((shared, _)) = &theirs.shared
        && store.event(shared).is_some()
    {
        return None;
    }
    let known_depth = |id: &String| store.event(id).map(|e| e.pdu.depth());
    let floor = theirs
        .locator
        .iter()
        .filter(|(id, _)| store.event(id).is_some())
        .map(|(_, d)| *d);
    let floor = floor
        .chain(theirs.heads.iter().filter_map(known_depth))
        .max()
        .unwrap_or(0);
    let ceiling = theirs
        .locator
        .iter()
        .filter(|(id, d)| *d > floor && store.event(id).is_none())
        .map(|(_, d)| *d)
        .min()?;
    if ceiling <= floor + 1 {
        return None;
    }
    let doubtful = missing
        .iter()
        .filter_map(known_depth)
        .filter(|d| *d < ceiling)
        .count();
    (doubtful > TOLERATED).then_some((floor, ceiling))
}

const OURS: u8 = 1;
const THEIRS: u8 = 2;

/// Our events of the room that lie above every event in `theirs`, ancestors first.
///
/// Walks down from both sides at once in depth order, marking what each side reaches, and stops
/// once every event still to visit is one they hold: the cost follows the difference, not the
/// history.
pub fn missing_for_peer(
    store: &impl RoomStore,
    our_heads: &[String],
    theirs: &[String],
) -> Vec<String> {
    let mut marks: HashMap<String, u8> = HashMap::new();
    let mut queue = BinaryHeap::new();
    let mut ours_only_queued = 0usize;
    let push = |marks: &mut HashMap<String, u8>,
                queue: &mut BinaryHeap<(u64, String)>,
                id: &str,
                mark: u8| {
        let Some(event) = store.event(id) else {
            return 0;
        };
        let entry = marks.entry(id.to_owned()).or_insert(0);
        let before = *entry;
        *entry |= mark;
        if before == 0 {
            queue.push((event.pdu.depth(), id.to_owned()));
        }
        match (before, *entry) {
            (0, OURS) => 1isize,
            (OURS, m) if m != OURS => -1,
            _ => 0,
        }
    };
    for id in our_heads {
        ours_only_queued =
            ours_only_queued.saturating_add_signed(push(&mut marks, &mut queue, id, OURS));
    }
    for id in theirs {
        ours_only_queued =
            ours_only_queued.saturating_add_signed(push(&mut marks, &mut queue, id, THEIRS));
    }
    let mut missing = Vec::new();
    while ours_only_queued > 0 {
        let Some((_, id)) = queue.pop() else { break };
        let mark = marks[&id];
        if mark == OURS {
            ours_only_queued -= 1;
        }
        let Some(event) = store.event(&id) else {
            continue;
        };
        if mark == OURS && event.status != EventStatus::Rejected {
            missing.push(id.clone());
        }
        let parents: Vec<String> = event
            .pdu
            .prev_events()
            .chain(event.pdu.auth_events())
            .map(str::to_owned)
            .collect();
        for parent in parents {
            let change = push(&mut marks, &mut queue, &parent, mark);
            ours_only_queued = ours_only_queued.saturating_add_signed(change);
        }
    }
    missing.reverse();
    missing
}
