//! Byte and round-trip measurements of one link (`flotilla bench link`): the DESIGN.md §10
//! link targets measured on the real protocol code between two nodes, and the same messages
//! priced as Matrix federation transactions over HTTP for comparison.
//!
//! The link is perfect and lock-stepped: every frame in flight is delivered in the next *round*
//! (one one-way trip), so rounds count protocol latency and frame bytes count what the protocol
//! spends, after compression and before any transport framing.

use std::collections::VecDeque;

use dag::canonical_json::{self, Object};
use dag::room::{self, MemoryStore, NewEvent, Received};
use dag::signing::{ServerKey, sign_json};
use dag::sync::{PeerId, Sync, SyncConfig, SyncEvent};
use dag::{RoomEvent, RoomVersion};
use serde_json::{Value, json};

/// 2026-11-26 in milliseconds: timestamps of realistic magnitude.
const START_MS: u64 = 1_795_651_200_000;
const BODIES: [&str; 6] = [
    "Surfacing at 0600, all well",
    "Contact bearing 270, closing",
    "Roger, holding position",
    "Fuel at 62 percent",
    "ETA 1430 at the rendezvous",
    "Copy that, wilco",
];

struct Node {
    store: MemoryStore,
    sync: Sync,
    key: ServerKey,
}

impl Node {
    fn new(seed: u8) -> Node {
        Node {
            store: MemoryStore::new(),
            sync: Sync::new(SyncConfig::default()),
            key: ServerKey::node(&[seed; 32]),
        }
    }

    fn peer_id(&self) -> PeerId {
        self.key.server_name().to_owned()
    }

    fn user(&self) -> String {
        format!("@crew:{}", self.key.server_name())
    }
}

/// Bytes and rounds of one exchange, per direction (0: first node to second).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub bytes: [u64; 2],
    pub frames: [u64; 2],
    pub rounds: u64,
}

/// Two nodes and the link between them.
pub struct Pair {
    nodes: [Node; 2],
    connected: bool,
    now: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("room code refused a benchmark event: {0}")]
    Room(String),
    #[error("the protocol closed the link: {0}")]
    Disconnected(String),
    #[error("the link did not settle")]
    Unsettled,
}

impl Pair {
    pub fn new() -> Pair {
        Pair {
            nodes: [Node::new(1), Node::new(2)],
            connected: false,
            now: START_MS,
        }
    }

    /// Connects the nodes and runs the protocol until it is quiet.
    pub fn connect(&mut self) -> Result<Exchange, BenchError> {
        for (me, other) in [(0, 1), (1, 0)] {
            let peer = self.nodes[other].peer_id();
            let node = &mut self.nodes[me];
            node.sync
                .peer_connected(&node.store, &peer, self.now)
                .map_err(|e| BenchError::Disconnected(e.to_string()))?;
        }
        self.connected = true;
        self.settle()
    }

    pub fn disconnect(&mut self) {
        for (me, other) in [(0, 1), (1, 0)] {
            let peer = self.nodes[other].peer_id();
            self.nodes[me].sync.peer_disconnected(&peer);
        }
        self.connected = false;
    }

    /// Delivers rounds of frames until neither node has anything to send.
    pub fn settle(&mut self) -> Result<Exchange, BenchError> {
        let mut exchange = Exchange::default();
        for _ in 0..10_000 {
            let in_flight = self.collect(&mut exchange);
            if in_flight.iter().all(VecDeque::is_empty) {
                return Ok(exchange);
            }
            exchange.rounds += 1;
            for (from, frames) in in_flight.into_iter().enumerate() {
                for frame in frames {
                    self.deliver(from, 1 - from, &frame)?;
                }
            }
        }
        Err(BenchError::Unsettled)
    }

    /// Lets virtual time pass with the link idle, ticking both nodes every `step_ms`.
    pub fn idle(&mut self, duration_ms: u64, step_ms: u64) -> Result<Exchange, BenchError> {
        let mut total = Exchange::default();
        let end = self.now + duration_ms;
        while self.now < end {
            self.now += step_ms;
            for node in &mut self.nodes {
                node.sync.tick(&node.store, self.now);
            }
            let exchange = self.settle()?;
            for dir in 0..2 {
                total.bytes[dir] += exchange.bytes[dir];
                total.frames[dir] += exchange.frames[dir];
            }
            total.rounds += exchange.rounds;
        }
        Ok(total)
    }

