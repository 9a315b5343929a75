//! The resolution algorithm over interned events.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use foldhash::quality::FixedState;

use super::graph::{EventIndex, Graph, KeyIndex, POWER_LEVELS};
use super::marks::{Marks, Slots};
use super::power::{self, Power};
use super::{EventSource, ResolveError, StateMap, authz};
use crate::{RoomEvent, RoomVersion, StateResolution};

/// A room state over interned keys and events.
pub(crate) type InternedState = HashMap<KeyIndex, EventIndex, FixedState>;

/// A state resolver for one room. Interned events and per-event facts are kept between calls,
/// so resolving many states of the same room costs little more than the events that differ.
///
/// The source is read once per event: an event's content and rejection must not change while
/// the resolver lives (a server decides rejection before anything can cite the event).
pub struct Resolver<'a, S: EventSource> {
    pub(crate) graph: Graph<'a, S>,
    sort_power: Vec<Option<Power>>,
    /// v12: the last room ID looked up and its create event, which every check needs.
    room_create: Cell<Option<RoomCreate<'a, S::Event>>>,
    scratch: Scratch,
}

/// A room ID and the create event it names, if known.
type RoomCreate<'a, E> = (&'a str, Option<&'a E>);

/// Per-resolution working sets, kept to avoid reallocating them for every resolution.
#[derive(Default)]
struct Scratch {
    in_full_set: Marks,
    in_power_set: Marks,
    seen: Marks,
    slots: Slots,
}

/// The bits of the state sets whose auth chains contain an event, several words per event.
struct ChainMasks {
    words: usize,
    bits: Vec<u64>,
    full: Vec<u64>,
}

impl<'a, S: EventSource> Resolver<'a, S> {
    pub fn new(version: RoomVersion, source: &'a S) -> Self {
        Resolver {
            graph: Graph::new(version, source),
            sort_power: Vec::new(),
            room_create: Cell::new(None),
            scratch: Scratch::default(),
        }
    }

    /// Resolves state maps of event IDs, as [`super::resolve`] does.
    pub fn resolve(
        &mut self,
        state_sets: &[StateMap<String>],
    ) -> Result<StateMap<String>, ResolveError> {
        let interned = state_sets
            .iter()
            .map(|state| self.intern_state(state))
            .collect::<Result<Vec<_>, _>>()?;
        let resolved = self.resolve_interned(&interned);
        Ok(self.export_state(&resolved))
    }

    fn intern_state(&mut self, state: &StateMap<String>) -> Result<InternedState, ResolveError> {
        let mut interned =
            InternedState::with_capacity_and_hasher(state.len(), FixedState::default());
        for ((event_type, state_key), event_id) in state {
            let index = self.graph.intern(event_id)?;
            let node = self.graph.node(index);
            let Some(key) = node.key else {
                return Err(ResolveError::NotAStateEvent {
                    event_id: event_id.clone(),
                });
            };
            if self.graph.key_name(key) != (event_type.as_str(), state_key.as_str()) {
                return Err(ResolveError::WrongStateKey {
                    event_id: event_id.clone(),
                    event_type: event_type.clone(),
                    state_key: state_key.clone(),
                });
            }
            interned.insert(key, index);
        }
        Ok(interned)
    }

    pub(crate) fn export_state(&self, state: &InternedState) -> StateMap<String> {
        state
            .iter()
            .map(|(&key, &index)| {
                let (event_type, state_key) = self.graph.key_name(key);
                (
                    (event_type.to_owned(), state_key.to_owned()),
                    self.graph.node(index).id.to_owned(),
                )
            })
            .collect()
    }

    /// The spec's resolution of interned states whose events are all interned.
    pub(crate) fn resolve_interned(&mut self, states: &[InternedState]) -> InternedState {
        match states {
            [] => return InternedState::default(),
            [only] => return only.clone(),
            _ => {}
        }
        let (unconflicted, conflicted) = split_conflicts(states);
        if conflicted.is_empty() {
            return unconflicted;
        }
        let full_set = self.full_conflicted_set(states, &unconflicted, &conflicted);
        let power_sorted = self.sorted_power_events(&full_set);
        let initial = match self.graph.version.state_resolution() {
            StateResolution::V2 => unconflicted.clone(),
            StateResolution::V2_1 => InternedState::default(),
        };
        let partial = self.iterative_auth_checks(initial, &power_sorted);
        let in_power_set = &self.scratch.in_power_set;
        let others: Vec<EventIndex> = full_set
            .iter()
            .copied()
            .filter(|&event| !in_power_set.contains(event))
            .collect();
        let others_sorted = self.mainline_sorted(&partial, others);
        let mut resolved = self.iterative_auth_checks(partial, &others_sorted);
        resolved.extend(unconflicted);
        resolved
    }

