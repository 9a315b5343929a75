//! The mesh sync protocol as a sans-IO state machine: one [`Sync`] per node.
//!
//! Inputs: a peer connected ([`Sync::peer_connected`]), a frame arrived ([`Sync::frame_received`]),
//! a peer went away ([`Sync::peer_disconnected`]), a local event was stored
//! ([`Sync::event_stored`]), time passed ([`Sync::tick`]). Outputs: frames to send, pulled per
//! peer when the link can take them ([`Sync::poll_transmit`]), and notifications
//! ([`Sync::poll_event`]). The store is passed into each call; time is milliseconds on any
//! monotonic clock the driver chooses. The libp2p node and the simulator drive this same code.
//!
//! The protocol, per link (which must deliver frames reliably and in order):
//! 1. Both sides send `Hello` with a digest of all their rooms' heads. Equal digests: nothing to
//!    do, whatever the number of rooms.
//! 2. Otherwise both send `Heads` for every room they hold: heads plus a locator of older events
//!    at exponentially growing distances. A side answers heads of a room it does not hold with
//!    empty heads. From the other side's heads and locator each side computes what the other
//!    lacks and sends it, ancestors first. If the locator was too coarse to tell which of many
//!    events the other side holds, it first asks (`Locate`) for a denser one over that range.
//! 3. New events are pushed live: in full to eager peers, as `IHave` announcements to lazy ones.
//!    A peer that receives an event twice asks the second sender to `Prune` (go lazy); one that
//!    hears an `IHave` for an event it still lacks after a while sends `Graft` (go eager, and
//!    send it). This is Plumtree: duplicates stay near one per receiver without flooding.
//! 4. An event whose ancestors are missing waits, bounded in number and age, while they are
//!    asked for with `Want`.
//!
//! Everything is bounded: frame sizes, queued events per peer, waiting events, wanted IDs.
//! Nothing iterates a randomly seeded hash map, so the same inputs give the same frames: the
//! simulator's runs are reproducible from their seed.

mod codec;
pub mod message;
mod reconcile;
mod refs;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use codec::FrameCodec;
pub use codec::{CodecError, DICTIONARY_VERSION};
use message::{Message, RoomHeads};
use refs::LinkRefs;

use crate::RoomEvent;
use crate::canonical_json::Object;
use crate::room::{self, EventStatus, Incoming, ReceiveError, Received, RoomStore};
use crate::signing::{Ed25519, SignatureCheck};
use crate::wire;

/// The name under which both ends negotiate this protocol: its version, and the version of the
/// compression dictionary its streams start from (frames made with another dictionary do not
/// decode, so peers with different dictionaries must not be matched).
pub const PROTOCOL_NAME: &str = "/flotilla/sync/1/zdict/1";

/// Peers whose shared events are remembered across their disconnections.
const MAX_REMEMBERED_PEERS: usize = 1024;

/// A peer, named by its server name (the hex of its ed25519 key).
pub type PeerId = String;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Largest frame sent or accepted, after decompression.
    pub max_frame_bytes: usize,
    /// Events per `Events` frame.
    pub max_events_per_frame: usize,
    /// Rooms per `Heads` frame.
    pub max_rooms_per_frame: usize,
    /// Events queued for one peer; beyond this, reconciliation on a later connection catches up.
    pub max_queued_per_peer: usize,
    /// Received events waiting for their ancestors, over all peers.
    pub max_waiting: usize,
    /// How long a waiting event is kept.
    pub waiting_timeout_ms: u64,
    /// How long `IHave` announcements are gathered before they are sent.
    pub ihave_delay_ms: u64,
    /// How long an announced event may stay missing before it is grafted.
    pub graft_timeout_ms: u64,
    /// How often a link checks, by digest, that nothing was missed (0: never).
    pub anti_entropy_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_frame_bytes: 1 << 20,
            max_events_per_frame: 64,
            max_rooms_per_frame: 256,
            max_queued_per_peer: 100_000,
            max_waiting: 10_000,
            waiting_timeout_ms: 10 * 60 * 1000,
            ihave_delay_ms: 500,
            graft_timeout_ms: 3_000,
            anti_entropy_ms: 10 * 60 * 1000,
        }
    }
}

