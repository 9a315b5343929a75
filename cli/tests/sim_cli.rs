//! `flotilla sim`, run as a user would: results on disk, identical per seed, sweeps with shards
//! and replay commands, and bad scenario files answered with the file, the key and exit 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../simulations/scenarios/sweep-small.toml"
);

fn flotilla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .output()
        .expect("flotilla starts")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flotilla-sim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_into(dir: &Path, seed: &str) -> Vec<u8> {
    let out = dir.to_str().unwrap();
    let output = flotilla(&["sim", "run", SCENARIO, "--seed", seed, "--out", out]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(dir.join("summary.json")).unwrap()
}

#[test]
fn run_writes_results_and_plots_identically_per_seed() {
    let (first, second) = (temp_dir("first"), temp_dir("second"));
    assert_eq!(run_into(&first, "3"), run_into(&second, "3"));
    for file in [
        "timeline.csv",
        "links.csv",
        "convergence.csv",
        "convergence.svg",
        "bytes_per_link.svg",
        "extremities.svg",
    ] {
        assert!(first.join(file).is_file(), "{file} missing");
    }
    std::fs::remove_file(first.join("convergence.svg")).unwrap();
    let output = flotilla(&["sim", "plot", first.to_str().unwrap()]);
    assert!(output.status.success());
    assert!(first.join("convergence.svg").is_file());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 3);
    assert_eq!(summary["converged"], true);
    for dir in [first, second] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn sweep_runs_one_shard() {
    let dir = temp_dir("sweep");
    let out = dir.to_str().unwrap();
    let output = flotilla(&[
        "sim", "sweep", SCENARIO, "--seeds", "10..16", "--shard", "1/3", "--out", out,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = std::fs::read_to_string(dir.join("sweep-shard-1-of-3.csv")).unwrap();
    let seeds: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(seeds, ["11", "14"]);
    assert!(dir.join("seed-14/summary.json").is_file());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_scenarios_fail_with_the_file_and_key() {
    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "nodes = 3\nduration_s = 60\n[[crash]]\nnode = 7\nat_s = 1\nrestart_s = 2\n",
            "crash[0].node",
        ),
        (
            "nodes = 3\nduration_s = 60\n[topology]\nkind = \"random\"\n",
            "topology.degree",
        ),
        (
            "nodes = 3\nduration_s = 60\n[link]\nlatency = 5\n",
            "latency",
        ),
        ("nodes = 3\n", "duration_s"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let output = flotilla(&[
            "sim",
            "run",
            path.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("bad-{i}.toml")) && stderr.contains(key),
            "{key}: {stderr}"
        );
    }
    let output = flotilla(&["sim", "run", "/nonexistent/scenario.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/scenario.toml"));
    let _ = std::fs::remove_dir_all(dir);
}
