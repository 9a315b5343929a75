//! Cold start with a large database (ignored by default; numbers, not pass/fail): a node whose
//! database holds ≥ 1,000,000 signed room events, generated once into
//! `target/<profile>/bench-cold-start` through the node's own room store, is started and timed
//! until it answers its first request; then the first authenticated `/sync` and a `/messages`
//! page of the big room are timed too.
//!
//! Run: `cargo test -p flotilla-tests --release --test bench_cold_start -- --ignored --nocapture`
//! (`FLOTILLA_BENCH_EVENTS=N` changes the number of events; generation takes minutes once).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dag::room::{self, NewEvent, Received};
use flotilla_tests::{flotilla_binary, flotilla_command, free_address, http};
use node::identity::NodeIdentity;
use node::store::rooms::{RoomCache, SqliteRoomStore};
use node::store::{DATABASE_FILE_NAME, open_connection};
use serde_json::json;

const DEFAULT_EVENTS: u64 = 1_000_000;
const STATE_EVERY: u64 = 1_000;

fn wanted_events() -> u64 {
    std::env::var("FLOTILLA_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_EVENTS)
}

fn data_dir(events: u64) -> PathBuf {
    let profile_dir = flotilla_binary().parent().unwrap();
    profile_dir.join(format!("bench-cold-start-{events}"))
}

/// Fills a fresh data directory with one room of `events` events (messages, and a topic
/// change every [`STATE_EVERY`]) through `SqliteRoomStore`. Durability is off while generating.
fn generate(dir: &Path, events: u64) -> String {
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).unwrap();
    let identity = NodeIdentity::load_or_create(&partial).unwrap();
    let key = identity.server_key();
    let sender = format!("@generator:{}", identity.server_name());
    let mut connection = open_connection(&partial.join(DATABASE_FILE_NAME)).unwrap();
    connection
        .execute_batch("PRAGMA synchronous = OFF;")
        .unwrap();
    let mut cache = RoomCache::default();
    let mut store = SqliteRoomStore::new(&mut connection, &mut cache);
    let create = room::build_create_event(
        dag::RoomVersion::V12,
        &sender,
        Default::default(),
        1,
        None,
        &key,
    )
    .unwrap();
    let Ok(Received::Stored { room_id, .. }) = room::receive(&mut store, create.into_json()) else {
        panic!("the create event is stored");
    };
    let state = |event_type: &str, state_key: &str, content| NewEvent {
        event_type: event_type.into(),
        state_key: Some(state_key.into()),
        sender: sender.clone(),
        content,
    };
    let setup = [
        state("m.room.member", &sender, json!({"membership": "join"})),
        state("m.room.join_rules", "", json!({"join_rule": "public"})),
        state(
            "m.room.history_visibility",
            "",
            json!({"history_visibility": "shared"}),
        ),
    ];
    for new in &setup {
        room::send(&mut store, &room_id, new, 2, &key).unwrap();
    }
    let started = Instant::now();
    for n in 4..events {
        let new = match n % STATE_EVERY {
            0 => state("m.room.topic", "", json!({"topic": format!("watch {n}")})),
            _ => NewEvent {
                event_type: "m.room.message".into(),
                state_key: None,
                sender: sender.clone(),
                content: json!({"msgtype": "m.text", "body": format!("log entry {n}")}),
            },
        };
        room::send(&mut store, &room_id, &new, n, &key).unwrap();
        if n % 100_000 == 0 {
            eprintln!("generated {n} events in {:?}", started.elapsed());
        }
    }
    let (_, failure) = store.finish();
    assert!(failure.is_none(), "{failure:?}");
    connection
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(connection);
    std::fs::write(partial.join("room_id"), &room_id).unwrap();
    std::fs::rename(&partial, dir).unwrap();
    room_id
}

/// Time from spawning `flotilla run` until a TCP connection is accepted and until the first
/// HTTP request is answered.
fn start_and_time(dir: &Path) -> (std::process::Child, std::net::SocketAddr, Duration) {
    let address = free_address();
    let mut command = flotilla_command();
    command
        .arg("run")
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(address.to_string())
        .env("FLOTILLA_RATE_LIMITS_ENABLED", "false")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    while started.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(address).is_ok()
            && http(address, "GET", "/_matrix/client/versions", None, None).is_ok()
        {
            return (child, address, started.elapsed());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the node did not answer within a minute");
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn cold_start_with_a_million_events() {
    let events = wanted_events();
    let dir = data_dir(events);
    let room_id = match std::fs::read_to_string(dir.join("room_id")) {
        Ok(room_id) => room_id,
        Err(_) => generate(&dir, events),
    };
    let size = std::fs::metadata(dir.join(DATABASE_FILE_NAME))
        .unwrap()
        .len();
    let (mut child, address, first_answer) = start_and_time(&dir);
    println!(
        "cold start with {events} events ({} MB): first request answered after {first_answer:?}",
        size / 1_000_000
    );
    let register = json!({"username": format!("reader{}", std::process::id()), "password": "cold-start", "auth": {"type": "m.login.dummy"}});
    let registered = http(
        address,
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(&register),
    )
    .unwrap();
    let token = registered.body["access_token"].as_str().unwrap().to_owned();
    let joined = http(
        address,
        "POST",
        &format!("/_matrix/client/v3/join/{room_id}"),
        Some(&token),
        None,
    )
    .unwrap();
    assert_eq!(joined.status, 200, "{:?}", joined.body);
    let started = Instant::now();
    let sync = http(
        address,
        "GET",
        "/_matrix/client/v3/sync",
        Some(&token),
        None,
    )
    .unwrap();
    assert_eq!(sync.status, 200);
    println!(
        "first initial /sync after the join: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let page = http(
        address,
        "GET",
        &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
        Some(&token),
        None,
    )
    .unwrap();
    assert_eq!(page.body["chunk"].as_array().unwrap().len(), 50);
    println!("/messages page of 50: {:?}", started.elapsed());
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
}
