//! ruma-state-res's fixtures and expected answers (see tests/data/ruma-state-res/NOTICE), run
//! through both the DAG walk and the resolution of given state maps.

mod common;

use common::fixtures::{load_events, load_expected, load_state, room_version, state_key_of};
use dag::state_res::fixture::{FixtureStore, state_entries};
use dag::state_res::walk::resolve_dag;
use dag::state_res::{StateMap, resolve};

/// Walks the DAG of all files, and separately resolves every event as its own state map (what
/// ruma calls atomic resolution); both must give the expected state.
fn check_batches(name: &str, files: &[&str]) {
    let events = load_events(files);
    let version = room_version(&events);
    let store: FixtureStore = events.iter().cloned().collect();
    let expected = load_expected(name);

    let refs: Vec<_> = events.iter().collect();
    let walked = resolve_dag(version, &store, &refs).unwrap();
    assert_eq!(state_entries(&walked.state), expected, "{name}: DAG walk");
    assert!(
        walked.rejected.is_empty(),
        "{name}: rejected {:?}",
        walked.rejected
    );

    let singletons: Vec<StateMap<String>> = events
        .iter()
        .map(|event| StateMap::from([(state_key_of(event), event.event_id.clone())]))
        .collect();
    let atomic = resolve(version, &singletons, &store).unwrap();
    assert_eq!(
        state_entries(&atomic),
        expected,
        "{name}: every event its own state map"
    );
}

fn check_state_maps(name: &str, state_files: &[&str], event_files: &[&str]) {
    let events = load_events(event_files);
    let version = room_version(&events);
    let store: FixtureStore = events.into_iter().collect();
    let states: Vec<_> = state_files
        .iter()
        .map(|file| load_state(file, &store))
        .collect();
    let resolved = resolve(version, &states, &store).unwrap();
    assert_eq!(state_entries(&resolved), load_expected(name), "{name}");
}

#[test]
fn minimal_private_chat() {
    check_batches("minimal_private_chat", &["bootstrap-private-chat.json"]);
}

#[test]
fn minimal_public_chat() {
    check_batches("minimal_public_chat", &["bootstrap-public-chat.json"]);
}

#[test]
fn origin_server_ts_tiebreak() {
    check_batches(
        "origin_server_ts_tiebreak",
        &[
            "bootstrap-private-chat.json",
            "origin-server-ts-tiebreak.json",
        ],
    );
}

#[test]
fn ban_vs_power_levels() {
    check_batches(
        "ban_vs_power_levels",
        &[
            "bootstrap-public-chat.json",
            "ban-vs-power-levels-alice.json",
            "ban-vs-power-levels-bob.json",
        ],
    );
}

#[test]
fn topic_vs_power_levels() {
    check_batches(
        "topic_vs_power_levels",
        &[
            "bootstrap-public-chat.json",
            "topic-vs-power-levels-alice.json",
            "topic-vs-power-levels-bob.json",
        ],
    );
}

#[test]
fn power_levels_admin_vs_mod() {
    check_batches(
        "power_levels_admin_vs_mod",
        &[
            "bootstrap-public-chat.json",
            "power-levels-admin-vs-mod-alice.json",
            "power-levels-admin-vs-mod-bob.json",
        ],
    );
}

#[test]
fn topic_vs_ban() {
    check_batches(
        "topic_vs_ban",
        &[
            "bootstrap-public-chat.json",
            "topic-vs-ban-common.json",
            "topic-vs-ban-alice.json",
            "topic-vs-ban-bob.json",
        ],
    );
}

#[test]
fn join_rules_vs_join() {
    check_batches(
        "join_rules_vs_join",
        &[
            "bootstrap-public-chat.json",
            "join-rules-vs-join-common.json",
            "join-rules-vs-join-alice.json",
            "join-rules-vs-join-ella.json",
        ],
    );
}

#[test]
fn concurrent_joins() {
    check_batches(
        "concurrent_joins",
        &[
            "bootstrap-public-chat.json",
            "concurrent-joins-charlie.json",
            "concurrent-joins-ella.json",
        ],
    );
}

const PROBLEM_A: [&str; 2] = [
    "MSC4297-problem-A/state-bob.json",
    "MSC4297-problem-A/state-charlie.json",
];
const PROBLEM_B: [&str; 2] = [
    "MSC4297-problem-B/state-eve.json",
    "MSC4297-problem-B/state-zara.json",
];

#[test]
fn msc4297_problem_a_v2_0() {
    check_state_maps(
        "msc4297_problem_a_state_res_v2_0",
        &PROBLEM_A,
        &["MSC4297-problem-A/pdus-v11.json"],
    );
}

#[test]
fn msc4297_problem_a_v2_1() {
    check_state_maps(
        "msc4297_problem_a_state_res_v2_1",
        &PROBLEM_A,
        &["MSC4297-problem-A/pdus-v12.json"],
    );
}

#[test]
fn msc4297_problem_b_v2_0() {
    check_state_maps(
        "msc4297_problem_b_state_res_v2_0",
        &PROBLEM_B,
        &["MSC4297-problem-B/pdus-v11.json"],
    );
}

#[test]
fn msc4297_problem_b_v2_1() {
    check_state_maps(
        "msc4297_problem_b_state_res_v2_1",
        &PROBLEM_B,
        &["MSC4297-problem-B/pdus-v12.json"],
    );
}

/// MSC4297's point: v2.1 changes the answer to both problems.
#[test]
fn msc4297_answers_differ_between_v2_0_and_v2_1() {
    for (v2_0, v2_1) in [
        (
            "msc4297_problem_a_state_res_v2_0",
            "msc4297_problem_a_state_res_v2_1",
        ),
        (
            "msc4297_problem_b_state_res_v2_0",
            "msc4297_problem_b_state_res_v2_1",
        ),
    ] {
        assert_ne!(load_expected(v2_0), load_expected(v2_1));
    }
}
