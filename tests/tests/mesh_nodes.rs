//! Real `flotilla run` processes sharing a room over the mesh on 127.0.0.1, observed through
//! each node's own Client-Server API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use flotilla_tests::{NodeProcess, flotilla_command, free_address, http};
use serde_json::{Value, json};

struct MeshNode {
    process: NodeProcess,
    p2p_address: String,
}

fn start(data_dir: &Path, peers: &[&MeshNode]) -> MeshNode {
    start_with(data_dir, peers, &[])
}

fn call(address: SocketAddr, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = http(address, method, path, Some(token), Some(&body)).expect("the node answers");
    (response.status, response.body)
}

fn register(address: SocketAddr, name: &str) -> (String, String) {
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

fn eventually<T>(what: &str, node: &MeshNode, mut attempt: impl FnMut() -> Option<T>) -> T {
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

fn bodies(address: SocketAddr, token: &str, room: &str) -> Vec<String> {
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

fn state(address: SocketAddr, token: &str, room: &str) -> BTreeMap<(String, String), String> {
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

fn urlencode(id: &str) -> String {
    id.replace('!', "%21")
        .replace(':', "%3A")
        .replace('$', "%24")
}

fn join(node: &MeshNode, token: &str, room: &str) {
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

fn say(node: &MeshNode, token: &str, room: &str, body: &str) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
        urlencode(room),
        body.replace(' ', "-")
    );
    let (status, response) = call(
        node.process.address,
        "PUT",
        &path,
        token,
        json!({"msgtype": "m.text", "body": body}),
    );
    assert_eq!(status, 200, "{response}");
}

/// A line A–B–C where A and C never connect: a room made on A is joined from B and C, and
/// messages from every node reach every node, with identical state everywhere.
#[test]
fn a_room_spans_a_line_of_three_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), &[]);
    let b = start(&dir.path().join("b"), &[&a]);
    let c = start(&dir.path().join("c"), &[&b]);
    let (_, alice) = register(a.process.address, "alice");
    let (_, bob) = register(b.process.address, "bob");
    let (_, carol) = register(c.process.address, "carol");

    let (status, created) = call(
        a.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &alice,
        json!({"preset": "public_chat", "name": "fleet"}),
    );
    assert_eq!(status, 200, "{created}");
    let room = created["room_id"].as_str().unwrap().to_owned();
    join(&b, &bob, &room);
    join(&c, &carol, &room);

    say(&a, &alice, &room, "from a");
    say(&b, &bob, &room, "from b");
    say(&c, &carol, &room, "from c");
    let expected = vec![
        "from a".to_owned(),
        "from b".to_owned(),
        "from c".to_owned(),
    ];
    for (node, token) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        eventually("every message reaches every node", node, || {
            (bodies(node.process.address, token, &room) == expected).then_some(())
        });
    }
    let on_a = state(a.process.address, &alice, &room);
    for (node, token) in [(&b, &bob), (&c, &carol)] {
        eventually("every node holds the same state", node, || {
            (state(node.process.address, token, &room) == on_a).then_some(())
        });
    }
}

fn peer_id(node: &MeshNode) -> String {
    node.p2p_address.rsplit('/').next().unwrap().to_owned()
}

fn link(action: &str, data_dir: &Path, peer: &MeshNode) {
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

fn put_state(node: &MeshNode, token: &str, room: &str, event_type: &str, content: Value) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/{event_type}/",
        urlencode(room)
    );
    let (status, response) = call(node.process.address, "PUT", &path, token, content);
    assert_eq!(status, 200, "{response}");
}

fn topic(node: &MeshNode, token: &str, room: &str) -> Option<String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
        urlencode(room)
    );
    let (status, body) = call(node.process.address, "GET", &path, token, json!({}));
    (status == 200).then(|| body["topic"].as_str().unwrap_or_default().to_owned())
}