/// What the driver should know about.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    /// An event from a peer was stored: local clients may want it.
    Stored {
        room_id: String,
        event_id: String,
        status: EventStatus,
    },
    /// The peer broke the protocol; the driver should close the link.
    Disconnect { peer: PeerId, reason: String },
}

/// Counters a driver or simulator may report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Event payloads that arrived in frames (an event retried from the waiting set once its
    /// ancestors arrived is not counted again).
    pub events_received: u64,
    pub duplicate_events: u64,
    pub invalid_events: u64,
    pub frames_sent: u64,
    pub frame_bytes_sent: u64,
    /// Events sent, and the bytes of the frames that carried them.
    pub events_sent: u64,
    pub event_frame_bytes_sent: u64,
}

struct Link {
    codec: FrameCodec,
    refs: LinkRefs,
    /// Whether new events go to this peer in full (else announced).
    eager: bool,
    /// Control messages, sent before any events.
    control: VecDeque<Message>,
    /// Events to send, in order, without repeats.
    queue: VecDeque<String>,
    queued: BTreeSet<String>,
    ihave: Vec<String>,
    ihave_due: Option<u64>,
    /// Rooms whose heads we already sent in the current reconciliation.
    heads_sent: BTreeSet<String>,
    last_hello_digest: Option<[u8; 16]>,
    next_check: u64,
}

struct Waiting {
    event: Object,
    from: PeerId,
    since: u64,
}

pub struct Sync {
    config: SyncConfig,
    signatures: Arc<dyn SignatureCheck + Send + std::marker::Sync>,
    links: BTreeMap<PeerId, Link>,
    waiting: BTreeMap<String, Waiting>,
    /// Event IDs asked for with `Want`, to ask each only once at a time.
    wanted: BTreeSet<String>,
    /// Announced events we lack: when to graft, and from whom.
    announced: BTreeMap<String, (u64, PeerId)>,
    /// Per peer (also after it disconnected) and room, the deepest event a link to it carried
    /// either way, by depth: a reconnection's reconciliation starts from there.
    shared: BTreeMap<PeerId, BTreeMap<String, (u64, String)>>,
    events: VecDeque<SyncEvent>,
    stats: SyncStats,
}

impl Sync {
    pub fn new(config: SyncConfig) -> Sync {
        Sync::checking_signatures_with(config, Arc::new(Ed25519))
    }