    /// Conflicted state set ∪ auth difference (∪ conflicted state subgraph in v2.1), marked in
    /// `scratch.in_full_set`.
    fn full_conflicted_set(
        &mut self,
        states: &[InternedState],
        unconflicted: &InternedState,
        conflicted: &[EventIndex],
    ) -> Vec<EventIndex> {
        let mut full_set = Vec::new();
        self.scratch.in_full_set.clear();
        let difference = self.auth_difference(states, unconflicted);
        let subgraph = match self.graph.version.state_resolution() {
            StateResolution::V2 => Vec::new(),
            StateResolution::V2_1 => self.conflicted_subgraph(conflicted),
        };
        for event in conflicted
            .iter()
            .chain(&difference)
            .chain(&subgraph)
            .copied()
        {
            if self.scratch.in_full_set.insert(event) {
                full_set.push(event);
            }
        }
        full_set
    }

    /// ∪Cᵢ − ∩Cᵢ, where Cᵢ is the union of the auth chains of the events of state set i.
    ///
    /// Walks down from the state events' auth events in decreasing index order (newest first),
    /// so an event is reached from all its descendants before it is looked at, carrying the set
    /// of state sets that reach it. An event every set reaches has only such ancestors, so the
    /// walk ends once nothing but those is left to visit.
    fn auth_difference(
        &mut self,
        states: &[InternedState],
        unconflicted: &InternedState,
    ) -> Vec<EventIndex> {
        let mut walk = DifferenceWalk::new(states.len(), &mut self.scratch.slots);
        for &event in unconflicted.values() {
            for &auth in self.graph.auth_events(event) {
                walk.reach(auth, Reach::All);
            }
        }
        for (set, state) in states.iter().enumerate() {
            for (key, &event) in state {
                if unconflicted.get(key) == Some(&event) {
                    continue;
                }
                for &auth in self.graph.auth_events(event) {
                    walk.reach(auth, Reach::Set(set));
                }
            }
        }
        let mut difference = Vec::new();
        while let Some((event, slot, full)) = walk.pop() {
            if !full {
                difference.push(event);
            }
            for &auth in self.graph.auth_events(event) {
                walk.reach(auth, Reach::From(slot));
            }
        }
        difference
    }

    /// v2.1: every event on an auth path between two conflicted events, endpoints included.
    ///
    /// An event is on such a path when it is an auth ancestor of a conflicted event and has a
    /// conflicted auth ancestor (or is conflicted). Events older than the oldest conflicted event
    /// have no conflicted ancestor, so the walk stops there.
    fn conflicted_subgraph(&mut self, conflicted: &[EventIndex]) -> Vec<EventIndex> {
        let Some(&oldest) = conflicted.iter().min() else {
            return Vec::new();
        };
        let seen = &mut self.scratch.seen;
        seen.clear();
        let mut below: Vec<EventIndex> = Vec::new();
        let mut stack: Vec<EventIndex> = conflicted.to_vec();
        stack.iter().for_each(|&event| {
            seen.insert(event);
        });
        while let Some(event) = stack.pop() {
            below.push(event);
            for &auth in self.graph.auth_events(event) {
                if auth >= oldest && seen.insert(auth) {
                    stack.push(auth);
                }
            }
        }
        below.sort_unstable();
        let reaches = &mut self.scratch.in_power_set;
        reaches.clear();
        conflicted.iter().for_each(|&event| {
            reaches.insert(event);
        });
        let mut subgraph = Vec::new();
        for event in below {
            if reaches.contains(event)
                || self
                    .graph
                    .auth_events(event)
                    .iter()
                    .any(|&auth| reaches.contains(auth))
            {
                reaches.insert(event);
                subgraph.push(event);
            }
        }
        subgraph
    }