/// {A, B} | {C}: both sides chat and make conflicting changes while cut apart; once the links
/// return, every node holds every message exactly once and the same resolved state.
#[test]
fn partitioned_nodes_merge_conflicting_changes() {
    let dir = tempfile::tempdir().unwrap();
    let c_dir = dir.path().join("c");
    let a = start(&dir.path().join("a"), &[]);
    let b = start(&dir.path().join("b"), &[&a]);
    let c = start(&c_dir, &[&a, &b]);
    let (_, alice) = register(a.process.address, "alice");
    let (bob_id, bob) = register(b.process.address, "bob");
    let (carol_id, carol) = register(c.process.address, "carol");

    // A private room: bob and carol get in by invitation from a node they do not run on.
    let power = json!({"users": {&bob_id: 50, &carol_id: 50}});
    let body = json!({"preset": "private_chat", "invite": [&bob_id, &carol_id], "power_level_content_override": power});
    let (status, created) = call(
        a.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &alice,
        body,
    );
    assert_eq!(status, 200, "{created}");
    let room = created["room_id"].as_str().unwrap().to_owned();
    join(&b, &bob, &room);
    join(&c, &carol, &room);
    say(&a, &alice, &room, "before the dive");
    eventually("c is in sync", &c, || {
        (bodies(c.process.address, &carol, &room).len() == 1).then_some(())
    });

    link("block", &c_dir, &a);
    link("block", &c_dir, &b);
    std::thread::sleep(Duration::from_secs(1));
    for i in 0..3 {
        say(&a, &alice, &room, &format!("surface a {i}"));
        say(&b, &bob, &room, &format!("surface b {i}"));
        say(&c, &carol, &room, &format!("submerged c {i}"));
    }
    put_state(
        &a,
        &alice,
        &room,
        "m.room.topic",
        json!({"topic": "set on the surface"}),
    );
    put_state(
        &c,
        &carol,
        &room,
        "m.room.topic",
        json!({"topic": "set below"}),
    );
    // The surface demotes carol while she, cut off, still uses her power.
    put_state(
        &a,
        &alice,
        &room,
        "m.room.power_levels",
        json!({"users": {&bob_id: 50, &carol_id: 0}}),
    );
    assert_eq!(topic(&c, &carol, &room).as_deref(), Some("set below"));

    link("unblock", &c_dir, &a);
    link("unblock", &c_dir, &b);
    let mut expected: Vec<String> = vec!["before the dive".to_owned()];
    for i in 0..3 {
        expected.extend([
            format!("surface a {i}"),
            format!("surface b {i}"),
            format!("submerged c {i}"),
        ]);
    }
    expected.sort();
    for (node, token) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        eventually("every message, once, on every node", node, || {
            (bodies(node.process.address, token, &room) == expected).then_some(())
        });
    }
    let on_a = state(a.process.address, &alice, &room);
    for (node, token) in [(&b, &bob), (&c, &carol)] {
        eventually("identical state on every node", node, || {
            (state(node.process.address, token, &room) == on_a).then_some(())
        });
    }
    // Carol's topic depended on a power level the merge took away.
    assert_eq!(
        topic(&c, &carol, &room).as_deref(),
        Some("set on the surface")
    );
}