    /// A `Sync` whose received events have their signatures checked by `signatures`.
    pub fn checking_signatures_with(
        config: SyncConfig,
        signatures: Arc<dyn SignatureCheck + Send + std::marker::Sync>,
    ) -> Sync {
        Sync {
            config,
            signatures,
            links: BTreeMap::new(),
            waiting: BTreeMap::new(),
            wanted: BTreeSet::new(),
            announced: BTreeMap::new(),
            shared: BTreeMap::new(),
            events: VecDeque::new(),
            stats: SyncStats::default(),
        }
    }

    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    pub fn connected_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.links.keys()
    }

    pub fn peer_connected(
        &mut self,
        store: &impl RoomStore,
        peer: &PeerId,
        now: u64,
    ) -> Result<(), CodecError> {
        let digest = reconcile::digest(store);
        let link = Link {
            codec: FrameCodec::new()?,
            refs: LinkRefs::default(),
            eager: true,
            control: VecDeque::from([Message::Hello { digest }]),
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            ihave: Vec::new(),
            ihave_due: None,
            heads_sent: BTreeSet::new(),
            last_hello_digest: Some(digest),
            next_check: now.saturating_add(self.config.anti_entropy_ms),
        };
        self.links.insert(peer.clone(), link);
        Ok(())
    }

    pub fn peer_disconnected(&mut self, peer: &PeerId) {
        self.links.remove(peer);
        self.announced.retain(|_, (_, from)| from != peer);
    }

    /// A local event was stored: push it to every peer.
    pub fn event_stored(&mut self, event_id: &str, now: u64) {
        self.spread(event_id, None, now);
    }

    /// Handles one frame from `peer`. A frame that cannot be decoded ends the link.
    pub fn frame_received(
        &mut self,
        store: &mut impl RoomStore,
        peer: &PeerId,
        frame: &[u8],
        now: u64,
    ) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        let message = link
            .codec
            .decompress(frame, self.config.max_frame_bytes)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Message::decode(&bytes).map_err(|e| e.to_string()));
        match message {
            Ok(message) => self.handle(store, peer, message, now),
            Err(reason) => self.drop_link(peer, reason),
        }
    }

    /// Flushes due announcements, grafts overdue events, expires waiting events, and runs the
    /// periodic digest check.
    pub fn tick(&mut self, store: &impl RoomStore, now: u64) {
        for link in self.links.values_mut() {
            if link.ihave_due.is_some_and(|due| due <= now) {
                link.control
                    .push_back(Message::IHave(std::mem::take(&mut link.ihave)));
                link.ihave_due = None;
            }
        }
        self.graft_overdue(store, now);
        let timeout = self.config.waiting_timeout_ms;
        self.waiting
            .retain(|_, w| now.saturating_sub(w.since) < timeout);
        self.wanted.retain(|id| store.event(id).is_none());
        self.check_digests(store, now);
    }

    /// The earliest time `tick` has work to do.
    pub fn next_wakeup(&self) -> Option<u64> {
        let ihave = self.links.values().filter_map(|l| l.ihave_due);
        let checks = self
            .links
            .values()
            .filter(|_| self.config.anti_entropy_ms > 0)
            .map(|l| l.next_check);
        let grafts = self.announced.values().map(|(due, _)| *due);
        let expiries = self
            .waiting
            .values()
            .map(|w| w.since.saturating_add(self.config.waiting_timeout_ms));
        ihave.chain(checks).chain(grafts).chain(expiries).min()
    }

    pub fn poll_event(&mut self) -> Option<SyncEvent> {
        self.events.pop_front()
    }

    /// Whether `poll_transmit` would produce a frame for this peer.
    pub fn wants_to_transmit(&self, peer: &PeerId) -> bool {
        self.links
            .get(peer)
            .is_some_and(|l| !l.control.is_empty() || !l.queue.is_empty())
    }

    /// The next frame for `peer`, if any: control messages first, then queued events.
    pub fn poll_transmit(&mut self, store: &impl RoomStore, peer: &PeerId) -> Option<Vec<u8>> {
        let config = self.config.clone();
        let link = self.links.get_mut(peer)?;
        let (message, sent) = match link.control.pop_front() {
            Some(message) => (message, Vec::new()),
            None => next_events_frame(link, store, &config)?,
        };
        let frame = link.codec.compress(&message.encode()).ok()?;
        self.remember_shared(store, peer, &sent);
        self.stats.frames_sent += 1;
        self.stats.frame_bytes_sent += frame.len() as u64;
        if let Message::Events { events, .. } = &message {
            self.stats.events_sent += events.len() as u64;
            self.stats.event_frame_bytes_sent += frame.len() as u64;
        }
        Some(frame)
    }

    fn handle(&mut self, store: &mut impl RoomStore, peer: &PeerId, message: Message, now: u64) {
        match message {
            Message::Hello { digest } => self.on_hello(store, peer, digest),
            Message::Heads(rooms) => self.on_heads(store, peer, rooms),
            Message::Events { acked, events } => self.on_events(store, peer, acked, events, now),
            Message::Want(ids) => self.queue_events(store, peer, ids),
            Message::IHave(ids) => self.on_ihave(store, peer, ids, now),
            Message::Prune => self.set_eager(peer, false),
            Message::Graft(ids) => {
                self.set_eager(peer, true);
                self.queue_events(store, peer, ids);
            }
            Message::Locate {
                room_id,
                above,
                below,
            } => self.on_locate(store, peer, &room_id, above, below),
        }
    }

    fn on_hello(&mut self, store: &impl RoomStore, peer: &PeerId, digest: [u8; 16]) {
        if digest == reconcile::digest(store) {
            return;
        }
        let shared = self.shared.get(peer);
        let rooms: Vec<RoomHeads> = store
            .room_ids()
            .iter()
            .filter_map(|id| {
                let shared = shared.and_then(|rooms| rooms.get(id));
                reconcile::room_heads(store, id, shared)
            })
            .collect();
        let batch = self.config.max_rooms_per_frame.max(1);
        if let Some(link) = self.links.get_mut(peer) {
            link.heads_sent = rooms.iter().map(|r| r.room_id.clone()).collect();
            for chunk in rooms.chunks(batch) {
                link.control.push_back(Message::Heads(chunk.to_vec()));
            }
        }
    }

    fn on_heads(&mut self, store: &impl RoomStore, peer: &PeerId, rooms: Vec<RoomHeads>) {
        let mut replies = Vec::new();
        let mut refinements = Vec::new();
        for theirs in rooms {
            let shared = self.shared.get(peer).and_then(|r| r.get(&theirs.room_id));
            let Some(ours) = reconcile::room_heads(store, &theirs.room_id, shared) else {
                replies.push(RoomHeads {
                    room_id: theirs.room_id,
                    heads: Vec::new(),
                    locator: Vec::new(),
                    shared: None,
                });
                continue;
            };
            let known: Vec<String> = theirs
                .heads
                .iter()
                .chain(theirs.locator.iter().map(|(id, _)| id))
                .chain(theirs.shared.iter().map(|(id, _)| id))
                .cloned()
                .collect();
            let missing = reconcile::missing_for_peer(store, &ours.heads, &known);
            match reconcile::doubtful_range(store, &theirs, &missing) {
                Some((above, below)) => refinements.push(Message::Locate {
                    room_id: theirs.room_id.clone(),
                    above,
                    below,
                }),
                None => self.queue_events(store, peer, missing),
            }
            let Some(link) = self.links.get_mut(peer) else {
                return;
            };
            if ours.heads != theirs.heads && link.heads_sent.insert(theirs.room_id.clone()) {
                replies.push(ours);
            }
        }
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        if !replies.is_empty() {
            link.control.push_back(Message::Heads(replies));
        }
        link.control.extend(refinements);
    }

    fn on_locate(
        &mut self,
        store: &impl RoomStore,
        peer: &PeerId,
        room_id: &str,
        above: u64,
        below: u64,
    ) {
        let (Some(heads), Some(link)) = (
            reconcile::dense_room_heads(store, room_id, above, below),
            self.links.get_mut(peer),
        ) else {
            return;
        };
        link.control.push_back(Message::Heads(vec![heads]));
    }

    fn on_events(
        &mut self,
        store: &mut impl RoomStore,
        peer: &PeerId,
        acked: u64,
        events: Vec<Vec<u8>>,
        now: u64,
    ) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        let mut decoded = Vec::with_capacity(events.len());
        let mut prepared = Vec::with_capacity(events.len());
        let mut undecodable = None;
        for bytes in &events {
            match wire::decode_with(bytes, &link.refs.as_receiver(acked)) {
                Ok(event) => {
                    let incoming = room::prepare(store, event.clone());
                    link.refs.received(&event, incoming.as_ref().ok());
                    decoded.push(event);
                    prepared.push(incoming);
                }
                Err(error) => {
                    undecodable = Some(error);
                    break;
                }
            }
        }
        self.stats.events_received += decoded.len() as u64;
        // Their signatures are checked together, while the events before them are stored.
        let prepared = room::check_signatures_together(prepared, &*self.signatures);
        for (event, incoming) in decoded.into_iter().zip(prepared) {
            self.ingest(store, peer, event, incoming, now);
        }
        // The reference tables no longer mirror: this link cannot go on.
        if let Some(error) = undecodable {
            return self.drop_link(peer, format!("undecodable event: {error}"));
        }
        self.retry_waiting(store, now);
    }

    fn drop_link(&mut self, peer: &PeerId, reason: String) {
        self.peer_disconnected(peer);
        self.events.push_back(SyncEvent::Disconnect {
            peer: peer.clone(),
            reason,
        });
    }

    /// Receives `event`, prepared as `incoming`; an event that could not be prepared is
    /// received from its JSON, since its room may have been created since.
    fn ingest(
        &mut self,
        store: &mut impl RoomStore,
        peer: &PeerId,
        event: Object,
        incoming: Result<Incoming, ReceiveError>,
        now: u64,
    ) {
        let received = match incoming {
            Ok(incoming) => room::receive_incoming(store, incoming, &*self.signatures),
            Err(_) => room::receive_checking_with(store, event.clone(), &*self.signatures),
        };
        match received {
            Ok(Received::Stored {
                room_id,
                event_id,
                status,
                ..
            }) => {
                self.remember_shared(store, peer, std::slice::from_ref(&event_id));
                self.stored(peer, room_id, event_id, status, now);
            }
            Ok(Received::AlreadyKnown { event_id, .. }) => {
                self.remember_shared(store, peer, std::slice::from_ref(&event_id));
                self.stats.duplicate_events += 1;
                self.waiting.remove(&event_id);
                self.on_duplicate(peer);
            }
            Ok(Received::RejectedCreate { .. }) => self.stats.invalid_events += 1,
            Err(ReceiveError::MissingEvents(ids)) => self.wait_for(store, peer, event, ids, now),
            Err(_) => self.stats.invalid_events += 1,
        }
    }

    fn stored(
        &mut self,
        peer: &PeerId,
        room_id: String,
        event_id: String,
        status: EventStatus,
        now: u64,
    ) {
        self.wanted.remove(&event_id);
        self.announced.remove(&event_id);
        self.waiting.remove(&event_id);
        if status != EventStatus::Rejected {
            self.spread(&event_id, Some(peer), now);
        }
        self.events.push_back(SyncEvent::Stored {
            room_id,
            event_id,
            status,
        });
    }

    /// Notes events that both we and `peer` now hold, keeping the deepest per room.
    fn remember_shared(&mut self, store: &impl RoomStore, peer: &PeerId, event_ids: &[String]) {
        if !self.shared.contains_key(peer) && self.shared.len() >= MAX_REMEMBERED_PEERS {
            self.shared.pop_first();
        }
        let rooms = self.shared.entry(peer.clone()).or_default();
        for id in event_ids {
            let Some(event) = store.event(id) else {
                continue;
            };
            // A v12 create event names no room; at depth 1 it would never be the deepest.
            let Some(room_id) = event.pdu.room_id() else {
                continue;
            };
            let newest = (event.pdu.depth(), id.clone());
            match rooms.get_mut(room_id) {
                Some(known) if *known >= newest => {}
                Some(known) => *known = newest,
                None => {
                    rooms.insert(room_id.to_owned(), newest);
                }
            }
        }
    }

    /// An eager peer sent us something we had: from now on it only announces.
    fn on_duplicate(&mut self, peer: &PeerId) {
        if let Some(link) = self.links.get_mut(peer) {
            link.control.push_back(Message::Prune);
        }
    }

    fn wait_for(
        &mut self,
        store: &impl RoomStore,
        peer: &PeerId,
        event: Object,
        missing: Vec<String>,
        now: u64,
    ) {
        let event_id = room::incoming_event_id(store, &event);
        if self.waiting.len() >= self.config.max_waiting {
            return;
        }
        self.waiting.insert(
            event_id,
            Waiting {
                event,
                from: peer.clone(),
                since: now,
            },
        );
        let to_ask: Vec<String> = missing
            .into_iter()
            .filter(|id| !self.waiting.contains_key(id) && self.wanted.insert(id.clone()))
            .collect();
        if let (false, Some(link)) = (to_ask.is_empty(), self.links.get_mut(peer)) {
            link.control.push_back(Message::Want(to_ask));
        }
    }

    /// Receives waiting events whose ancestors have arrived, until no more progress is made.
    fn retry_waiting(&mut self, store: &mut impl RoomStore, now: u64) {
        loop {
            let ready: Vec<(String, Object, PeerId)> = self
                .waiting
                .iter()
                .filter(|(_, w)| ancestors_held(store, &w.event))
                .map(|(id, w)| (id.clone(), w.event.clone(), w.from.clone()))
                .collect();
            if ready.is_empty() {
                return;
            }
            for (id, event, from) in ready {
                self.waiting.remove(&id);
                let incoming = room::prepare(store, event.clone());
                self.ingest(store, &from, event, incoming, now);
            }
        }
    }

    /// Pushes an event to every peer but the one it came from: in full to eager peers,
    /// announced to lazy ones.
    fn spread(&mut self, event_id: &str, from: Option<&PeerId>, now: u64) {
        let delay = self.config.ihave_delay_ms;
        let limit = self.config.max_queued_per_peer;
        for (peer, link) in self.links.iter_mut() {
            if Some(peer) == from {
                continue;
            }
            if link.eager {
                enqueue(link, event_id.to_owned(), limit);
            } else {
                link.ihave.push(event_id.to_owned());
                link.ihave_due.get_or_insert(now.saturating_add(delay));
            }
        }
    }

    fn queue_events(&mut self, store: &impl RoomStore, peer: &PeerId, ids: Vec<String>) {
        let limit = self.config.max_queued_per_peer;
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        for id in ids {
            let held = store
                .event(&id)
                .is_some_and(|e| e.status != EventStatus::Rejected);
            if held {
                enqueue(link, id, limit);
            }
        }
    }

    fn on_ihave(&mut self, store: &impl RoomStore, peer: &PeerId, ids: Vec<String>, now: u64) {
        let due = now.saturating_add(self.config.graft_timeout_ms);
        for id in ids {
            if store.event(&id).is_none() && !self.waiting.contains_key(&id) {
                self.announced
                    .entry(id)
                    .or_insert_with(|| (due, peer.clone()));
            }
        }
    }

    fn graft_overdue(&mut self, store: &impl RoomStore, now: u64) {
        let mut grafts: BTreeMap<PeerId, Vec<String>> = BTreeMap::new();
        self.announced.retain(|id, (due, peer)| {
            if store.event(id).is_some() {
                return false;
            }
            if *due > now {
                return true;
            }
            grafts.entry(peer.clone()).or_default().push(id.clone());
            false
        });
        for (peer, ids) in grafts {
            if let Some(link) = self.links.get_mut(&peer) {
                link.eager = true;
                link.control.push_back(Message::Graft(ids));
            }
        }
    }

    fn set_eager(&mut self, peer: &PeerId, eager: bool) {
        if let Some(link) = self.links.get_mut(peer) {
            link.eager = eager;
        }
    }

    /// Every so often, and only if our rooms changed since the last `Hello` on that link,
    /// compares digests again so that nothing missed stays missed.
    fn check_digests(&mut self, store: &impl RoomStore, now: u64) {
        if self.config.anti_entropy_ms == 0 {
            return;
        }
        let mut digest = None;
        for link in self.links.values_mut() {
            if link.next_check > now {
                continue;
            }
            link.next_check = now.saturating_add(self.config.anti_entropy_ms);
            let current = *digest.get_or_insert_with(|| reconcile::digest(store));
            if link.last_hello_digest != Some(current) {
                link.last_hello_digest = Some(current);
                link.heads_sent.clear();
                link.control.push_back(Message::Hello { digest: current });
            }
        }
    }
}