    fn collect(&mut self, exchange: &mut Exchange) -> [VecDeque<Vec<u8>>; 2] {
        let mut in_flight = [VecDeque::new(), VecDeque::new()];
        if !self.connected {
            return in_flight;
        }
        for (from, frames) in in_flight.iter_mut().enumerate() {
            let peer = self.nodes[1 - from].peer_id();
            let node = &mut self.nodes[from];
            while let Some(frame) = node.sync.poll_transmit(&node.store, &peer) {
                exchange.bytes[from] += frame.len() as u64;
                exchange.frames[from] += 1;
                frames.push_back(frame);
            }
        }
        in_flight
    }

    fn deliver(&mut self, from: usize, to: usize, frame: &[u8]) -> Result<(), BenchError> {
        let peer = self.nodes[from].peer_id();
        let node = &mut self.nodes[to];
        node.sync
            .frame_received(&mut node.store, &peer, frame, self.now);
        while let Some(event) = node.sync.poll_event() {
            if let SyncEvent::Disconnect { reason, .. } = event {
                return Err(BenchError::Disconnected(reason));
            }
        }
        Ok(())
    }

    /// A public room made on the first node, with the second node's user joined.
    pub fn shared_room(&mut self) -> Result<String, BenchError> {
        let room_id = self.create_room()?;
        self.settle()?;
        let user = self.nodes[1].user();
        self.send(
            1,
            &room_id,
            "m.room.member",
            Some(&user),
            json!({"membership": "join"}),
        )?;
        self.settle()?;
        Ok(room_id)
    }

    fn create_room(&mut self) -> Result<String, BenchError> {
        self.now += 1_000;
        let node = &mut self.nodes[0];
        let creator = node.user();
        let create = room::build_create_event(
            RoomVersion::V12,
            &creator,
            Object::new(),
            self.now,
            None,
            &node.key,
        )
        .map_err(|e| BenchError::Room(e.to_string()))?;
        let received = room::receive(&mut node.store, create.into_json());
        let Ok(Received::Stored {
            room_id, event_id, ..
        }) = received
        else {
            return Err(BenchError::Room(format!("create event: {received:?}")));
        };
        node.sync.event_stored(&event_id, self.now);
        let joined = json!({"membership": "join"});
        self.send(0, &room_id, "m.room.member", Some(&creator), joined)?;
        let power = json!({"users": {}, "users_default": 0, "state_default": 50});
        self.send(0, &room_id, "m.room.power_levels", Some(""), power)?;
        let rule = json!({"join_rule": "public"});
        self.send(0, &room_id, "m.room.join_rules", Some(""), rule)?;
        Ok(room_id)
    }

