//! A real `flotilla run` process: first start with no configuration, registration over HTTP,
//! clean shutdown on SIGTERM and SIGINT, and everything (sessions, status messages) still there
//! after a restart.

use std::time::Duration;

use flotilla_tests::{NodeProcess, flotilla_command, http};
use serde_json::json;

#[test]
fn register_then_stop_with_sigterm_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let node = NodeProcess::start(&data_dir);

    let register = json!({
        "username": "alice",
        "password": "hunter22",
        "auth": { "type": "m.login.dummy" },
    });
    let response = http(
        node.address,
        "POST",
        "/_matrix/client/v3/register",
        None,
        Some(&register),
    )
    .unwrap();
    assert_eq!(response.status, 200, "{:?}", response.body);
    let token = response.body["access_token"].as_str().unwrap().to_owned();
    let user_id = response.body["user_id"].as_str().unwrap().to_owned();
    let whoami = http(
        node.address,
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(&token),
        None,
    )
    .unwrap();
    assert_eq!(whoami.body["user_id"], user_id.as_str());
    let presence_path = format!("/_matrix/client/v3/presence/{user_id}/status");
    let status_msg = json!({"presence": "online", "status_msg": "on watch until 0400"});
    let response = http(
        node.address,
        "PUT",
        &presence_path,
        Some(&token),
        Some(&status_msg),
    );
    assert_eq!(response.unwrap().status, 200);

    let status = node.stop_with("TERM", Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");

    let key_mode = std::fs::metadata(data_dir.join("node.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);

    let id = flotilla_command()
        .arg("id")
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(id.status.success());
    let id: serde_json::Value = serde_json::from_slice(&id.stdout).unwrap();
    assert!(user_id.ends_with(id["server_name"].as_str().unwrap()));
    assert!(id["peer_id"].as_str().unwrap().starts_with("12D3KooW"));

    let node = NodeProcess::start(&data_dir);
    let whoami = http(
        node.address,
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(&token),
        None,
    )
    .unwrap();
    assert_eq!(whoami.status, 200, "the session survived the restart");
    let presence = http(node.address, "GET", &presence_path, Some(&token), None).unwrap();
    assert_eq!(
        presence.body["presence"], "offline",
        "nobody has synced since"
    );
    assert_eq!(
        presence.body["status_msg"], "on watch until 0400",
        "the status message survived the restart"
    );
    assert!(presence.body["last_active_ago"].as_u64().is_some());
    let status = node.stop_with("INT", Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn user_add_creates_an_account_that_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let mut add = flotilla_command()
        .args(["user", "add", "bosun", "--admin", "--data-dir"])
        .arg(&data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"belay that\n")
        .unwrap();
    let output = add.wait_with_output().unwrap();
    assert!(output.status.success());
    let user_id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(user_id.starts_with("@bosun:"));

    let node = NodeProcess::start(&data_dir);
    let login = json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": "bosun" },
        "password": "belay that",
    });
    let response = http(
        node.address,
        "POST",
        "/_matrix/client/v3/login",
        None,
        Some(&login),
    )
    .unwrap();
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["user_id"], user_id.as_str());
    assert!(node.stop_with("TERM", Duration::from_secs(20)).success());
}

/// Acknowledged means committed: what the API confirmed survives `kill -9`.
#[test]
fn registrations_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let node = NodeProcess::start(&data_dir);
    let mut tokens = Vec::new();
    for index in 0..5 {
        let register = json!({
            "username": format!("sailor{index}"),
            "password": "hunter22",
            "auth": { "type": "m.login.dummy" },
        });
        let response = http(
            node.address,
            "POST",
            "/_matrix/client/v3/register",
            None,
            Some(&register),
        )
        .unwrap();
        assert_eq!(response.status, 200, "{:?}", response.body);
        tokens.push(response.body["access_token"].as_str().unwrap().to_owned());
    }
    let status = node.stop_with("KILL", Duration::from_secs(20));
    assert!(!status.success());

    let connection =
        node::store::open_connection(&data_dir.join(node::store::DATABASE_FILE_NAME)).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(connection);

    let node = NodeProcess::start(&data_dir);
    for token in &tokens {
        let whoami = http(
            node.address,
            "GET",
            "/_matrix/client/v3/account/whoami",
            Some(token),
            None,
        )
        .unwrap();
        assert_eq!(whoami.status, 200, "{:?}", whoami.body);
    }
    assert!(node.stop_with("TERM", Duration::from_secs(20)).success());
}

/// No options at all: the data directory defaults under $HOME and the identity and database
/// are created there; the listen address comes from the environment.
#[test]
fn first_start_without_configuration() {
    let home = tempfile::tempdir().unwrap();
    let address = flotilla_tests::free_address();
    let mut command = flotilla_command();
    command
        .arg("run")
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env("FLOTILLA_LISTEN", address.to_string())
        .env("FLOTILLA_NOT_AN_OPTION", "ignored");
    let node = NodeProcess::spawn(command, address, &home.path().join("node.log"));
    let data_dir = home.path().join(".local/share/flotilla");
    assert!(data_dir.join("node.key").exists());
    assert!(data_dir.join("flotilla.db").exists());
    let capabilities = http(node.address, "GET", "/_matrix/client/versions", None, None).unwrap();
    assert_eq!(capabilities.status, 200);
    assert!(node.stop_with("TERM", Duration::from_secs(20)).success());
}

/// An idle keep-alive connection does not hold up shutdown.
#[test]
fn sigterm_with_an_idle_keep_alive_connection() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&dir.path().join("node"));
    let mut idle = std::net::TcpStream::connect(node.address).unwrap();
    idle.write_all(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first_bytes = [0u8; 12];
    idle.read_exact(&mut first_bytes).unwrap();
    assert_eq!(&first_bytes, b"HTTP/1.1 200");
    let status = node.stop_with("TERM", Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
}
