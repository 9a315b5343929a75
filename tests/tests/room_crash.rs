//! Crash safety of room events: `kill -9` the node while clients send; after a restart every
//! message whose send returned an event ID is there and the database is intact.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use flotilla_tests::{NodeProcess, http};
use serde_json::json;

const SENDERS: usize = 4;

fn register(node: &NodeProcess, name: &str) -> String {
    let body = json!({"username": name, "password": "hunter22", "auth": {"type": "m.login.dummy"}});
    let response = http(
        node.address,
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(&body),
    )
    .unwrap();
    assert_eq!(response.status, 200, "{:?}", response.body);
    response.body["access_token"].as_str().unwrap().to_owned()
}

/// Sends until the node stops answering; returns the event IDs it acknowledged.
fn send_until_killed(
    node_address: std::net::SocketAddr,
    token: String,
    room_id: String,
    sender: usize,
) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for n in 0.. {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/s{sender}-{n}");
        let body = json!({"msgtype": "m.text", "body": format!("{sender}/{n}")});
        match http(node_address, "PUT", &path, Some(&token), Some(&body)) {
            Ok(response) if response.status == 200 => {
                acknowledged.push(response.body["event_id"].as_str().unwrap().to_owned());
            }
            Ok(response) if response.status == 429 => thread::sleep(Duration::from_millis(50)),
            Ok(response) => panic!("send failed: {} {:?}", response.status, response.body),
            Err(_) => break,
        }
    }
    acknowledged
}

#[test]
fn acknowledged_messages_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let node = NodeProcess::start(&data_dir);
    let token = register(&node, "helm");
    let created = http(
        node.address,
        "POST",
        "/_matrix/client/v3/createRoom",
        Some(&token),
        Some(&json!({})),
    )
    .unwrap();
    let room_id = created.body["room_id"].as_str().unwrap().to_owned();
    let started = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (address, token, room_id) = (node.address, token.clone(), room_id.clone());
            let started = Arc::clone(&started);
            thread::spawn(move || {
                started.store(true, Ordering::SeqCst);
                send_until_killed(address, token, room_id, sender)
            })
        })
        .collect();
    while !started.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    thread::sleep(Duration::from_millis(1500));
    assert!(!node.stop_with("KILL", Duration::from_secs(20)).success());
    let acknowledged: Vec<String> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() >= SENDERS,
        "only {} messages were sent",
        acknowledged.len()
    );

    let connection =
        node::store::open_connection(&data_dir.join(node::store::DATABASE_FILE_NAME)).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(connection);

    let node = NodeProcess::start(&data_dir);
    for event_id in &acknowledged {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}");
        let response = within_rate_limit(node.address, "GET", &path, &token, None);
        assert_eq!(
            response.status, 200,
            "{event_id} was acknowledged but is lost: {:?}",
            response.body
        );
    }
    let more = within_rate_limit(
        node.address,
        "PUT",
        &format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/after-restart"),
        &token,
        Some(&json!({"body": "still afloat"})),
    );
    assert_eq!(
        more.status, 200,
        "the room accepts new events after the crash: {:?}",
        more.body
    );
    assert!(node.stop_with("TERM", Duration::from_secs(20)).success());
}

/// A request that waits out `M_LIMIT_EXCEEDED` as a client would: checking thousands of events
/// one by one exceeds the per-user rate limit, which is on by default.
fn within_rate_limit(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> flotilla_tests::HttpResponse {
    loop {
        let response = http(address, method, path, Some(token), body).unwrap();
        if response.status != 429 {
            return response;
        }
        let wait = response.body["retry_after_ms"].as_u64().unwrap_or(100);
        thread::sleep(Duration::from_millis(wait.max(1)));
    }
}
