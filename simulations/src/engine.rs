//! The discrete-event loop: nodes running the real `dag` sync protocol and room logic, links
//! modelled by [`crate::link`], faults and workload from the scenario.
//!
//! Virtual time is in milliseconds. Pending happenings sit in one binary heap ordered by
//! `(time, sequence number)`, so ties resolve in scheduling order and a run is a pure function
//! of the scenario and the seed: all randomness comes from one ChaCha8 generator, drawn in event
//! order, and nothing iterates a hash map.
//!
//! The heap stays bounded by the scenario: per link direction at most the frames in flight
//! (one per serialization slot within a propagation delay), per node one wake-up, per user one
//! next message, per room one next state change, plus the fault schedule and the sampler.

pub mod bootstrap;
mod faults;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use dag::RoomEvent;
use dag::room::{self, MemoryStore, NewEvent, RoomStore, SendError};
use dag::signing::ServerKey;
use dag::sync::{Sync, SyncConfig, SyncEvent, SyncStats};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use crate::link::{self, LossState};
use crate::report::{ConvergenceRow, LinkRow, Report, Summary, TimelineRow};
use crate::scenario::{Duplex, Scenario};
use crate::topology;
use crate::tracker::Tracker;
use crate::verdicts::Verdicts;
use crate::workload::{self, StateChange};
use faults::{Fault, FaultSchedule};

/// How long a link the protocol closed stays closed before it is reconnected.
const RECONNECT_AFTER_PROTOCOL_ERROR_MS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("setting up the rooms failed: {0}")]
    Bootstrap(String),
}

/// Where a run is, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub now_ms: u64,
    /// The workload's end plus the drain limit: the latest the run can stop.
    pub limit_ms: u64,
}

/// Runs the scenario with `seed` to the end and reports.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, SimError> {
    let mut simulation = Simulation::new(scenario, seed)?;
    simulation.run(progress);
    Ok(simulation.report())
}

enum Happening {
    /// A frame reaches the far end of `link` sent in direction `dir`, if the link was not cut
    /// since (`epoch`).
    Arrive {
        link: usize,
        dir: usize,
        epoch: u32,
        frame: Vec<u8>,
    },
    /// The channel of `link` in direction `dir` has finished its frame.
    ChannelFree {
        link: usize,
        dir: usize,
        epoch: u32,
    },
    Wake {
        node: usize,
    },
    Message {
        node: usize,
        user: usize,
    },
    StateChange {
        room: usize,
    },
    Fault(Fault),
    Sample,
}

struct Scheduled {
    time: u64,
    sequence: u64,
    happening: Happening,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.sequence).cmp(&(other.time, other.sequence))
    }
}

struct Node {
    key: ServerKey,
    users: Vec<String>,
    /// Durable: survives crashes.
    store: MemoryStore,
    /// Volatile: `None` while crashed.
    sync: Option<Sync>,
    /// Overlapping crashes and emission-control windows nest.
    crashes: u32,
    emcon: u32,
    wake_at: Option<u64>,
    bytes_sent: u64,
    /// Counters of the `Sync`s this node lost in crashes.
    past_stats: SyncStats,
}

#[derive(Default, Clone, Copy)]
struct DirectionStats {
    bytes: u64,
    frames: u64,
    retransmitted_bytes: u64,
    serializing_ms: u64,
}

struct Link {
    ends: [usize; 2],
    up: bool,
    /// Bumped whenever the link goes down or up: frames of an older epoch are lost with it.
    epoch: u32,
    cuts: u32,
    broken_by_protocol: bool,
    busy: [bool; 2],
    last_arrival: [u64; 2],
    loss: [LossState; 2],
    stats: [DirectionStats; 2],
}

