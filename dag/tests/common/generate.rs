//! Seeded random rooms with conflicting branches, for differential, property and benchmark runs.
//!
//! A room is bootstrapped on one branch, then forks into several branches that each make
//! concurrent power level, ban, kick, join, invite, leave, join rule and topic changes by random
//! members (many of which the auth rules refuse), with timestamps that often tie. Branches fork
//! again and merge back; a merge's state is whatever `merge` resolves. Auth events are chosen
//! from the branch's own state, as the sending server would. With `authorized_only`, events the
//! auth rules refuse are not sent at all.

use dag::RoomVersion;
use std::collections::HashMap;

use dag::auth::{auth_types_for_event, check_auth, check_auth_events_shape};
use dag::state_res::StateMap;
use dag::state_res::fixture::FixtureEvent;
use serde_json::{Value, json};

/// splitmix64: tiny, seedable, good enough to draw test rooms.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            items.swap(index, self.below(index + 1));
        }
    }
}

/// The shape of a generated room.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub branches: usize,
    pub events_per_branch: usize,
    pub users: usize,
    /// Percent of branch steps that fork a short side branch and merge it back.
    pub side_branch_percent: u64,
    /// Percent of branch events marked rejected, as if a server had rejected them on receipt.
    pub rejected_percent: u64,
    /// Only events the auth rules accept (against their auth events and the branch's state)
    /// are sent, as by well-behaved servers; otherwise any event is sent and enters the
    /// branch's state, so resolutions also see states no server would have.
    pub authorized_only: bool,
}

pub struct Room {
    pub version: RoomVersion,
    pub events: Vec<FixtureEvent>,
    /// The state after each branch's last event.
    pub leaf_states: Vec<StateMap<String>>,
}

/// Resolves the states of branches being merged, given all events so far.
pub type Merge<'m> = dyn FnMut(&[FixtureEvent], &[StateMap<String>]) -> StateMap<String> + 'm;

struct Branch {
    head: Vec<String>,
    state: StateMap<String>,
    ts: u64,
}

struct Generator<'m> {
    version: RoomVersion,
    rng: Rng,
    shape: Shape,
    events: Vec<FixtureEvent>,
    room_id: Option<String>,
    /// Positions in `events` by event ID.
    index: HashMap<String, usize>,
    merge: &'m mut Merge<'m>,
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn user(index: usize) -> String {
    format!("@u{index}:example.org")
}

/// Generates a room; `merge` resolves the states at each merge of a side branch.
pub fn generate(version: RoomVersion, seed: u64, shape: Shape, merge: &mut Merge<'_>) -> Room {
    let mut generator = Generator {
        version,
        rng: Rng::new(seed),
        shape,
        events: Vec::new(),
        room_id: None,
        index: HashMap::new(),
        merge,
    };
    let mut trunk = Branch {
        head: Vec::new(),
        state: StateMap::new(),
        ts: 0,
    };
    generator.bootstrap(&mut trunk);
    let mut branches: Vec<Branch> = (0..shape.branches)
        .map(|_| Branch {
            head: trunk.head.clone(),
            state: trunk.state.clone(),
            ts: trunk.ts,
        })
        .collect();
    for step in 0..shape.events_per_branch {
        for branch in &mut branches {
            generator.step(branch, step + 1 == shape.events_per_branch);
        }
    }
    Room {
        version,
        events: generator.events,
        leaf_states: branches.into_iter().map(|b| b.state).collect(),
    }
}

