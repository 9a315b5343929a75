//! The seed sweep: every seed of a small scenario with random partitions, crashes and
//! conflicting admins must converge with no message lost.
//!
//! CI runs seeds 0..200 in a few tens of seconds. The long mode runs 5,000 seeds (release build
//! recommended):
//!
//! ```text
//! cargo test --release -p simulations --test sweep -- --ignored
//! ```
//!
//! or any range with `FLOTILLA_SWEEP_SEEDS=A..B cargo test -p simulations --test sweep`.

use std::ops::Range;
use std::path::Path;

use simulations::Scenario;
use simulations::sweep::{parse_seeds, replay_command};

const SCENARIO: &str = "simulations/scenarios/sweep-small.toml";

fn sweep(default_seeds: Range<u64>) {
    let seeds = std::env::var("FLOTILLA_SWEEP_SEEDS")
        .map(|text| parse_seeds(&text).unwrap())
        .unwrap_or(default_seeds);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweep-small.toml");
    let scenario = Scenario::load(&path).unwrap();
    let mut failures = Vec::new();
    for seed in seeds.clone() {
        let summary = simulations::run(&scenario, seed, &mut |_| {})
            .unwrap()
            .summary;
        if !summary.healthy() {
            let line = format!(
                "seed {seed}: converged = {}, divergent rooms = {}, lost messages = {} of {}; replay: {}",
                summary.converged,
                summary.divergent_rooms,
                summary.lost_messages,
                summary.messages_sent,
                replay_command(SCENARIO, seed)
            );
            eprintln!("{line}");
            failures.push(line);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        failures.len(),
        seeds.end - seeds.start,
        failures.join("\n")
    );
}

#[test]
fn hundreds_of_seeds_converge_without_loss() {
    sweep(0..200);
}

#[test]
#[ignore = "long mode: 5,000 seeds; run with --release -- --ignored"]
fn thousands_of_seeds_converge_without_loss() {
    sweep(200..5200);
}