pub struct Simulation<'a> {
    scenario: &'a Scenario,
    seed: u64,
    rng: ChaCha8Rng,
    sync_config: SyncConfig,
    /// One signature check for every node: it remembers verdicts (see [`Verdicts`]).
    signatures: Arc<Verdicts>,
    now: u64,
    sequence: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<Node>,
    /// Each node's server name, its peer ID in the protocol; apart from `nodes` so that one
    /// node's name can be lent while another node is borrowed mutably.
    names: Vec<String>,
    node_by_name: HashMap<String, usize>,
    links: Vec<Link>,
    links_of_node: Vec<Vec<usize>>,
    rooms: Vec<String>,
    admin_nodes: Vec<usize>,
    /// Users who are not admins, as (node, user index).
    non_admins: Vec<(usize, usize)>,
    faults: FaultSchedule,
    tracker: Tracker,
    heal_converged_ms: Option<u64>,
    state_change_count: u64,
    refused_writes: u64,
    writes_while_down: u64,
    protocol_disconnects: u64,
    max_forward_extremities: usize,
    processed: u64,
    timeline: Vec<TimelineRow>,
    convergence: Vec<ConvergenceRow>,
    finished_converged: Option<(bool, usize)>,
    /// With a shared medium: whether some link is transmitting.
    medium_busy: bool,
    /// With a shared medium: the link offered the channel first when it frees, rotating so
    /// that no link starves.
    next_offer: usize,
}

