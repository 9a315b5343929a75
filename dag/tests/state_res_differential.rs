//! Differential tests against ruma-state-res on random conflicted rooms (see common/generate.rs)
//! in room versions 10, 11 and 12: every merge inside a room and the final resolution of its
//! branches must agree.
//!
//! `FLOTILLA_DIFF_CASES=N` sets the number of rooms per room version; the ignored
//! `agrees_with_ruma_long` runs 100,000 per version unless told otherwise. With
//! `FLOTILLA_DIFF_DUMP=DIR`, a disagreement is written to DIR as `events.json` and
//! `state-N.json`, ready for `flotilla dag resolve --events … --state …`.
//!
//! # Known differences
//!
//! A join checked against a state with no usable `m.room.join_rules` event (none, or only a
//! rejected one, which the iterative auth checks must not use): ruma rejects it ("no
//! `m.room.join_rules` event in current state"), while our auth rules, like Synapse, take the
//! missing join rule to be `invite` (so a user already joined or invited may join again). The
//! spec names no default. This is a difference in the authorization rules, not in state
//! resolution; the generator therefore never marks join rules events rejected. Found as
//! v10 seed 118 before that restriction. The same happens once a merge has resolved the join
//! rules away (every candidate failed its iterative auth check): joins sent from that state cite
//! no join rules event (v10 seed 556, v10 seed 1411). So resolutions where an input state lacks
//! `m.room.join_rules`, or where some join (other than the creator's first) cites none, are not
//! compared; their count is printed, and must stay a minority.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;

use common::generate::{Rng, Shape, generate};
use common::ruma_oracle::RumaInput;
use dag::RoomVersion;
use dag::state_res::fixture::{FixtureEvent, FixtureStore, state_entries};
use dag::state_res::{StateMap, resolve};

const DEFAULT_CASES: u64 = 150;
const LONG_CASES: u64 = 100_000;

fn cases(default: u64) -> u64 {
    std::env::var("FLOTILLA_DIFF_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

#[test]
fn agrees_with_ruma() {
    run(cases(DEFAULT_CASES));
}

#[test]
#[ignore = "long: hundreds of thousands of rooms"]
fn agrees_with_ruma_long() {
    run(cases(LONG_CASES));
}

/// Resolutions compared with ruma and skipped (see "Known differences").
#[derive(Default, Debug)]
struct Tally {
    compared: usize,
    skipped: usize,
}

fn run(rooms: u64) {
    let mut tally = Tally::default();
    for version in RoomVersion::ALL {
        for seed in 0..rooms {
            check_room(version, seed, &mut tally);
        }
    }
    eprintln!("{tally:?}");
    assert!(tally.skipped < tally.compared, "{tally:?}");
}

fn shape(seed: u64) -> Shape {
    let mut rng = Rng::new(seed ^ 0x5EED);
    Shape {
        branches: 2 + rng.below(3),
        events_per_branch: 2 + rng.below(7),
        users: 3 + rng.below(4),
        side_branch_percent: 15,
        rejected_percent: 3,
        authorized_only: rng.chance(50),
    }
}

fn check_room(version: RoomVersion, seed: u64, tally: &mut Tally) {
    let tally = RefCell::new(tally);
    let mut merge = |events: &[FixtureEvent], states: &[StateMap<String>]| {
        compare(version, seed, events, states, &mut tally.borrow_mut())
    };
    let room = generate(version, seed, shape(seed), &mut merge);
    compare(
        version,
        seed,
        &room.events,
        &room.leaf_states,
        &mut tally.borrow_mut(),
    );
}

/// Our answer, after checking that ruma gives the same one.
fn compare(
    version: RoomVersion,
    seed: u64,
    events: &[FixtureEvent],
    states: &[StateMap<String>],
    tally: &mut Tally,
) -> StateMap<String> {
    let store: FixtureStore = events.iter().cloned().collect();
    let ours = resolve(version, states, &store).unwrap();
    if join_rules_may_be_missing(events, states) {
        tally.skipped += 1;
        return ours;
    }
    tally.compared += 1;
    let theirs = RumaInput::new(version, events, states).resolve();
    match theirs {
        Ok(theirs) if theirs == ours => {}
        theirs => {
            dump(events, states);
            panic!(
                "room version {version}, seed {seed}: ours {:#?}\nruma {:#?}",
                state_entries(&ours),
                theirs.map(|state| state_entries(&state))
            )
        }
    }
    ours
}

/// Whether some join may be checked with no join rules event (see "Known differences").
fn join_rules_may_be_missing(events: &[FixtureEvent], states: &[StateMap<String>]) -> bool {
    let join_rules = ("m.room.join_rules".to_owned(), String::new());
    let by_id: HashMap<&str, &FixtureEvent> = events
        .iter()
        .map(|event| (event.event_id.as_str(), event))
        .collect();
    let cites_join_rules = |event: &FixtureEvent| {
        event.auth_events.iter().any(|id| {
            by_id
                .get(id.as_str())
                .is_some_and(|auth| auth.event_type == "m.room.join_rules")
        })
    };
    let creators_first_join = |event: &FixtureEvent| {
        event.prev_events.len() == 1
            && by_id
                .get(event.prev_events[0].as_str())
                .is_some_and(|prev| prev.event_type == "m.room.create")
    };
    states.iter().any(|state| !state.contains_key(&join_rules))
        || events.iter().any(|event| {
            event.event_type == "m.room.member"
                && event.content["membership"] == "join"
                && !creators_first_join(event)
                && !cites_join_rules(event)
        })
}

fn dump(events: &[FixtureEvent], states: &[StateMap<String>]) {
    let Ok(dir) = std::env::var("FLOTILLA_DIFF_DUMP") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("events.json"),
        serde_json::to_string_pretty(events).unwrap(),
    )
    .unwrap();
    for (index, state) in states.iter().enumerate() {
        let ids: Vec<&String> = state.values().collect();
        std::fs::write(
            dir.join(format!("state-{index}.json")),
            serde_json::to_string_pretty(&ids).unwrap(),
        )
        .unwrap();
    }
}
