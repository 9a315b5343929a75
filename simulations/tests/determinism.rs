//! The same scenario and seed give byte-identical results.

use std::path::{Path, PathBuf};

use simulations::Scenario;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap()
}

fn results_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flotilla-sim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_into(scenario: &Scenario, seed: u64, dir: &Path) {
    simulations::run(scenario, seed, &mut |_| {})
        .unwrap()
        .write(dir)
        .unwrap();
}

#[test]
fn same_seed_gives_byte_identical_results() {
    let scenario = scenario("sweep-small.toml");
    let (first, second) = (results_dir("first"), results_dir("second"));
    run_into(&scenario, 7, &first);
    run_into(&scenario, 7, &second);
    for file in [
        "summary.json",
        "timeline.csv",
        "convergence.csv",
        "links.csv",
    ] {
        let a = std::fs::read(first.join(file)).unwrap();
        let b = std::fs::read(second.join(file)).unwrap();
        assert!(a == b, "{file} differs between two runs of seed 7");
    }
    let other = results_dir("other");
    run_into(&scenario, 8, &other);
    assert_ne!(
        std::fs::read(first.join("summary.json")).unwrap(),
        std::fs::read(other.join("summary.json")).unwrap(),
        "another seed should give another run"
    );
    for dir in [first, second, other] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_message_crosses_a_2400_bit_link_in_under_a_second() {
    let summary = simulations::run(&scenario("hf-pair.toml"), 7, &mut |_| {})
        .unwrap()
        .summary;
    assert!(summary.healthy(), "{summary:?}");
    let median = summary.message_delivery_seconds_p50.unwrap();
    assert!(median <= 1.0, "median delivery {median} s");
}

#[test]
fn the_lossy_pair_delivers_everything() {
    let report = simulations::run(&scenario("lossy-pair.toml"), 3, &mut |_| {}).unwrap();
    let summary = report.summary;
    assert!(summary.healthy(), "{summary:?}");
    assert!(
        summary.retransmitted_bytes > 0,
        "30% loss must cost retransmissions"
    );
    assert!(summary.messages_sent > 0);
}

/// On a shared medium no two frames are ever on the air at once, across all links.
#[test]
fn a_shared_medium_carries_one_frame_at_a_time() {
    let mut scenario = scenario("hf-pair.toml");
    scenario.nodes = 4;
    scenario.topology.kind = simulations::scenario::TopologyKind::Full;
    scenario.link.duplex = simulations::scenario::Duplex::Shared;
    let report = simulations::run(&scenario, 7, &mut |_| {}).unwrap();
    assert!(report.summary.healthy(), "{:?}", report.summary);
    let on_air: u64 = report.links.iter().map(|l| l.serializing_ms).sum();
    let elapsed = (report.summary.simulated_seconds * 1000.0) as u64;
    assert!(on_air <= elapsed, "{on_air} ms on air in {elapsed} ms");
}