fn start_with(data_dir: &Path, peers: &[&MeshNode], extra: &[&str]) -> MeshNode {
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

fn peer_id_of(data_dir: &Path) -> String {
    let id = flotilla_command()
        .args(["id", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    let id: Value = serde_json::from_slice(&id.stdout).unwrap();
    id["peer_id"].as_str().unwrap().to_owned()
}

/// A node that allows only B: B's room reaches it, an outsider's never does.
#[test]
fn the_allowlist_keeps_outsiders_out() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let allowed = peer_id_of(&b_dir);
    let a = start_with(&a_dir, &[], &["--allow-peer", &allowed]);
    let b = start(&b_dir, &[&a]);
    let outsider = start(&dir.path().join("outsider"), &[&a]);
    let (_, alice) = register(a.process.address, "alice");
    let (_, bob) = register(b.process.address, "bob");
    let (_, mallory) = register(outsider.process.address, "mallory");
    let create = json!({"preset": "public_chat"});
    let (_, from_b) = call(
        b.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &bob,
        create.clone(),
    );
    let (_, from_outsider) = call(
        outsider.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &mallory,
        create,
    );
    join(&a, &alice, from_b["room_id"].as_str().unwrap());
    std::thread::sleep(Duration::from_secs(3));
    let outsider_room = urlencode(from_outsider["room_id"].as_str().unwrap());
    let (status, _) = call(
        a.process.address,
        "POST",
        &format!("/_matrix/client/v3/join/{outsider_room}"),
        &alice,
        json!({}),
    );
    assert_ne!(status, 200, "the outsider's room reached the node");
}

/// A node killed with SIGKILL while it catches up restarts and converges without loss.
#[test]
fn a_node_killed_mid_sync_converges_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b_dir = dir.path().join("b");
    let a = start(&dir.path().join("a"), &[]);
    let (_, alice) = register(a.process.address, "alice");
    let (_, created) = call(
        a.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &alice,
        json!({"preset": "public_chat"}),
    );
    let room = created["room_id"].as_str().unwrap().to_owned();
    let mut expected = Vec::new();
    for i in 0..90 {
        let body = format!("log entry {i:03}");
        say(&a, &alice, &room, &body);
        expected.push(body);
    }
    expected.sort();
    let b = start(&b_dir, &[&a]);
    std::thread::sleep(Duration::from_millis(300));
    b.process.stop_with("KILL", Duration::from_secs(10));
    let b = start(&b_dir, &[&a]);
    let (_, bob) = register(b.process.address, "bob");
    join(&b, &bob, &room);
    eventually("the restarted node holds every message", &b, || {
        (bodies(b.process.address, &bob, &room) == expected).then_some(())
    });
}

/// A hostile peer sends random bytes, oversized frames and forged events: the node keeps
/// serving, stores none of it, and still syncs with honest peers.
#[test]
fn a_hostile_peer_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), &[]);
    let (alice_id, alice) = register(a.process.address, "alice");
    let (_, created) = call(
        a.process.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        &alice,
        json!({"preset": "public_chat"}),
    );
    let room = created["room_id"].as_str().unwrap().to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(attack(&a, &alice_id, &room));
    let (status, _) = call(
        a.process.address,
        "GET",
        "/_matrix/client/v3/account/whoami",
        &alice,
        json!({}),
    );
    assert_eq!(
        status,
        200,
        "the node stopped serving:\n{}",
        a.process.log()
    );
    assert!(
        bodies(a.process.address, &alice, &room)
            .iter()
            .all(|b| b != "forged"),
        "a forged event was stored"
    );
    let b = start(&dir.path().join("b"), &[&a]);
    let (_, bob) = register(b.process.address, "bob");
    join(&b, &bob, &room);
    say(&b, &bob, &room, "honest");
    eventually("honest peers still sync", &a, || {
        bodies(a.process.address, &alice, &room)
            .contains(&"honest".to_owned())
            .then_some(())
    });
}

/// Connects as a peer with its own key and misbehaves in every way the link allows.
async fn attack(target: &MeshNode, victim: &str, room: &str) {
    use transport::{LinkEvent, TransportConfig, identity};
    let seed = [66; 32];
    let config = TransportConfig {
        mdns: false,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        static_peers: vec![target.p2p_address.parse().unwrap()],
        ..Default::default()
    };
    let mut transport = transport::start(identity::keypair_from_seed(seed), config).unwrap();
    let frames = loop {
        match tokio::time::timeout(Duration::from_secs(30), transport.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            LinkEvent::Up { frames, .. } => break frames,
            _ => continue,
        }
    };
    // Random bytes: the node must close this link.
    frames
        .send((0..=255u8).cycle().take(3000).collect())
        .await
        .unwrap();
    let frames = reconnect(&mut transport, target).await;
    // A frame far beyond the limit.
    let _ = frames.send(vec![0x28; 2 << 20]).await;
    let frames = reconnect(&mut transport, target).await;
    // A well-formed frame carrying an event that claims to be from the victim but is signed by
    // this peer, and one of its own citing ancestors that do not exist.
    let key = dag::signing::ServerKey::node(&seed);
    let missing = format!("${}", dag::base64::encode_url_safe([9u8; 32]));
    let senders = [victim.to_owned(), format!("@mallory:{}", key.server_name())];
    let events = senders
        .iter()
        .map(|sender| {
            let mut forged = json!({
                "type": "m.room.message", "room_id": room, "sender": sender, "origin_server_ts": 1,
                "depth": 5, "prev_events": [&missing], "auth_events": [],
                "content": {"msgtype": "m.text", "body": "forged"}
            })
            .as_object()
            .unwrap()
            .clone();
            dag::signing::hash_and_sign_event(dag::RoomVersion::V12, &mut forged, &key).unwrap();
            dag::wire::encode(&forged)
        })
        .collect();
    let message = dag::sync::message::Message::Events { acked: 0, events };
    frames
        .send(zstd::bulk::compress(&message.encode(), 3).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
}

async fn reconnect(
    transport: &mut transport::Transport,
    target: &MeshNode,
) -> tokio::sync::mpsc::Sender<Vec<u8>> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), transport.events.recv()).await;
        match event {
            Ok(Some(transport::LinkEvent::Up { frames, .. })) => return frames,
            Ok(Some(_)) => continue,
            _ => panic!(
                "the node did not let the peer back:\n{}",
                target.process.log()
            ),
        }
    }
}