impl<'a> Simulation<'a> {
    pub fn new(scenario: &'a Scenario, seed: u64) -> Result<Simulation<'a>, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keys: Vec<ServerKey> = (0..scenario.nodes)
            .map(|_| node_key(rng.random()))
            .collect();
        let admin_nodes = admin_nodes(scenario);
        let (store, rooms) = bootstrap::rooms(scenario, &keys, &admin_nodes)?;
        let pairs = topology::links(&scenario.topology, scenario.nodes, &mut rng);
        let faults = FaultSchedule::new(scenario, &pairs, &mut rng);
        let mut links_of_node = vec![Vec::new(); scenario.nodes];
        let links: Vec<Link> = pairs
            .iter()
            .enumerate()
            .map(|(index, &(a, b))| {
                links_of_node[a].push(index);
                links_of_node[b].push(index);
                Link {
                    ends: [a, b],
                    up: false,
                    epoch: 0,
                    cuts: 0,
                    broken_by_protocol: false,
                    busy: [false; 2],
                    last_arrival: [0; 2],
                    loss: [LossState::default(); 2],
                    stats: [DirectionStats::default(); 2],
                }
            })
            .collect();
        let users_per_node = scenario.workload.users_per_node;
        let nodes: Vec<Node> = keys
            .into_iter()
            .map(|key| {
                let name = key.server_name();
                Node {
                    users: (0..users_per_node)
                        .map(|u| format!("@u{u}:{name}"))
                        .collect(),
                    key,
                    store: store.clone(),
                    sync: None,
                    crashes: 0,
                    emcon: 0,
                    wake_at: None,
                    bytes_sent: 0,
                    past_stats: SyncStats::default(),
                }
            })
            .collect();
        let non_admins = (0..scenario.nodes)
            .flat_map(|n| (0..users_per_node).map(move |u| (n, u)))
            .filter(|(n, u)| !(*u == 0 && admin_nodes.binary_search(n).is_ok()))
            .collect();
        Ok(Simulation {
            scenario,
            seed,
            rng,
            sync_config: sync_config(scenario),
            signatures: Arc::default(),
            now: 0,
            sequence: 0,
            queue: BinaryHeap::new(),
            node_by_name: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.key.server_name().to_owned(), i))
                .collect(),
            names: nodes
                .iter()
                .map(|n| n.key.server_name().to_owned())
                .collect(),
            nodes,
            links,
            links_of_node,
            rooms,
            admin_nodes,
            non_admins,
            faults,
            tracker: Tracker::new(scenario.nodes),
            heal_converged_ms: None,
            state_change_count: 0,
            refused_writes: 0,
            writes_while_down: 0,
            protocol_disconnects: 0,
            max_forward_extremities: 0,
            processed: 0,
            timeline: Vec::new(),
            convergence: Vec::new(),
            finished_converged: None,
            medium_busy: false,
            next_offer: 0,
        })
    }

    fn schedule(&mut self, time: u64, happening: Happening) {
        self.sequence += 1;
        self.queue.push(Reverse(Scheduled {
            time,
            sequence: self.sequence,
            happening,
        }));
    }

    /// The latest the run may go on: the workload, then the drain limit.
    fn limit_ms(&self) -> u64 {
        let drain = self.scenario.run.drain_limit_s.saturating_mul(1000);
        self.scenario
            .duration_ms()
            .max(self.faults.last_heal_ms().unwrap_or(0))
            .saturating_add(drain)
    }

    pub fn run(&mut self, progress: &mut dyn FnMut(Progress)) {
        self.start();
        let limit = self.limit_ms();
        let step = (limit / 200).max(1);
        let mut next_progress = 0;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.time > limit {
                break;
            }
            self.now = next.time;
            self.processed += 1;
            let sampled = matches!(next.happening, Happening::Sample);
            self.handle(next.happening);
            if self.now >= next_progress {
                progress(Progress {
                    now_ms: self.now,
                    limit_ms: limit,
                });
                next_progress = self.now + step;
            }
            if self.drained_and_converged(sampled) {
                break;
            }
        }
        self.now = self.now.min(limit);
    }

    fn start(&mut self) {
        for node in 0..self.nodes.len() {
            self.nodes[node].sync = Some(self.new_sync());
        }
        let faults: Vec<(u64, Fault)> = self.faults.events().to_vec();
        for (time, fault) in faults {
            self.schedule(time, Happening::Fault(fault));
        }
        self.update_links();
        self.schedule_workload();
        self.schedule(0, Happening::Sample);
    }

    fn schedule_workload(&mut self) {
        let workload = &self.scenario.workload;
        let message_rate = workload.messages_per_user_per_hour / 3_600_000.0;
        let state_rate = workload.state_changes_per_hour / 3_600_000.0;
        for node in 0..self.nodes.len() {
            for user in 0..workload.users_per_node {
                self.schedule_after(message_rate, Happening::Message { node, user });
            }
        }
        for room in 0..self.rooms.len() {
            self.schedule_after(state_rate, Happening::StateChange { room });
        }
    }

    /// Schedules the next arrival of a Poisson process of `rate` per millisecond, if it falls
    /// within the workload.
    fn schedule_after(&mut self, rate: f64, happening: Happening) {
        if rate <= 0.0 {
            return;
        }
        let uniform: f64 = self.rng.random();
        let gap = -(1.0 - uniform).ln() / rate;
        let time = self.now.saturating_add(gap.ceil().max(1.0) as u64);
        if time < self.scenario.duration_ms() {
            self.schedule(time, happening);
        }
    }

    fn handle(&mut self, happening: Happening) {
        match happening {
            Happening::Arrive {
                link,
                dir,
                epoch,
                frame,
            } => self.arrive(link, dir, epoch, &frame),
            Happening::ChannelFree { link, dir, epoch } => self.channel_free(link, dir, epoch),
            Happening::Wake { node } => self.wake(node),
            Happening::Message { node, user } => self.user_message(node, user),
            Happening::StateChange { room } => self.room_state_change(room),
            Happening::Fault(fault) => self.fault(fault),
            Happening::Sample => self.sample(),
        }
    }

    // ----- links -----

    fn arrive(&mut self, link: usize, dir: usize, epoch: u32, frame: &[u8]) {
        let Link { ends, epoch: e, .. } = self.links[link];
        if e != epoch {
            return;
        }
        let (from, to) = (ends[dir], ends[1 - dir]);
        let peer = &self.names[from];
        let Node { sync, store, .. } = &mut self.nodes[to];
        if let Some(sync) = sync {
            sync.frame_received(store, peer, frame, self.now);
        }
        self.after_input(to);
    }

    fn channel_free(&mut self, link: usize, dir: usize, epoch: u32) {
        let current = self.links[link].epoch == epoch;
        if current {
            self.links[link].busy[dir] = false;
        }
        match self.scenario.link.duplex {
            // The medium frees even if the link went down meanwhile.
            Duplex::Shared => {
                self.medium_busy = false;
                self.offer_medium();
            }
            Duplex::Half if current => {
                self.try_send(link, 1 - dir);
                self.try_send(link, dir);
            }
            Duplex::Full if current => self.try_send(link, dir),
            _ => {}
        }
    }

    /// Offers the free shared medium to every link and direction in turn, from a rotating start.
    fn offer_medium(&mut self) {
        let count = self.links.len();
        for offset in 0..count {
            let link = (self.next_offer + offset) % count;
            for dir in 0..2 {
                self.try_send(link, dir);
                if self.medium_busy {
                    self.next_offer = (link + 1) % count;
                    return;
                }
            }
        }
    }

    /// Starts the next frame on `link` in direction `dir` if the channel and the sender are free
    /// and the protocol has something to say.
    fn try_send(&mut self, link_index: usize, dir: usize) {
        let duplex = self.scenario.link.duplex;
        let link = &mut self.links[link_index];
        let channel_taken = match duplex {
            Duplex::Full => link.busy[dir],
            Duplex::Half => link.busy[dir] || link.busy[1 - dir],
            Duplex::Shared => self.medium_busy,
        };
        if !link.up || channel_taken {
            return;
        }
        let (from, to) = (link.ends[dir], link.ends[1 - dir]);
        let peer = &self.names[to];
        let node = &mut self.nodes[from];
        if node.emcon > 0 {
            return;
        }
        let Some(sync) = node.sync.as_mut() else {
            return;
        };
        if !sync.wants_to_transmit(peer) {
            return;
        }
        let Some(frame) = sync.poll_transmit(&node.store, peer) else {
            return;
        };
        let model = &self.scenario.link;
        let len = frame.len() as u64;
        node.bytes_sent += len;
        let sent = link::transmit(model, &mut link.loss[dir], len, &mut self.rng);
        let stats = &mut link.stats[dir];
        stats.bytes += len;
        stats.frames += 1;
        stats.retransmitted_bytes += sent.retransmitted_bytes;
        stats.serializing_ms += sent.serializing_ms;
        link.busy[dir] = true;
        self.medium_busy = duplex == Duplex::Shared;
        let done = self.now + sent.channel_ms;
        let arrival =
            (done + link::propagation_ms(model, &mut self.rng)).max(link.last_arrival[dir]);
        link.last_arrival[dir] = arrival;
        let epoch = link.epoch;
        self.schedule(
            done,
            Happening::ChannelFree {
                link: link_index,
                dir,
                epoch,
            },
        );
        self.schedule(
            arrival,
            Happening::Arrive {
                link: link_index,
                dir,
                epoch,
                frame,
            },
        );
    }

    /// Brings every link to the state the faults ask for.
    fn update_links(&mut self) {
        for index in 0..self.links.len() {
            let link = &self.links[index];
            let [a, b] = link.ends;
            let wanted = self.nodes[a].crashes == 0
                && self.nodes[b].crashes == 0
                && link.cuts == 0
                && !link.broken_by_protocol
                && !self.faults.partitioned(a, b);
            if wanted != link.up {
                if wanted {
                    self.link_up(index);
                } else {
                    self.link_down(index);
                }
            }
        }
    }

    fn link_up(&mut self, index: usize) {
        let link = &mut self.links[index];
        link.up = true;
        link.epoch += 1;
        link.busy = [false; 2];
        link.last_arrival = [self.now; 2];
        let ends = link.ends;
        for (me, other) in [(ends[0], ends[1]), (ends[1], ends[0])] {
            let peer = &self.names[other];
            let Node { sync, store, .. } = &mut self.nodes[me];
            if let Some(Err(error)) = sync
                .as_mut()
                .map(|sync| sync.peer_connected(store, peer, self.now))
            {
                tracing::error!(%error, node = me, "the sync protocol refused a connection");
            }
        }
        self.after_input(ends[0]);
        self.after_input(ends[1]);
    }

    fn link_down(&mut self, index: usize) {
        let link = &mut self.links[index];
        link.up = false;
        link.epoch += 1;
        link.busy = [false; 2];
        let ends = link.ends;
        for (me, other) in [(ends[0], ends[1]), (ends[1], ends[0])] {
            let peer = &self.names[other];
            if let Some(sync) = self.nodes[me].sync.as_mut() {
                sync.peer_disconnected(peer);
            }
        }
    }

    // ----- nodes -----

    /// After anything reached a node's protocol: take its notifications, start frames on its
    /// free channels, and make sure it is woken when it has timed work.
    fn after_input(&mut self, node: usize) {
        while let Some(event) = self.nodes[node].sync.as_mut().and_then(Sync::poll_event) {
            match event {
                SyncEvent::Stored { event_id, .. } => {
                    self.tracker.stored(&event_id, self.now);
                    self.note_heal_convergence();
                }
                SyncEvent::Disconnect { peer, reason } => self.protocol_broke(node, &peer, &reason),
            }
        }
        for slot in 0..self.links_of_node[node].len() {
            let index = self.links_of_node[node][slot];
            let dir = usize::from(self.links[index].ends[0] != node);
            self.try_send(index, dir);
        }
        self.schedule_wake(node);
    }

    fn schedule_wake(&mut self, node: usize) {
        let Some(due) = self.nodes[node].sync.as_ref().and_then(Sync::next_wakeup) else {
            return;
        };
        let due = due.max(self.now + 1);
        if self.nodes[node].wake_at.is_none_or(|at| due < at) {
            self.nodes[node].wake_at = Some(due);
            self.schedule(due, Happening::Wake { node });
        }
    }

    fn wake(&mut self, node: usize) {
        if self.nodes[node].wake_at != Some(self.now) {
            return;
        }
        self.nodes[node].wake_at = None;
        let Node { sync, store, .. } = &mut self.nodes[node];
        if let Some(sync) = sync {
            sync.tick(store, self.now);
        }
        self.after_input(node);
    }

    fn protocol_broke(&mut self, node: usize, peer: &str, reason: &str) {
        self.protocol_disconnects += 1;
        tracing::warn!(node, peer, reason, "the sync protocol closed a link");
        let Some(&other) = self.node_by_name.get(peer) else {
            return;
        };
        let Some(index) = self.links_of_node[node]
            .iter()
            .copied()
            .find(|&l| self.links[l].ends.contains(&other))
        else {
            return;
        };
        self.links[index].broken_by_protocol = true;
        self.link_down(index);
        let at = self.now + RECONNECT_AFTER_PROTOCOL_ERROR_MS;
        self.schedule(at, Happening::Fault(Fault::Reconnect(index)));
    }

    fn fault(&mut self, fault: Fault) {
        match fault {
            Fault::PartitionStart(p) => self.faults.set_partition(p, true),
            Fault::PartitionEnd(p) => self.faults.set_partition(p, false),
            Fault::CutStart(l) => self.links[l].cuts += 1,
            Fault::CutEnd(l) => self.links[l].cuts -= 1,
            Fault::Reconnect(l) => self.links[l].broken_by_protocol = false,
            Fault::Crash(n) => self.crash(n),
            Fault::Restart(n) => self.restart(n),
            Fault::EmconStart(n) => self.nodes[n].emcon += 1,
            Fault::EmconEnd(n) => {
                self.nodes[n].emcon -= 1;
                self.after_input(n);
            }
        }
        self.update_links();
        self.note_heal_convergence();
    }

    fn crash(&mut self, node: usize) {
        let node = &mut self.nodes[node];
        node.crashes += 1;
        if let Some(sync) = node.sync.take() {
            node.past_stats = add_stats(node.past_stats, sync.stats());
        }
        node.wake_at = None;
    }

    fn restart(&mut self, node: usize) {
        let sync = self.new_sync();
        let node = &mut self.nodes[node];
        node.crashes -= 1;
        if node.crashes == 0 {
            node.sync = Some(sync);
        }
    }

    fn new_sync(&self) -> Sync {
        let signatures = Arc::clone(&self.signatures);
        Sync::checking_signatures_with(self.sync_config.clone(), signatures)
    }

    // ----- workload -----

    fn user_message(&mut self, node: usize, user: usize) {
        let rate = self.scenario.workload.messages_per_user_per_hour / 3_600_000.0;
        self.schedule_after(rate, Happening::Message { node, user });
        let room = self.rng.random_range(0..self.rooms.len());
        let sender = self.nodes[node].users[user].clone();
        let event = workload::message(&sender, self.scenario.workload.message_chars, &mut self.rng);
        self.local_write(node, room, &event, true);
    }

    fn room_state_change(&mut self, room: usize) {
        let rate = self.scenario.workload.state_changes_per_hour / 3_600_000.0;
        self.schedule_after(rate, Happening::StateChange { room });
        let mut kind = StateChange::pick(&mut self.rng);
        if self.non_admins.is_empty() {
            kind = StateChange::Topic;
        }
        let target = (!self.non_admins.is_empty())
            .then(|| self.non_admins[self.rng.random_range(0..self.non_admins.len())]);
        self.state_change_count += 1;
        if !kind.by_admin() {
            if let Some((node, user)) = target {
                self.state_write(room, kind, node, user, target, 0);
            }
            return;
        }
        let actors = self.acting_admins();
        for (side, admin) in actors.into_iter().enumerate() {
            self.state_write(room, kind, admin, 0, target, side as u64);
        }
    }

    /// The admin nodes that act on a state change: one live admin, or with conflicting admins
    /// during a partition one on each side that has one.
    fn acting_admins(&mut self) -> Vec<usize> {
        let live: Vec<usize> = self
            .admin_nodes
            .iter()
            .copied()
            .filter(|&n| self.nodes[n].crashes == 0)
            .collect();
        if live.is_empty() {
            return Vec::new();
        }
        let sides = if self.scenario.workload.conflicting_admin {
            self.faults.sides(&live)
        } else {
            vec![live]
        };
        sides
            .into_iter()
            .map(|side| side[self.rng.random_range(0..side.len())])
            .collect()
    }

    fn state_write(
        &mut self,
        room: usize,
        kind: StateChange,
        node: usize,
        user: usize,
        target: Option<(usize, usize)>,
        side: u64,
    ) {
        let actor = self.nodes[node].users[user].clone();
        let target = target.map_or_else(|| actor.clone(), |(n, u)| self.nodes[n].users[u].clone());
        let variant = self.state_change_count * 2 + side;
        let event = workload::state_change(
            &self.nodes[node].store,
            &self.rooms[room],
            kind,
            &actor,
            &target,
            variant,
        );
        match event {
            Some(event) => self.local_write(node, room, &event, false),
            None => self.refused_writes += 1,
        }
    }

    fn local_write(&mut self, node: usize, room: usize, event: &NewEvent, message: bool) {
        if self.nodes[node].crashes > 0 {
            self.writes_while_down += 1;
            return;
        }
        let ts = self.scenario.run.start_unix_ms + self.now;
        let Node {
            store, key, sync, ..
        } = &mut self.nodes[node];
        match room::send(store, &self.rooms[room], event, ts, key) {
            Ok(pdu) => {
                self.tracker.created(pdu.event_id(), self.now, message);
                if let Some(sync) = sync {
                    sync.event_stored(pdu.event_id(), self.now);
                }
                self.after_input(node);
            }
            Err(SendError::Forbidden(_)) => self.refused_writes += 1,
            Err(error) => {
                self.refused_writes += 1;
                tracing::warn!(%error, node, "a local write failed");
            }
        }
    }

    // ----- measurement -----

    /// Records the first moment after the last heal at which everything created before it is
    /// everywhere.
    fn note_heal_convergence(&mut self) {
        let Some(heal) = self.faults.last_heal_ms() else {
            return;
        };
        if self.heal_converged_ms.is_none()
            && self.now >= heal
            && self.tracker.everywhere_up_to(heal)
        {
            self.heal_converged_ms = Some(self.now);
        }
    }

    /// Whether the run may stop: the workload and faults are over, every event is everywhere,
    /// and the full check agrees. A failed full check is retried only at the next sample, as
    /// it resolves every node's state.
    fn drained_and_converged(&mut self, sampled: bool) -> bool {
        if self.now < self.scenario.duration_ms()
            || self
                .faults
                .last_heal_ms()
                .is_some_and(|heal| self.now < heal)
            || self.tracker.not_everywhere() > 0
            || (self.finished_converged.is_some() && !sampled)
        {
            return false;
        }
        let (converged, divergent) = self.check_convergence();
        self.finished_converged = Some((converged, divergent));
        converged
    }

    /// Whether every node has the same sync heads and head state in every room, and how many
    /// rooms differ.
    fn check_convergence(&self) -> (bool, usize) {
        let divergent = self
            .rooms
            .iter()
            .filter(|room| !self.room_converged(room))
            .count();
        (divergent == 0, divergent)
    }

    fn room_converged(&self, room_id: &str) -> bool {
        let heads = |node: &Node| {
            node.store.room(room_id).map(|r| {
                let mut heads = r.sync_heads;
                heads.sort();
                heads
            })
        };
        let reference = heads(&self.nodes[0]);
        if reference.is_none() || self.nodes.iter().any(|n| heads(n) != reference) {
            return false;
        }
        let state = |node: &Node| room::head_state(&node.store, room_id).ok();
        let reference = state(&self.nodes[0]);
        reference.is_some() && self.nodes.iter().all(|n| state(n) == reference)
    }

    fn sample(&mut self) {
        let time_s = self.now / 1000;
        let mut head_sets = BTreeSet::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let mut extremities = 0;
            let mut heads = Vec::new();
            for room_id in &self.rooms {
                if let Some(room) = node.store.room(room_id) {
                    extremities = extremities.max(room.forward_extremities.len());
                    let mut room_heads = room.sync_heads;
                    room_heads.sort();
                    heads.push(room_heads);
                }
            }
            self.max_forward_extremities = self.max_forward_extremities.max(extremities);
            head_sets.insert(heads);
            self.timeline.push(TimelineRow {
                time_s,
                node: index,
                events_held: node.store.log().len(),
                bytes_sent: node.bytes_sent,
                forward_extremities: extremities,
            });
        }
        self.convergence.push(ConvergenceRow {
            time_s,
            events_not_everywhere: self.tracker.not_everywhere(),
            distinct_head_sets: head_sets.len(),
            links_up: self.links.iter().filter(|l| l.up).count(),
        });
        let interval = self.scenario.run.sample_interval_s.saturating_mul(1000);
        self.schedule(self.now + interval, Happening::Sample);
    }

    pub fn report(mut self) -> Report {
        self.sample();
        let (converged, divergent_rooms) = match self.finished_converged {
            Some(result) if result.0 => result,
            _ => self.check_convergence(),
        };
        let simulated_ms = self.now.max(1);
        let links: Vec<LinkRow> = self
            .links
            .iter()
            .flat_map(|link| {
                [0, 1].map(|dir| {
                    let s = link.stats[dir];
                    LinkRow {
                        from: link.ends[dir],
                        to: link.ends[1 - dir],
                        bytes: s.bytes,
                        frames: s.frames,
                        retransmitted_bytes: s.retransmitted_bytes,
                        serializing_ms: s.serializing_ms,
                        utilisation: s.serializing_ms as f64 / simulated_ms as f64,
                    }
                })
            })
            .collect();
        let stats = self.nodes.iter().fold(SyncStats::default(), |total, node| {
            let current = node.sync.as_ref().map(Sync::stats).unwrap_or_default();
            add_stats(add_stats(total, node.past_stats), current)
        });
        let bytes_on_links: u64 = links.iter().map(|l| l.bytes).sum();
        let tracker = &self.tracker;
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let heal = self.faults.last_heal_ms();
        let delivery = tracker.delivery_percentiles();
        let seconds = |i: usize| delivery.map(|d| d[i] as f64 / 1000.0);
        let summary = Summary {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            nodes: self.nodes.len(),
            links: self.links.len(),
            rooms: self.rooms.len(),
            simulated_seconds: self.now as f64 / 1000.0,
            workload_seconds: self.scenario.duration_s,
            converged,
            divergent_rooms,
            events_created: tracker.events_created(),
            messages_sent: tracker.messages_sent,
            messages_delivered_everywhere: tracker.messages_everywhere,
            lost_messages: tracker.messages_sent - tracker.messages_everywhere,
            refused_writes: self.refused_writes,
            writes_while_down: self.writes_while_down,
            last_heal_seconds: heal.map(|h| h as f64 / 1000.0),
            convergence_seconds_after_last_heal: heal
                .zip(self.heal_converged_ms)
                .map(|(heal, at)| (at - heal) as f64 / 1000.0),
            message_delivery_seconds_p50: seconds(0),
            message_delivery_seconds_p99: seconds(1),
            message_delivery_seconds_max: seconds(2),
            bytes_on_links,
            retransmitted_bytes: links.iter().map(|l| l.retransmitted_bytes).sum(),
            frames_on_links: links.iter().map(|l| l.frames).sum(),
            event_frame_bytes: stats.event_frame_bytes_sent,
            control_frame_bytes: bytes_on_links.saturating_sub(stats.event_frame_bytes_sent),
            bytes_on_links_per_message: ratio(bytes_on_links, tracker.messages_sent),
            event_payloads_received: stats.events_received,
            event_payloads_needed: tracker.stored_from_peers,
            duplicate_payload_ratio: ratio(stats.events_received, tracker.stored_from_peers),
            max_forward_extremities: self.max_forward_extremities,
            protocol_disconnects: self.protocol_disconnects,
            invalid_events: stats.invalid_events,
            partitions: self.faults.partition_count(),
            crashes: self.faults.crash_count(),
            simulator_events: self.processed,
        };
        Report {
            summary,
            timeline: self.timeline,
            convergence: self.convergence,
            links,
        }
    }
}

