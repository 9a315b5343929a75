//! Link control of running nodes through the admin socket: `flotilla peers`, `flotilla link`
//! and `flotilla emcon`, with two real nodes linked over 127.0.0.1.

use std::path::Path;
use std::time::{Duration, Instant};

use flotilla_tests::{NodeProcess, flotilla_command, free_address};
use serde_json::Value;

fn flotilla(args: &[&str], data_dir: &Path) -> std::process::Output {
    flotilla_command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("flotilla runs")
}

fn node_id(data_dir: &Path) -> (String, String) {
    let output = flotilla(&["id"], data_dir);
    let id: Value = serde_json::from_slice(&output.stdout).expect("id prints JSON");
    (
        id["peer_id"].as_str().unwrap().to_owned(),
        id["server_name"].as_str().unwrap().to_owned(),
    )
}

fn peers(data_dir: &Path) -> Value {
    let output = flotilla(&["peers"], data_dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("peers prints JSON")
}

fn peer_entry(data_dir: &Path, peer_id: &str) -> Option<Value> {
    peers(data_dir)["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer_id"] == peer_id)
        .cloned()
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts a node whose libp2p listener is on a known loopback port, optionally dialing a peer.
fn start_node(data_dir: &Path, p2p_port: u16, peer: Option<String>) -> NodeProcess {
    let address = free_address();
    let mut command = flotilla_command();
    command
        .args([
            "run",
            "--listen",
            &address.to_string(),
            "--p2p-listen",
            &format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
        ])
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(peer) = peer {
        command.args(["--peer", &peer]);
    }
    NodeProcess::spawn(command, address, &data_dir.with_extension("log"))
}

#[test]
fn peers_block_unblock_and_emcon() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let (a_peer, a_server) = node_id(&a_dir);
    let (b_peer, _) = node_id(&b_dir);
    let a_port = free_address().port();
    let _a = start_node(&a_dir, a_port, None);
    let b = start_node(
        &b_dir,
        free_address().port(),
        Some(format!("/ip4/127.0.0.1/tcp/{a_port}/p2p/{a_peer}")),
    );

    wait_until("b is linked to a", || {
        peer_entry(&b_dir, &a_peer).is_some_and(|p| p["connected"] == true)
    });
    let entry = peer_entry(&b_dir, &a_peer).unwrap();
    assert_eq!(entry["server_name"], a_server.as_str());
    assert!(
        entry["address"]
            .as_str()
            .unwrap()
            .contains(&a_port.to_string())
    );

    assert!(
        flotilla(&["link", "block", &a_peer], &b_dir)
            .status
            .success()
    );
    wait_until("the link is cut", || {
        peer_entry(&a_dir, &b_peer).is_none_or(|p| p["connected"] == false)
    });
    assert_eq!(peer_entry(&b_dir, &a_peer).unwrap()["blocked"], true);

    // Blocked peers stay blocked across a restart.
    b.stop_with("TERM", Duration::from_secs(20));
    let b = start_node(
        &b_dir,
        free_address().port(),
        Some(format!("/ip4/127.0.0.1/tcp/{a_port}/p2p/{a_peer}")),
    );
    std::thread::sleep(Duration::from_secs(2));
    let entry = peer_entry(&b_dir, &a_peer).unwrap();
    assert_eq!(
        (entry["blocked"].clone(), entry["connected"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );

    assert!(
        flotilla(&["link", "unblock", &a_peer], &b_dir)
            .status
            .success()
    );
    wait_until("the link is back", || {
        peer_entry(&b_dir, &a_peer).is_some_and(|p| p["connected"] == true)
    });

    assert!(flotilla(&["emcon", "on"], &b_dir).status.success());
    wait_until("emission control cuts every link", || {
        peer_entry(&a_dir, &b_peer).is_none_or(|p| p["connected"] == false)
    });
    assert_eq!(peers(&b_dir)["emcon"], true);
    assert!(flotilla(&["emcon", "off"], &b_dir).status.success());
    let resumed = std::panic::catch_unwind(|| {
        wait_until("links resume after emission control", || {
            peer_entry(&b_dir, &a_peer).is_some_and(|p| p["connected"] == true)
        })
    });
    assert!(resumed.is_ok(), "b's log:\n{}", b.log());
}

#[test]
fn link_control_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let output = flotilla(&["peers"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach a running node"));
    let output = flotilla(&["link", "block", "not-a-peer"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a peer ID"));
}
