//! `flotilla dag resolve` end to end: ruma's fixtures in both modes, and bad input reported with
//! the file and event and exit status 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dag/tests/data/ruma-state-res")
        .join(path)
}

fn flotilla(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["dag", "resolve"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data(&format!("expected/{name}.json"))).unwrap())
        .unwrap()
}

/// A scratch file holding `text`, unique to the test.
fn scratch(test: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flotilla-resolve-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn walks_a_dag() {
    let files = [
        "bootstrap-public-chat.json",
        "topic-vs-ban-common.json",
        "topic-vs-ban-alice.json",
        "topic-vs-ban-bob.json",
    ]
    .map(|file| data(&format!("fixtures/{file}")));
    let mut args: Vec<&Path> = vec![Path::new("--events")];
    args.extend(files.iter().map(PathBuf::as_path));
    assert_eq!(stdout_json(&flotilla(&args)), expected("topic_vs_ban"));
}

#[test]
fn resolves_state_maps_in_both_state_resolution_versions() {
    for (events, name) in [
        ("pdus-v11.json", "msc4297_problem_b_state_res_v2_0"),
        ("pdus-v12.json", "msc4297_problem_b_state_res_v2_1"),
    ] {
        let events = data(&format!("fixtures/MSC4297-problem-B/{events}"));
        let eve = data("fixtures/MSC4297-problem-B/state-eve.json");
        let zara = data("fixtures/MSC4297-problem-B/state-zara.json");
        let args = [
            Path::new("--events"),
            &events,
            Path::new("--state"),
            &eve,
            &zara,
        ];
        assert_eq!(stdout_json(&flotilla(&args)), expected(name));
    }
}

#[test]
fn malformed_json_names_the_file() {
    let path = scratch("malformed", "[{\"event_id\": ");
    let message = failure(&flotilla(&[Path::new("--events"), &path]));
    assert!(message.contains(&path.display().to_string()), "{message}");
}

const CREATE: &str = r#"{"event_id": "$create", "room_id": "!r:x", "sender": "@a:x", "type": "m.room.create",
    "state_key": "", "content": {"room_version": "11"}, "origin_server_ts": 0, "prev_events": [], "auth_events": []}"#;

fn member(id: &str, prev: &str, auth: &str) -> String {
    format!(
        r#"{{"event_id": "{id}", "room_id": "!r:x", "sender": "@a:x", "type": "m.room.member", "state_key": "@a:x",
        "content": {{"membership": "join"}}, "origin_server_ts": 1, "prev_events": ["{prev}"], "auth_events": ["{auth}"]}}"#
    )
}

#[test]
fn unknown_event_names_file_and_event() {
    let path = scratch(
        "unknown",
        &format!("[{CREATE}, {}]", member("$join", "$nowhere", "$create")),
    );
    let message = failure(&flotilla(&[Path::new("--events"), &path]));
    assert!(
        message.contains(&path.display().to_string())
            && message.contains("$join")
            && message.contains("$nowhere"),
        "{message}"
    );
}

#[test]
fn cycle_names_an_event() {
    let events = format!(
        "[{CREATE}, {}, {}]",
        member("$one", "$two", "$create"),
        member("$two", "$one", "$create")
    );
    let path = scratch("cycle", &events);
    let message = failure(&flotilla(&[Path::new("--events"), &path]));
    assert!(
        message.contains("cycle") && (message.contains("$one") || message.contains("$two")),
        "{message}"
    );
}

#[test]
fn missing_create_event_is_an_error() {
    let path = scratch(
        "no-create",
        &format!("[{}]", member("$join", "$join", "$join")),
    );
    assert!(failure(&flotilla(&[Path::new("--events"), &path])).contains("m.room.create"));
}

#[test]
fn unsupported_room_version_is_an_error() {
    let path = scratch("version", &format!("[{CREATE}]"));
    let output = flotilla(&[
        Path::new("--room-version"),
        Path::new("9"),
        Path::new("--events"),
        &path,
    ]);
    assert!(failure(&output).contains("unsupported room version"));
}

#[test]
fn state_file_with_unknown_event_names_it() {
    let events = scratch("state-events", &format!("[{CREATE}]"));
    let state = events.with_file_name("state.json");
    std::fs::write(&state, r#"["$create", "$ghost"]"#).unwrap();
    let message = failure(&flotilla(&[
        Path::new("--events"),
        &events,
        Path::new("--state"),
        &state,
    ]));
    assert!(
        message.contains("state.json") && message.contains("$ghost"),
        "{message}"
    );
}