    /// Step 1: the power events of the full conflicted set and their auth ancestors in it, in
    /// reverse topological power order. Marks them in `scratch.in_power_set`.
    fn sorted_power_events(&mut self, full_set: &[EventIndex]) -> Vec<EventIndex> {
        let members = self.power_events_and_ancestors(full_set);
        let slots = &mut self.scratch.slots;
        slots.clear();
        for (local, &event) in members.iter().enumerate() {
            slots.set(event, local as u32);
        }
        let mut pending_auth = vec![0u32; members.len()];
        let mut citers: Vec<Vec<u32>> = vec![Vec::new(); members.len()];
        for (local, &event) in members.iter().enumerate() {
            for &auth in self.graph.auth_events(event) {
                if let Some(auth_local) = slots.get(auth) {
                    pending_auth[local] += 1;
                    citers[auth_local as usize].push(local as u32);
                }
            }
        }
        let mut ready = BinaryHeap::new();
        for (local, _) in pending_auth
            .iter()
            .enumerate()
            .filter(|(_, pending)| **pending == 0)
        {
            ready.push(Reverse(self.power_order_key(members[local], local as u32)));
        }
        let mut sorted = Vec::with_capacity(members.len());
        while let Some(Reverse(PowerOrderKey { local, .. })) = ready.pop() {
            sorted.push(members[local as usize]);
            for &citer in &citers[local as usize] {
                pending_auth[citer as usize] -= 1;
                if pending_auth[citer as usize] == 0 {
                    ready.push(Reverse(
                        self.power_order_key(members[citer as usize], citer),
                    ));
                }
            }
        }
        sorted
    }

    fn power_events_and_ancestors(&mut self, full_set: &[EventIndex]) -> Vec<EventIndex> {
        let in_power_set = &mut self.scratch.in_power_set;
        in_power_set.clear();
        let mut stack: Vec<EventIndex> = Vec::new();
        for &event in full_set {
            if self.graph.node(event).power_event && in_power_set.insert(event) {
                stack.push(event);
            }
        }
        let mut members = Vec::new();
        while let Some(event) = stack.pop() {
            members.push(event);
            for &auth in self.graph.auth_events(event) {
                if self.scratch.in_full_set.contains(auth) && in_power_set.insert(auth) {
                    stack.push(auth);
                }
            }
        }
        members
    }