impl Generator<'_> {
    fn bootstrap(&mut self, trunk: &mut Branch) {
        let creator = user(0);
        let mut create = json!({ "room_version": self.version.as_str() });
        if self.version == RoomVersion::V10 {
            create["creator"] = json!(creator);
        }
        self.emit(trunk, "m.room.create", "", &creator, create, false);
        self.emit(
            trunk,
            "m.room.member",
            &creator,
            &creator,
            json!({ "membership": "join" }),
            false,
        );
        let mut users = json!({ user(1): 100, user(2): 50 });
        if !self.version.room_id_is_create_hash() {
            users[creator.as_str()] = json!(100);
        }
        let levels =
            json!({ "users": users, "kick": 50, "ban": 50, "invite": 0, "state_default": 50 });
        self.emit(trunk, "m.room.power_levels", "", &creator, levels, false);
        self.emit(
            trunk,
            "m.room.join_rules",
            "",
            &creator,
            json!({ "join_rule": "public" }),
            false,
        );
        for index in 1..self.shape.users {
            let member = user(index);
            self.emit(
                trunk,
                "m.room.member",
                &member,
                &member,
                json!({ "membership": "join" }),
                false,
            );
        }
    }

    /// One event on the branch, sometimes by way of a side branch merged back.
    fn step(&mut self, branch: &mut Branch, last: bool) {
        if !last && self.rng.chance(self.shape.side_branch_percent) {
            let mut side = Branch {
                head: branch.head.clone(),
                state: branch.state.clone(),
                ts: branch.ts,
            };
            for _ in 0..1 + self.rng.below(3) {
                self.random_event(&mut side);
            }
            self.random_event(branch);
            let resolved = (self.merge)(&self.events, &[branch.state.clone(), side.state.clone()]);
            branch.state = resolved;
            branch.head.extend(side.head);
            branch.ts = branch.ts.max(side.ts);
        }
        self.random_event(branch);
    }

    fn random_event(&mut self, branch: &mut Branch) {
        let sender = user(self.rng.below(self.shape.users));
        let target = user(self.rng.below(self.shape.users));
        let (event_type, state_key, content) = match self.rng.below(8) {
            0 => (
                "m.room.power_levels",
                String::new(),
                self.random_power_levels(),
            ),
            1 => ("m.room.member", target, json!({ "membership": "ban" })),
            2 => ("m.room.member", target, json!({ "membership": "leave" })),
            3 => (
                "m.room.member",
                sender.clone(),
                json!({ "membership": "join" }),
            ),
            4 => ("m.room.member", target, json!({ "membership": "invite" })),
            5 => (
                "m.room.member",
                sender.clone(),
                json!({ "membership": "leave" }),
            ),
            6 => {
                let rule = ["public", "invite"][self.rng.below(2)];
                (
                    "m.room.join_rules",
                    String::new(),
                    json!({ "join_rule": rule }),
                )
            }
            _ => (
                "m.room.topic",
                String::new(),
                json!({ "topic": format!("t{}", self.rng.next() % 1000) }),
            ),
        };
        // Never a join rules event: see "Known differences" in state_res_differential.rs.
        let rejected =
            event_type != "m.room.join_rules" && self.rng.chance(self.shape.rejected_percent);
        self.emit(branch, event_type, &state_key, &sender, content, rejected);
    }

    /// Power levels naming a few users, as real rooms do (admins and moderators, not every
    /// member); v12 creators are never named.
    fn random_power_levels(&mut self) -> Value {
        let mut users = serde_json::Map::new();
        let first = usize::from(self.version.room_id_is_create_hash());
        for _ in 0..1 + self.rng.below(4) {
            let index = first + self.rng.below(self.shape.users - first);
            users.insert(user(index), json!([0, 50, 100][self.rng.below(3)]));
        }
        let kick = [0, 50][self.rng.below(2)];
        json!({ "users": users, "kick": kick, "ban": 50, "state_default": 50 })
    }

    fn emit(
        &mut self,
        branch: &mut Branch,
        event_type: &str,
        state_key: &str,
        sender: &str,
        content: Value,
        rejected: bool,
    ) {
        let event_id = self.fresh_id();
        let auth_events =
            auth_types_for_event(self.version, event_type, sender, Some(state_key), &content)
                .iter()
                .filter_map(|key| branch.state.get(key).cloned())
                .collect();
        branch.ts += self.rng.below(3) as u64;
        let is_create = event_type == "m.room.create";
        if is_create {
            self.room_id = Some(match self.version {
                RoomVersion::V12 => format!("!{}", &event_id[1..]),
                _ => "!room:example.org".to_owned(),
            });
        }
        let room_id = if is_create && self.version == RoomVersion::V12 {
            None
        } else {
            self.room_id.clone()
        };
        let event = FixtureEvent {
            event_id: event_id.clone(),
            room_id,
            sender: sender.to_owned(),
            event_type: event_type.to_owned(),
            state_key: Some(state_key.to_owned()),
            content,
            origin_server_ts: branch.ts,
            prev_events: branch.head.clone(),
            auth_events,
            redacts: None,
            rejected,
        };
        if self.shape.authorized_only && !self.is_authorized(&event, branch) {
            return;
        }
        self.index.insert(event_id.clone(), self.events.len());
        branch.state.insert(
            (event_type.to_owned(), state_key.to_owned()),
            event_id.clone(),
        );
        branch.head = vec![event_id];
        self.events.push(event);
    }

    /// Whether the auth rules accept `event` against its auth events and the branch's state.
    fn is_authorized(&self, event: &FixtureEvent, branch: &Branch) -> bool {
        let by_id = |id: &str| self.index.get(id).map(|&index| &self.events[index]);
        let auth: Vec<&FixtureEvent> = event
            .auth_events
            .iter()
            .filter_map(|id| by_id(id))
            .collect();
        let in_state = |event_type: &str, state_key: &str| {
            by_id(
                branch
                    .state
                    .get(&(event_type.to_owned(), state_key.to_owned()))?,
            )
        };
        let in_auth = |event_type: &str, state_key: &str| {
            let cited = auth.iter().copied().find(|auth| {
                auth.event_type == event_type && auth.state_key.as_deref() == Some(state_key)
            });
            // v12 events never cite the create event: the room ID names it.
            cited.or_else(|| {
                (event_type == "m.room.create")
                    .then(|| in_state(event_type, state_key))
                    .flatten()
            })
        };
        check_auth_events_shape(self.version, event, &auth, |auth| auth.rejected).is_ok()
            && check_auth(self.version, event, in_auth).is_ok()
            && check_auth(self.version, event, in_state).is_ok()
    }

    /// A random `$`-ID, so that ID order is unrelated to creation order.
    fn fresh_id(&mut self) -> String {
        let mut id = String::from("$");
        let mut bits = self.rng.next();
        for _ in 0..10 {
            id.push(ID_ALPHABET[(bits % 64) as usize] as char);
            bits /= 64;
        }
        id.push_str(&format!("{}", self.events.len()));
        id
    }
}