/// A node key from 32 seed bytes; the server name is the hex of its public key.
fn node_key(seed: [u8; 32]) -> ServerKey {
    let public = ServerKey::from_seed("", dag::pdu::NODE_KEY_ID, &seed).verifying_key();
    let name: String = public
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ServerKey::from_seed(name, dag::pdu::NODE_KEY_ID, &seed)
}

/// Evenly spaced nodes, node 0 first, sorted.
pub fn admin_nodes(scenario: &Scenario) -> Vec<usize> {
    let count = scenario
        .workload
        .admin_nodes
        .unwrap_or(scenario.nodes.min(32));
    let mut nodes: Vec<usize> = (0..count).map(|i| i * scenario.nodes / count).collect();
    nodes.dedup();
    nodes
}

fn sync_config(scenario: &Scenario) -> SyncConfig {
    let tuning = &scenario.sync;
    let mut config = SyncConfig::default();
    if let Some(value) = tuning.ihave_delay_ms {
        config.ihave_delay_ms = value;
    }
    if let Some(value) = tuning.graft_timeout_ms {
        config.graft_timeout_ms = value;
    }
    if let Some(value) = tuning.anti_entropy_ms {
        config.anti_entropy_ms = value;
    }
    if let Some(value) = tuning.max_events_per_frame {
        config.max_events_per_frame = value;
    }
    config
}

fn add_stats(a: SyncStats, b: SyncStats) -> SyncStats {
    SyncStats {
        events_received: a.events_received + b.events_received,
        duplicate_events: a.duplicate_events + b.duplicate_events,
        invalid_events: a.invalid_events + b.invalid_events,
        frames_sent: a.frames_sent + b.frames_sent,
        frame_bytes_sent: a.frame_bytes_sent + b.frame_bytes_sent,
        events_sent: a.events_sent + b.events_sent,
        event_frame_bytes_sent: a.event_frame_bytes_sent + b.event_frame_bytes_sent,
    }
}