    fn power_order_key(&mut self, event: EventIndex, local: u32) -> PowerOrderKey<'a> {
        let sender_power = Reverse(self.sort_power(event));
        let node = self.graph.node(event);
        PowerOrderKey {
            sender_power,
            origin_server_ts: node.event.origin_server_ts(),
            event_id: node.id,
            local,
        }
    }

    /// The sender's power level from the event's own auth events, memoised per event.
    fn sort_power(&mut self, event: EventIndex) -> Power {
        let slot = event as usize;
        if let Some(Some(power)) = self.sort_power.get(slot) {
            return *power;
        }
        let graph = &self.graph;
        let node = graph.node(event);
        let power_levels = node
            .power_levels_parent
            .map(|parent| graph.node(parent).event.content());
        let create = self.create_for(event);
        let power = power::sender_power(graph.version, node.event, power_levels, create);
        if slot >= self.sort_power.len() {
            self.sort_power.resize(slot + 1, None);
        }
        self.sort_power[slot] = Some(power);
        power
    }

    /// The room's create event as an event sees it: among its auth events before v12, named by
    /// its room ID from v12.
    fn create_for(&self, event: EventIndex) -> Option<&'a S::Event> {
        let graph = &self.graph;
        if graph.version.room_id_is_create_hash() {
            let room_id = graph.node(event).event.room_id()?;
            if let Some((cached_room, create)) = self.room_create.get()
                && cached_room == room_id
            {
                return create;
            }
            let create_id = format!("${}", room_id.strip_prefix('!')?);
            let create = graph.source.event(&create_id);
            self.room_create.set(Some((room_id, create)));
            return create;
        }
        graph
            .auth_events(event)
            .iter()
            .find(|&&auth| graph.is_create(auth))
            .map(|&auth| graph.node(auth).event)
    }

    /// Steps 3: the events not in step 1, in mainline order of the resolved power levels.
    fn mainline_sorted(
        &mut self,
        partial: &InternedState,
        mut events: Vec<EventIndex>,
    ) -> Vec<EventIndex> {
        let positions = &mut self.scratch.slots;
        positions.clear();
        let power_levels_key = self.graph.find_key(POWER_LEVELS, "");
        let mut mainline = power_levels_key.and_then(|key| partial.get(&key).copied());
        let mut position = 0;
        while let Some(power_levels) = mainline {
            positions.set(power_levels, position);
            position += 1;
            mainline = self.graph.node(power_levels).power_levels_parent;
        }
        let mut keyed: Vec<(Reverse<u32>, u64, &'a str, EventIndex)> = events
            .drain(..)
            .map(|event| {
                let node = self.graph.node(event);
                let position = mainline_position(&self.graph, positions, node.power_levels_parent);
                (
                    Reverse(position),
                    node.event.origin_server_ts(),
                    node.id,
                    event,
                )
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(.., event)| event).collect()
    }

    /// Applies each event to the state if the authorization rules allow it against the state,
    /// falling back to its own non-rejected auth events for keys the state lacks.
    fn iterative_auth_checks(
        &mut self,
        mut state: InternedState,
        events: &[EventIndex],
    ) -> InternedState {
        for &event in events {
            let Some(key) = self.graph.node(event).key else {
                continue;
            };
            let auth = self.auth_for_check(&state, event);
            let lookup = |event_type: &str, state_key: &str| auth.get(event_type, state_key);
            if authz::is_allowed(self.graph.version, self.graph.node(event).event, lookup) {
                state.insert(key, event);
            }
        }
        state
    }

    /// The auth events an iterative auth check sees: the event's non-rejected auth events,
    /// replaced by the non-rejected state events for the keys the rules need; from v12 also the
    /// create event named by the room ID.
    fn auth_for_check(
        &self,
        state: &InternedState,
        event: EventIndex,
    ) -> authz::AuthSet<'a, S::Event> {
        let graph = &self.graph;
        let node = graph.node(event);
        let mut auth = authz::AuthSet::default();
        for &auth_event in graph.auth_events(event) {
            let auth_node = graph.node(auth_event);
            if let (Some(key), false) = (auth_node.key, auth_node.rejected) {
                auth.insert(key, auth_node.event);
            }
        }
        for (event_type, state_key) in authz::auth_types(graph.version, node.event) {
            let Some(key) = graph.find_key(&event_type, &state_key) else {
                continue;
            };
            if let Some(&state_event) = state.get(&key) {
                let state_node = graph.node(state_event);
                if !state_node.rejected {
                    auth.insert(key, state_node.event);
                }
            }
        }
        if graph.version.room_id_is_create_hash() {
            let create = self.create_for(event);
            auth.set_room_create(
                create.filter(|create| !graph.source.is_rejected(create.event_id())),
            );
        }
        auth
    }
}

/// The spec's mainline position of an event whose power-levels auth event is `parent`: the
/// position of the first mainline event on its power-levels chain, or `u32::MAX` for ∞.
/// Positions found on the way are memoised in `positions` next to the mainline's own.
fn mainline_position<S: EventSource>(
    graph: &Graph<'_, S>,
    positions: &mut Slots,
    parent: Option<EventIndex>,
) -> u32 {
    let mut chain = Vec::new();
    let mut current = parent;
    let position = loop {
        let Some(event) = current else { break u32::MAX };
        if let Some(position) = positions.get(event) {
            break position;
        }
        chain.push(event);
        current = graph.node(event).power_levels_parent;
    };
    for event in chain {
        positions.set(event, position);
    }
    position
}

/// The reverse topological power ordering's comparison: greater sender power first, then
/// earlier `origin_server_ts`, then smaller event ID.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct PowerOrderKey<'a> {
    sender_power: Reverse<Power>,
    origin_server_ts: u64,
    event_id: &'a str,
    local: u32,
}

