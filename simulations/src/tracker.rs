//! Which workload events every node holds: the basis of delivery and convergence measurements.

use std::collections::{BTreeSet, HashMap};

struct Tracked {
    created_ms: u64,
    holders: u32,
    message: bool,
}

/// Counts, for every event the workload created, how many nodes hold it. Stores are durable, so
/// a node that holds an event keeps holding it through crashes.
pub struct Tracker {
    nodes: u32,
    /// Lookups only; nothing iterates it.
    index: HashMap<String, usize>,
    events: Vec<Tracked>,
    /// Events some node still lacks, by creation time.
    not_everywhere: BTreeSet<(u64, usize)>,
    pub messages_sent: u64,
    pub messages_everywhere: u64,
    /// Events a node received from a peer and stored (what had to be delivered).
    pub stored_from_peers: u64,
    /// For every message a node stored from a peer: milliseconds since it was written.
    delivery_ms: Vec<u64>,
}

impl Tracker {
    pub fn new(nodes: usize) -> Tracker {
        Tracker {
            nodes: u32::try_from(nodes).unwrap_or(u32::MAX),
            index: HashMap::new(),
            events: Vec::new(),
            not_everywhere: BTreeSet::new(),
            messages_sent: 0,
            messages_everywhere: 0,
            stored_from_peers: 0,
            delivery_ms: Vec::new(),
        }
    }

    /// A node's user created an event; that node holds it.
    pub fn created(&mut self, event_id: &str, now: u64, message: bool) {
        let index = self.events.len();
        self.index.insert(event_id.to_owned(), index);
        self.events.push(Tracked {
            created_ms: now,
            holders: 0,
            message,
        });
        self.messages_sent += u64::from(message);
        self.not_everywhere.insert((now, index));
        self.held(index);
    }

    /// A node stored an event from a peer.
    pub fn stored(&mut self, event_id: &str, now: u64) {
        self.stored_from_peers += 1;
        if let Some(&index) = self.index.get(event_id) {
            let event = &self.events[index];
            if event.message {
                self.delivery_ms.push(now - event.created_ms);
            }
            self.held(index);
        }
    }

    /// Message delivery times (to each node that received a message from a peer): the median,
    /// the 99th percentile and the maximum, in milliseconds.
    pub fn delivery_percentiles(&self) -> Option<[u64; 3]> {
        let mut sorted = self.delivery_ms.clone();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        (!sorted.is_empty()).then(|| [at(0.5), at(0.99), at(1.0)])
    }

    fn held(&mut self, index: usize) {
        let event = &mut self.events[index];
        event.holders += 1;
        if event.holders == self.nodes {
            self.not_everywhere.remove(&(event.created_ms, index));
            self.messages_everywhere += u64::from(event.message);
        }
    }

    pub fn events_created(&self) -> usize {
        self.events.len()
    }

    /// How many workload events some node still lacks.
    pub fn not_everywhere(&self) -> usize {
        self.not_everywhere.len()
    }

    /// Whether every event created at or before `time` is held by every node.
    pub fn everywhere_up_to(&self, time: u64) -> bool {
        self.not_everywhere
            .first()
            .is_none_or(|(created, _)| *created > time)
    }
}