fn enqueue(link: &mut Link, event_id: String, limit: usize) {
    if link.queue.len() < limit && link.queued.insert(event_id.clone()) {
        link.queue.push_back(event_id);
    }
}

/// Up to a frame's worth of queued events, skipping any the store no longer has; and their IDs.
fn next_events_frame(
    link: &mut Link,
    store: &impl RoomStore,
    config: &SyncConfig,
) -> Option<(Message, Vec<String>)> {
    let mut ids = Vec::new();
    let mut events = Vec::new();
    let mut bytes = 0;
    while events.len() < config.max_events_per_frame {
        let Some(id) = link.queue.front() else { break };
        let Some(event) = store.event(id) else {
            let id = link.queue.pop_front()?;
            link.queued.remove(&id);
            continue;
        };
        let encoded = wire::encode_pdu_with(&event.pdu, &link.refs.as_sender());
        if !events.is_empty() && bytes + encoded.len() > config.max_frame_bytes / 2 {
            break;
        }
        link.refs.sent(&event.pdu);
        bytes += encoded.len();
        events.push(encoded);
        let id = link.queue.pop_front()?;
        link.queued.remove(&id);
        ids.push(id);
    }
    let acked = link.refs.received_count();
    (!events.is_empty()).then_some((Message::Events { acked, events }, ids))
}

fn ancestors_held(store: &impl RoomStore, event: &Object) -> bool {
    let ids = |field: &str| -> Vec<String> {
        event
            .get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    ids("prev_events")
        .iter()
        .chain(&ids("auth_events"))
        .all(|id| store.event(id).is_some())
}

#[cfg(test)]
mod tests;
