//! Properties of state resolution on generated rooms (see common/generate.rs): answers do not
//! depend on the order of the input state maps or of the events, and walking the DAG agrees
//! with resolving the states after its forward extremities computed separately.

mod common;

use std::collections::{HashMap, HashSet};

use common::generate::{Rng, Room, Shape, generate};
use dag::RoomVersion;
use dag::state_res::fixture::{FixtureEvent, FixtureStore};
use dag::state_res::walk::resolve_dag;
use dag::state_res::{StateMap, resolve};
use proptest::prelude::*;

fn room(version_index: usize, seed: u64) -> Room {
    let version = RoomVersion::ALL[version_index];
    let shape = Shape {
        branches: 2 + (seed % 3) as usize,
        events_per_branch: 6,
        users: 4,
        side_branch_percent: 20,
        rejected_percent: 5,
        authorized_only: seed.is_multiple_of(2),
    };
    let mut merge = |events: &[FixtureEvent], states: &[StateMap<String>]| {
        let store: FixtureStore = events.iter().cloned().collect();
        resolve(version, states, &store).unwrap()
    };
    generate(version, seed, shape, &mut merge)
}

/// The events that are `tip` or reach it along `prev_events`.
fn ancestors<'e>(tip: &str, by_id: &HashMap<&str, &'e FixtureEvent>) -> Vec<&'e FixtureEvent> {
    let mut seen = HashSet::from([tip.to_owned()]);
    let mut stack = vec![tip.to_owned()];
    let mut found = Vec::new();
    while let Some(id) = stack.pop() {
        let event = by_id[id.as_str()];
        found.push(event);
        for prev in &event.prev_events {
            if seen.insert(prev.clone()) {
                stack.push(prev.clone());
            }
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn state_map_order_does_not_matter(version in 0..3usize, seed: u64, shuffle_seed: u64) {
        let room = room(version, seed);
        let store: FixtureStore = room.events.iter().cloned().collect();
        let expected = resolve(room.version, &room.leaf_states, &store).unwrap();
        let mut states = room.leaf_states.clone();
        Rng::new(shuffle_seed).shuffle(&mut states);
        prop_assert_eq!(resolve(room.version, &states, &store).unwrap(), expected);
    }

    #[test]
    fn event_order_does_not_matter(version in 0..3usize, seed: u64, shuffle_seed: u64) {
        let room = room(version, seed);
        let store: FixtureStore = room.events.iter().cloned().collect();
        let in_order: Vec<&FixtureEvent> = room.events.iter().collect();
        let expected = resolve_dag(room.version, &store, &in_order).unwrap();
        let mut shuffled = in_order.clone();
        Rng::new(shuffle_seed).shuffle(&mut shuffled);
        let walked = resolve_dag(room.version, &store, &shuffled).unwrap();
        prop_assert_eq!(&walked.state, &expected.state);
        let rejected = |list: &[String]| list.iter().cloned().collect::<HashSet<_>>();
        prop_assert_eq!(rejected(&walked.rejected), rejected(&expected.rejected));
    }

    #[test]
    fn walk_agrees_with_resolving_the_extremities(version in 0..3usize, seed: u64) {
        let room = room(version, seed);
        let store: FixtureStore = room.events.iter().cloned().collect();
        let all: Vec<&FixtureEvent> = room.events.iter().collect();
        let walked = resolve_dag(room.version, &store, &all).unwrap();

        let by_id: HashMap<&str, &FixtureEvent> = room.events.iter().map(|e| (e.event_id.as_str(), e)).collect();
        let cited: HashSet<&str> = room.events.iter().flat_map(|e| e.prev_events.iter().map(String::as_str)).collect();
        let mut rejected_store = store.clone();
        let mut extremity_states = Vec::new();
        for tip in room.events.iter().filter(|e| !cited.contains(e.event_id.as_str())) {
            let sub_dag = ancestors(&tip.event_id, &by_id);
            let alone = resolve_dag(room.version, &store, &sub_dag).unwrap();
            for id in &alone.rejected {
                rejected_store.get_mut(id).unwrap().rejected = true;
            }
            extremity_states.push(alone.state);
        }
        let at_once = resolve(room.version, &extremity_states, &rejected_store).unwrap();
        prop_assert_eq!(at_once, walked.state);
    }
}