/// The unconflicted state map, and the distinct events of the conflicted state set.
fn split_conflicts(states: &[InternedState]) -> (InternedState, Vec<EventIndex>) {
    struct Seen {
        first: EventIndex,
        count: usize,
        agree: bool,
    }
    let largest = states.iter().map(HashMap::len).max().unwrap_or(0);
    let mut seen: HashMap<KeyIndex, Seen, FixedState> =
        HashMap::with_capacity_and_hasher(largest, FixedState::default());
    for state in states {
        for (&key, &event) in state {
            seen.entry(key)
                .and_modify(|seen| {
                    seen.count += 1;
                    seen.agree &= seen.first == event;
                })
                .or_insert(Seen {
                    first: event,
                    count: 1,
                    agree: true,
                });
        }
    }
    let mut unconflicted =
        InternedState::with_capacity_and_hasher(seen.len(), FixedState::default());
    for (&key, seen) in &seen {
        if seen.agree && seen.count == states.len() {
            unconflicted.insert(key, seen.first);
        }
    }
    let mut conflicted: Vec<EventIndex> = states
        .iter()
        .flat_map(|state| state.iter())
        .filter(|(key, _)| !unconflicted.contains_key(key))
        .map(|(_, &event)| event)
        .collect();
    conflicted.sort_unstable();
    conflicted.dedup();
    (unconflicted, conflicted)
}

/// How an event is reached in the auth difference walk.
#[derive(Clone, Copy)]
enum Reach {
    /// From an event of every state set.
    All,
    /// From an event of this state set.
    Set(usize),
    /// From the event in this slot: by every set that reaches that event.
    From(usize),
}

/// The frontier of the auth difference walk and the state sets reaching each event on it.
struct DifferenceWalk<'s> {
    masks: ChainMasks,
    slots: &'s mut Slots,
    heap: BinaryHeap<EventIndex>,
    /// Events in the heap that not every state set reaches (yet).
    partial_in_heap: usize,
}

impl<'s> DifferenceWalk<'s> {
    fn new(sets: usize, slots: &'s mut Slots) -> Self {
        slots.clear();
        DifferenceWalk {
            masks: ChainMasks::new(sets),
            slots,
            heap: BinaryHeap::new(),
            partial_in_heap: 0,
        }
    }

    fn reach(&mut self, event: EventIndex, how: Reach) {
        let slot = match self.slots.get(event) {
            Some(slot) => slot as usize,
            None => {
                let slot = self.masks.push();
                self.slots.set(event, slot as u32);
                self.heap.push(event);
                self.partial_in_heap += 1;
                slot
            }
        };
        let was_full = self.masks.is_full(slot);
        match how {
            Reach::All => self.masks.fill(slot),
            Reach::Set(set) => self.masks.set_bit(slot, set),
            Reach::From(from) => self.masks.merge(slot, from),
        }
        if !was_full && self.masks.is_full(slot) {
            self.partial_in_heap -= 1;
        }
    }

    /// The newest event left, its slot, and whether every set reaches it; `None` once only
    /// events that every set reaches are left.
    fn pop(&mut self) -> Option<(EventIndex, usize, bool)> {
        if self.partial_in_heap == 0 {
            return None;
        }
        let event = self.heap.pop()?;
        let slot = self.slots.get(event)? as usize;
        let full = self.masks.is_full(slot);
        if !full {
            self.partial_in_heap -= 1;
        }
        Some((event, slot, full))
    }
}

impl ChainMasks {
    fn new(sets: usize) -> Self {
        let words = sets.div_ceil(64).max(1);
        let mut full = vec![u64::MAX; words];
        let spare = words * 64 - sets;
        if let Some(last) = full.last_mut() {
            *last >>= spare;
        }
        ChainMasks {
            words,
            bits: Vec::new(),
            full,
        }
    }

    fn push(&mut self) -> usize {
        let slot = self.bits.len() / self.words;
        self.bits.resize(self.bits.len() + self.words, 0);
        slot
    }

    fn row(&self, slot: usize) -> &[u64] {
        &self.bits[slot * self.words..(slot + 1) * self.words]
    }

    fn is_full(&self, slot: usize) -> bool {
        match self.full.as_slice() {
            [full] => self.bits[slot] == *full,
            full => self.row(slot) == full,
        }
    }

    fn fill(&mut self, slot: usize) {
        let words = self.words;
        self.bits[slot * words..(slot + 1) * words].copy_from_slice(&self.full);
    }

    fn set_bit(&mut self, slot: usize, set: usize) {
        self.bits[slot * self.words + set / 64] |= 1 << (set % 64);
    }

    fn merge(&mut self, slot: usize, from: usize) {
        for word in 0..self.words {
            self.bits[slot * self.words + word] |= self.bits[from * self.words + word];
        }
    }
}