    /// One event from a node's user; returns the stored event.
    pub fn send(
        &mut self,
        at: usize,
        room_id: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Result<Object, BenchError> {
        // Crews write minutes apart; the timestamps say so.
        self.now += 20_000 + (self.now * 7_919) % 100_000;
        let node = &mut self.nodes[at];
        let new = NewEvent {
            event_type: event_type.into(),
            state_key: state_key.map(str::to_owned),
            sender: node.user(),
            content,
        };
        let pdu = room::send(&mut node.store, room_id, &new, self.now, &node.key)
            .map_err(|e| BenchError::Room(e.to_string()))?;
        node.sync.event_stored(pdu.event_id(), self.now);
        Ok(pdu.into_json())
    }

    pub fn say(&mut self, at: usize, room_id: &str, body: &str) -> Result<Object, BenchError> {
        let content = json!({"msgtype": "m.text", "body": body});
        self.send(at, room_id, "m.room.message", None, content)
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

/// A node holding one room with a backlog of messages, whose protocol talks to a peer the
/// caller runs (the node's SQLite store in `flotilla bench ingest`).
pub struct Source {
    node: Node,
    now: u64,
}

impl Source {
    pub fn with_backlog(messages: usize) -> Result<Source, BenchError> {
        let mut pair = Pair::new();
        let room_id = pair.create_room()?;
        for i in 0..messages {
            pair.say(0, &room_id, BODIES[i % BODIES.len()])?;
        }
        let now = pair.now;
        let [node, _] = pair.nodes;
        Ok(Source { node, now })
    }

    pub fn peer_id(&self) -> PeerId {
        self.node.peer_id()
    }

    /// Every event the node holds, in the order it stored them.
    pub fn event_ids(&self) -> Vec<String> {
        self.node
            .store
            .log()
            .iter()
            .map(|id| id.to_string())
            .collect()
    }

    pub fn connect(&mut self, peer: &PeerId) -> Result<(), BenchError> {
        let node = &mut self.node;
        node.sync
            .peer_connected(&node.store, peer, self.now)
            .map_err(|e| BenchError::Disconnected(e.to_string()))
    }

    /// Frames for `peer` that the protocol has ready.
    pub fn transmit(&mut self, peer: &PeerId) -> Vec<Vec<u8>> {
        let node = &mut self.node;
        std::iter::from_fn(|| node.sync.poll_transmit(&node.store, peer)).collect()
    }

    pub fn receive(&mut self, from: &PeerId, frame: &[u8]) -> Result<(), BenchError> {
        let node = &mut self.node;
        node.sync
            .frame_received(&mut node.store, from, frame, self.now);
        match node.sync.poll_event() {
            Some(SyncEvent::Disconnect { reason, .. }) => Err(BenchError::Disconnected(reason)),
            _ => Ok(()),
        }
    }
}

/// What one short message costs on our link and as a federation transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCost {
    pub link_bytes: u64,
    pub federation_bytes: u64,
}

/// Short messages alternating between the two nodes after `warm_up` messages, each sent and
/// delivered before the next: the steady state of a chat over one link.
pub fn steady_state_messages(warm_up: usize, count: usize) -> Result<Vec<MessageCost>, BenchError> {
    let mut pair = Pair::new();
    pair.connect()?;
    let room_id = pair.shared_room()?;
    let mut costs = Vec::with_capacity(count);
    for i in 0..warm_up + count {
        let at = i % 2;
        let event = pair.say(at, &room_id, BODIES[i % BODIES.len()])?;
        let exchange = pair.settle()?;
        if i >= warm_up {
            costs.push(MessageCost {
                link_bytes: exchange.bytes.iter().sum(),
                federation_bytes: federation_transaction_bytes(&event, &pair.nodes[at].key),
            });
        }
    }
    Ok(costs)
}

/// Bytes of a Matrix federation transaction carrying this one event (`PUT
/// /_matrix/federation/v1/send/{txnId}` with its `X-Matrix` authorization) and of its `200`
/// answer, as HTTP/1.1 without TLS: what a homeserver would spend on the same event.
pub fn federation_transaction_bytes(event: &Object, origin_key: &ServerKey) -> u64 {
    let origin = origin_key.server_name();
    let destination = ServerKey::node(&[0xde; 32]).server_name().to_owned();
    let ts = event.get("origin_server_ts").cloned().unwrap_or(json!(0));
    let body = json!({"origin": origin, "origin_server_ts": ts, "pdus": [event]});
    let body = canonical_json::to_string(&body);
    let txn_id = format!("{}", ts.as_u64().unwrap_or(0));
    let uri = format!("/_matrix/federation/v1/send/{txn_id}");
    let signature = request_signature(origin_key, &uri, &destination, &body);
    let request = format!(
        "PUT {uri} HTTP/1.1\r\nHost: {destination}\r\nAuthorization: X-Matrix origin=\"{origin}\",\
         destination=\"{destination}\",key=\"ed25519:1\",sig=\"{signature}\"\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let event_id = dag::hashing::event_id(RoomVersion::V12, event);
    let answer_body = format!("{{\"pdus\":{{\"{event_id}\":{{}}}}}}");
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer_body}",
        answer_body.len()
    );
    (request.len() + answer.len()) as u64
}

/// The `sig` of an `X-Matrix` header: the origin's signature over the request as JSON.
fn request_signature(key: &ServerKey, uri: &str, destination: &str, body: &str) -> String {
    let content: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let request = json!({"method": "PUT", "uri": uri, "origin": key.server_name(),
                         "destination": destination, "content": content});
    let Value::Object(mut request) = request else {
        return String::new();
    };
    if sign_json(&mut request, key).is_err() {
        return String::new();
    }
    request["signatures"][key.server_name()][key.key_id()]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Reconnecting two nodes that share `rooms` rooms and already hold everything.
pub fn reconnect_in_sync(rooms: usize) -> Result<Exchange, BenchError> {
    let mut pair = Pair::new();
    for _ in 0..rooms {
        pair.create_room()?;
    }
    pair.connect()?;
    pair.disconnect();
    pair.connect()
}

/// Reconciliation after a partition in which each node wrote `per_side` messages in each of
/// `rooms` shared rooms: the exchange, and the events and event-frame bytes it carried.
pub struct Reconciliation {
    pub exchange: Exchange,
    pub missing_events: u64,
    pub events_sent: u64,
    pub event_frame_bytes: u64,
}

impl Reconciliation {
    /// Bytes beyond the frames that carried events, per missing event.
    pub fn overhead_per_missing_event(&self) -> f64 {
        let total: u64 = self.exchange.bytes.iter().sum();
        (total - self.event_frame_bytes) as f64 / self.missing_events.max(1) as f64
    }
}

pub fn reconcile_after_partition(
    rooms: usize,
    per_side: usize,
) -> Result<Reconciliation, BenchError> {
    let mut pair = Pair::new();
    pair.connect()?;
    let room_ids: Vec<String> = (0..rooms)
        .map(|_| pair.shared_room())
        .collect::<Result<_, _>>()?;
    pair.disconnect();
    for i in 0..per_side {
        for room_id in &room_ids {
            pair.say(0, room_id, &format!("port side report {i}"))?;
            pair.say(1, room_id, &format!("starboard report {i}"))?;
        }
    }
    let before = pair.nodes.each_ref().map(|n| n.sync.stats());
    let exchange = pair.connect()?;
    let (mut events_sent, mut event_frame_bytes) = (0, 0);
    for (node, before) in pair.nodes.iter().zip(before) {
        let after = node.sync.stats();
        events_sent += after.events_sent - before.events_sent;
        event_frame_bytes += after.event_frame_bytes_sent - before.event_frame_bytes_sent;
    }
    Ok(Reconciliation {
        exchange,
        missing_events: (2 * rooms * per_side) as u64,
        events_sent,
        event_frame_bytes,
    })
}

/// An idle, fully synchronised link over `hours` of virtual time: sync-protocol bytes only
/// (the transport's keep-alives are measured on real sockets).
pub fn idle_link(hours: u64) -> Result<Exchange, BenchError> {
    let mut pair = Pair::new();
    pair.connect()?;
    pair.shared_room()?;
    pair.idle(hours * 3_600_000, 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_message_costs_under_a_hundred_bytes_and_a_tenth_of_federation() {
        let costs = steady_state_messages(20, 40).unwrap();
        let mut link: Vec<u64> = costs.iter().map(|c| c.link_bytes).collect();
        link.sort_unstable();
        let median = link[link.len() / 2];
        assert!(median <= 100, "median {median} bytes");
        let federation: u64 = costs.iter().map(|c| c.federation_bytes).min().unwrap();
        assert!(federation > 10 * median, "federation {federation} bytes");
    }

    #[test]
    fn reconnecting_in_sync_is_one_small_frame_each_way() {
        for rooms in [1, 100] {
            let exchange = reconnect_in_sync(rooms).unwrap();
            assert_eq!(exchange.frames, [1, 1], "{rooms} rooms");
            assert!(exchange.bytes.iter().all(|b| *b <= 64), "{exchange:?}");
            assert_eq!(exchange.rounds, 1);
        }
    }

    #[test]
    fn reconciliation_spread_over_rooms_stays_cheap_and_exact() {
        let result = reconcile_after_partition(5, 40).unwrap();
        assert_eq!(result.events_sent, result.missing_events);
        assert!(result.overhead_per_missing_event() <= 25.0);
        assert!(result.exchange.rounds <= 4, "{:?}", result.exchange);
        // Reconnecting after the link had carried the room: no refinement round.
        assert_eq!(result.exchange.rounds, 3, "{:?}", result.exchange);
    }

    #[test]
    fn an_idle_link_costs_well_under_a_byte_per_second() {
        let exchange = idle_link(1).unwrap();
        let total: u64 = exchange.bytes.iter().sum();
        assert!(total < 3_600, "{total} bytes in an hour");
    }
}
