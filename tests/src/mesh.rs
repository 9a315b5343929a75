//! Driving several real `flotilla run` processes that form a mesh on 127.0.0.1, through their
//! Client-Server APIs and their link-control commands.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{NodeProcess, flotilla_command, free_address, http};

pub struct MeshNode {
    pub process: NodeProcess,
    pub p2p_address: String,
}

pub fn start(data_dir: &Path, peers: &[&MeshNode]) -> MeshNode {
    start_with(data_dir, peers, &[])
}

pub fn call(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let response = http(address, method, path, Some(token), Some(&body)).expect("the node answers");
    (response.status, response.body)
}

pub fn register(address: SocketAddr, name: &str) -> (String, String) {
    let body =
        json!({"username": name, "password": "mesh-pass", "auth": {"type": "m.login.dummy"}});
    let response = http(
        address,
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(&body),
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    (
        response.body["user_id"].as_str().unwrap().to_owned(),
        response.body["access_token"].as_str().unwrap().to_owned(),
    )
}

pub fn eventually<T>(what: &str, node: &MeshNode, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {what}\n{}",
            node.process.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn bodies(address: SocketAddr, token: &str, room: &str) -> Vec<String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
        urlencode(room)
    );
    let (status, body) = call(address, "GET", &path, token, json!({}));
    if status != 200 {
        return Vec::new();
    }
    let mut bodies: Vec<String> = body["chunk"]
        .as_array()
        .map(|chunk| {
            chunk
                .iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    bodies.sort();
    bodies
}

pub fn state(address: SocketAddr, token: &str, room: &str) -> BTreeMap<(String, String), String> {
    let (status, body) = call(
        address,
        "GET",
        &format!("/_matrix/client/v3/rooms/{}/state", urlencode(room)),
        token,
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = (
                e["type"].as_str().unwrap().to_owned(),
                e["state_key"].as_str().unwrap().to_owned(),
            );
            (key, e["event_id"].as_str().unwrap().to_owned())
        })
        .collect()
}

pub fn urlencode(id: &str) -> String {
    id.replace('!', "%21")
        .replace(':', "%3A")
        .replace('$', "%24")
}

pub fn join(node: &MeshNode, token: &str, room: &str) {
    let address = node.process.address;
    eventually(
        "the room reaches the node and the join is accepted",
        node,
        || {
            let (status, _) = call(
                address,
                "POST",
                &format!("/_matrix/client/v3/join/{}", urlencode(room)),
                token,
                json!({}),
            );
            (status == 200).then_some(())
        },
    );
}

/// Sends a text message, waiting out `M_LIMIT_EXCEEDED` as a client would.
pub fn say(node: &MeshNode, token: &str, room: &str, body: &str) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        urlencode(room),
        body.replace(' ', "-")
    );
    let content = json!({"msgtype": "m.text", "body": body});
    loop {
        let (status, response) = call(node.process.address, "PUT", &path, token, content.clone());
        if status == 429 {
            let wait = response["retry_after_ms"].as_u64().unwrap_or(100);
            std::thread::sleep(Duration::from_millis(wait.max(1)));
            continue;
        }
        assert_eq!(status, 200, "{response}");
        return;
    }
}

pub fn peer_id(node: &MeshNode) -> String {
    node.p2p_address.rsplit('/').next().unwrap().to_owned()
}

pub fn link(action: &str, data_dir: &Path, peer: &MeshNode) {
    let output = flotilla_command()
        .args(["link", action, &peer_id(peer), "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn put_state(node: &MeshNode, token: &str, room: &str, event_type: &str, content: Value) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/{event_type}/",
        urlencode(room)
    );
    let (status, response) = call(node.process.address, "PUT", &path, token, content);
    assert_eq!(status, 200, "{response}");
}

pub fn topic(node: &MeshNode, token: &str, room: &str) -> Option<String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
        urlencode(room)
    );
    let (status, body) = call(node.process.address, "GET", &path, token, json!({}));
    (status == 200).then(|| body["topic"].as_str().unwrap_or_default().to_owned())
}

pub fn start_with(data_dir: &Path, peers: &[&MeshNode], extra: &[&str]) -> MeshNode {
    let peer_id = peer_id_of(data_dir);
    let port = free_address().port();
    let address = free_address();
    let mut command = flotilla_command();
    command
        .args([
            "run",
            "--listen",
            &address.to_string(),
            "--p2p-listen",
            &format!("/ip4/127.0.0.1/tcp/{port}"),
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra);
    for peer in peers {
        command.args(["--peer", &peer.p2p_address]);
    }
    let process = NodeProcess::spawn(command, address, &data_dir.with_extension("log"));
    let p2p_address = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", peer_id);
    MeshNode {
        process,
        p2p_address,
    }
}

pub fn peer_id_of(data_dir: &Path) -> String {
    let id = flotilla_command()
        .args(["id", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    let id: Value = serde_json::from_slice(&id.stdout).unwrap();
    id["peer_id"].as_str().unwrap().to_owned()
}
