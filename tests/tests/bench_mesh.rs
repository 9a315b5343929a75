//! Figures for the mesh between two real nodes on 127.0.0.1, printed rather than asserted
//! (timing depends on the machine). Run with:
//! `cargo test --release -p flotilla-tests --test bench_mesh -- --ignored --nocapture`

use std::path::Path;
use std::time::{Duration, Instant};

use flotilla_tests::flotilla_command;
use flotilla_tests::mesh::*;
use serde_json::{Value, json};

/// Sync frame bytes (after compression, before transport framing) this node sent to and
/// received from `peer`.
fn frame_bytes(data_dir: &Path, peer: &MeshNode) -> (u64, u64) {
    let output = flotilla_command()
        .args(["peers", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    let peers: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = peer_id(peer);
    let entry = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == id.as_str())
        .cloned()
        .unwrap_or_default();
    (
        entry["bytes_out"].as_u64().unwrap_or(0),
        entry["bytes_in"].as_u64().unwrap_or(0),
    )
}

fn has_message(node: &MeshNode, token: &str, room: &str, body: &str) -> bool {
    bodies_recent(node, token, room).iter().any(|b| b == body)
}

fn bodies_recent(node: &MeshNode, token: &str, room: &str) -> Vec<String> {
    bodies(node.process.address, token, room)
}

#[test]
#[ignore = "a benchmark: prints figures, run it on purpose"]
fn mesh_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let a = start(&a_dir, &[]);
    let b = start(&b_dir, &[&a]);
    let (_, alice) = register(a.process.address, "alice");
    let (_, bob) = register(b.process.address, "bob");
    let (_, created) = call(
        a.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &alice,
        json!({"preset": "public_chat"}),
    );
    let room = created["room_id"].as_str().unwrap().to_owned();
    join(&b, &bob, &room);
    for i in 0..10 {
        say(&a, &alice, &room, &format!("warm up {i}"));
    }
    eventually("warm-up arrives", &b, || {
        has_message(&b, &bob, &room, "warm up 9").then_some(())
    });

    let messages = 100;
    let (out_before, _) = frame_bytes(&a_dir, &b);
    let started = Instant::now();
    for i in 0..messages {
        say(
            &a,
            &alice,
            &room,
            &format!("Position report {i:03}, all nominal"),
        );
    }
    let last = format!("Position report {:03}, all nominal", messages - 1);
    eventually("the messages arrive", &b, || {
        has_message(&b, &bob, &room, &last).then_some(())
    });
    let (out_after, _) = frame_bytes(&a_dir, &b);
    println!(
        "steady state: {} frame bytes per short message A->B ({messages} messages in {:?})",
        (out_after - out_before) / messages,
        started.elapsed()
    );

    let (out_idle, in_idle) = frame_bytes(&a_dir, &b);
    std::thread::sleep(Duration::from_secs(60));
    let (out_later, in_later) = frame_bytes(&a_dir, &b);
    println!(
        "idle: {} frame bytes in 60 s on a connected link (pings are below the frame layer)",
        (out_later - out_idle) + (in_later - in_idle)
    );

    let partitioned = 1000;
    link("block", &b_dir, &a);
    std::thread::sleep(Duration::from_secs(1));
    for i in 0..partitioned {
        say(&a, &alice, &room, &format!("surface log {i:04}"));
        say(&b, &bob, &room, &format!("dive log {i:04}"));
    }
    let (a_out, a_in) = frame_bytes(&a_dir, &b);
    let healed = Instant::now();
    link("unblock", &b_dir, &a);
    let (surface_last, dive_last) = (
        format!("surface log {:04}", partitioned - 1),
        format!("dive log {:04}", partitioned - 1),
    );
    eventually("b catches up", &b, || {
        has_message(&b, &bob, &room, &surface_last).then_some(())
    });
    eventually("a catches up", &a, || {
        has_message(&a, &alice, &room, &dive_last).then_some(())
    });
    let converged = healed.elapsed();
    let (a_out_after, a_in_after) = frame_bytes(&a_dir, &b);
    let total = (a_out_after - a_out) + (a_in_after - a_in);
    println!(
        "partition: each side wrote {partitioned} messages; converged {converged:?} after unblocking; {total} frame bytes both ways, {} per missing event",
        total / (2 * partitioned)
    );
}
