//! The `flotilla dag` tools, run as a user would: the spec's appendix vectors byte for byte,
//! and bad input answered with a message and exit status 1.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
/// The public key of `SEED`, as the spec's vectors sign with it.
const PUBLIC_KEY: &str = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

fn flotilla(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flotilla starts");
    // A tool may refuse its input before reading all of it; the pipe closing then is fine.
    if let Err(error) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    child.wait_with_output().unwrap()
}

fn stdout_of(args: &[&str], stdin: &str) -> String {
    let output = flotilla(args, stdin.as_bytes());
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn assert_fails_cleanly(args: &[&str], stdin: &[u8], message: &str) {
    let output = flotilla(args, stdin);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn sign_args(room_version: &'static str) -> Vec<&'static str> {
    vec![
        "dag",
        "sign",
        "--room-version",
        room_version,
        "--server",
        "domain",
        "--key-id",
        "ed25519:1",
        "--seed",
        SEED,
    ]
}

#[test]
fn canonical_json_examples() {
    let cases = [
        ("{}", "{}"),
        (
            "{\n \"one\": 1,\n \"two\": \"Two\"\n}",
            r#"{"one":1,"two":"Two"}"#,
        ),
        (r#"{"b":"2","a":"1"}"#, r#"{"a":"1","b":"2"}"#),
        (r#"{"a": "日本語"}"#, r#"{"a":"日本語"}"#),
        (r#"{"本": 2, "日": 1}"#, r#"{"日":1,"本":2}"#),
        (r#"{"a": "\u65E5"}"#, r#"{"a":"日"}"#),
        (r#"{"a": null}"#, r#"{"a":null}"#),
        (r#"{"a": -0, "b": 1e10}"#, r#"{"a":0,"b":10000000000}"#),
    ];
    for (input, expected) in cases {
        assert_eq!(
            stdout_of(&["dag", "canonical"], input),
            format!("{expected}\n")
        );
    }
}

#[test]
fn json_signing_vectors() {
    let args = [
        "dag",
        "sign-json",
        "--server",
        "domain",
        "--key-id",
        "ed25519:1",
        "--seed",
        SEED,
    ];
    assert_eq!(
        stdout_of(&args, "{}"),
        "{\"signatures\":{\"domain\":{\"ed25519:1\":\"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ\"}}}\n"
    );
    assert_eq!(
        stdout_of(&args, r#"{"one": 1, "two": "Two"}"#),
        "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":\"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw\"}},\"two\":\"Two\"}\n"
    );
}

const MINIMAL_EVENT: &str = r#"{"room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
  "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [], "depth": 3,
  "unsigned": {"age_ts": 1000000}}"#;
const SIGNED_MINIMAL_EVENT: &str = r#"{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain","signatures":{"domain":{"ed25519:1":"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},"type":"X","unsigned":{"age_ts":1000000}}"#;
const MESSAGE_EVENT: &str = r#"{"content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
  "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
  "signatures": {}, "unsigned": {"age_ts": 1000000}}"#;
const SIGNED_MESSAGE_EVENT: &str = r#"{"content":{"body":"Here is the message content"},"event_id":"$0:domain","hashes":{"sha256":"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},"origin":"domain","origin_server_ts":1000000,"room_id":"!r:domain","sender":"@u:domain","signatures":{"domain":{"ed25519:1":"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},"type":"m.room.message","unsigned":{"age_ts":1000000}}"#;

#[test]
fn event_signing_vectors() {
    assert_eq!(
        stdout_of(&sign_args("10"), MINIMAL_EVENT),
        format!("{SIGNED_MINIMAL_EVENT}\n")
    );
    assert_eq!(
        stdout_of(&sign_args("10"), MESSAGE_EVENT),
        format!("{SIGNED_MESSAGE_EVENT}\n")
    );
    let hash_args = ["dag", "hash", "--room-version", "10"];
    assert_eq!(
        stdout_of(&hash_args, MESSAGE_EVENT),
        "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g\n"
    );
}

#[test]
fn event_id_computes_missing_hash_first() {
    let args = ["dag", "event-id", "--room-version", "10"];
    let from_unhashed = stdout_of(&args, MESSAGE_EVENT);
    let from_signed = stdout_of(&args, SIGNED_MESSAGE_EVENT);
    assert_eq!(from_unhashed, from_signed);
    assert!(
        from_signed.starts_with('$') && from_signed.trim_end().len() == 44,
        "{from_signed}"
    );
}

fn verify_args(room_version: &'static str) -> Vec<&'static str> {
    vec![
        "dag",
        "verify",
        "--room-version",
        room_version,
        "--server",
        "domain",
        "--key-id",
        "ed25519:1",
        "--public-key",
        PUBLIC_KEY,
    ]
}

#[test]
fn verify_tells_bad_signature_from_content_hash_mismatch() {
    assert_eq!(stdout_of(&verify_args("10"), SIGNED_MESSAGE_EVENT), "ok\n");
    let body_changed =
        SIGNED_MESSAGE_EVENT.replace("Here is the message content", "Here is other content");
    assert_fails_cleanly(
        &verify_args("10"),
        body_changed.as_bytes(),
        "content hash mismatch",
    );
    let ts_changed = SIGNED_MESSAGE_EVENT.replace("1000000", "1000001");
    assert_fails_cleanly(
        &verify_args("10"),
        ts_changed.as_bytes(),
        "signature check failed",
    );
    let hash_changed = SIGNED_MESSAGE_EVENT.replace("onLKD1bG", "onLKD1bH");
    assert_fails_cleanly(
        &verify_args("10"),
        hash_changed.as_bytes(),
        "signature check failed",
    );
    // v11 does not protect `origin`, so these v10 signatures do not hold there.
    assert_fails_cleanly(
        &verify_args("11"),
        SIGNED_MESSAGE_EVENT.as_bytes(),
        "signature check failed",
    );
}

const SERVER: &str = "0f7e4d1ac2b3958677f1e0a9d6c5b4a3928170f6e5d4c3b2a1908f7e6d5c4b3a";

/// A v12 `m.room.message` between hex-named servers: one prev event, three auth events, a
/// 30-character body.
fn typical_v12_message() -> String {
    let unsigned = format!(
        r#"{{"type":"m.room.message","room_id":"!fNqhNmV6mvqRbAzDU0c4FCqGAVAbg3LTKuVcUXkSA6Y","sender":"@alice:{SERVER}",
        "origin_server_ts":1764180000000,"depth":42,"prev_events":["$Oq6G1TRW1Ql5ZLg6nJzhaHDzGFb2E-Uvy-WCxqu0Ih8"],
        "auth_events":["$fNqhNmV6mvqRbAzDU0c4FCqGAVAbg3LTKuVcUXkSA6Y","$7wEYz0V2n2G-nLhBuAXrdIBb7CkvvMrIkW8G_T7Zzi4","$QHTb3pnJvIzJ2ub0WHSSqZRB5nlGVSXBZ-YH4t9AhBU"],
        "content":{{"msgtype":"m.text","body":"Surfacing at 0600. All well ok"}}}}"#
    );
    let args = [
        "dag",
        "sign",
        "--room-version",
        "12",
        "--server",
        SERVER,
        "--key-id",
        "ed25519:1",
        "--seed",
        SEED,
    ];
    stdout_of(&args, &unsigned)
}

#[test]
fn wire_round_trip_and_stats() {
    let event = typical_v12_message();
    let encoded = flotilla(
        &["dag", "wire", "encode", "--room-version", "12"],
        event.as_bytes(),
    );
    assert!(
        encoded.status.success(),
        "{}",
        String::from_utf8_lossy(&encoded.stderr)
    );
    let decoded = flotilla(
        &["dag", "wire", "decode", "--room-version", "12"],
        &encoded.stdout,
    );
    assert_eq!(String::from_utf8(decoded.stdout).unwrap(), event);

    let stats = stdout_of(&["dag", "wire", "stats", "--room-version", "12"], &event);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let json_bytes = stats["json_bytes"].as_u64().unwrap();
    let cbor_bytes = stats["cbor_bytes"].as_u64().unwrap();
    assert_eq!(json_bytes as usize, event.trim_end().len());
    assert_eq!(cbor_bytes as usize, encoded.stdout.len());
    assert!(cbor_bytes * 2 <= json_bytes, "{stats}");
    assert!(stats["zstd_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn bad_input_is_a_message_and_exit_1() {
    assert_fails_cleanly(&["dag", "canonical"], b"{\"a\": 1.5}", "not an integer");
    assert_fails_cleanly(&["dag", "canonical"], b"\xff\xfe garbage", "invalid UTF-8");
    assert_fails_cleanly(&["dag", "canonical"], b"{\"a\":1,\"a\":2}", "appears twice");
    assert_fails_cleanly(
        &["dag", "hash", "--room-version", "12"],
        b"[1,2]",
        "expected a JSON object",
    );
    let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    assert_fails_cleanly(
        &["dag", "wire", "decode", "--room-version", "12"],
        &garbage,
        "decoding wire bytes",
    );
    assert_fails_cleanly(
        &["dag", "wire", "decode", "--room-version", "12"],
        b"",
        "decoding wire bytes",
    );
    assert_fails_cleanly(
        &["dag", "wire", "encode", "--room-version", "12"],
        MESSAGE_EVENT.as_bytes(),
        "not a valid event",
    );
    assert_fails_cleanly(
        &[
            "dag",
            "sign-json",
            "--server",
            "d",
            "--key-id",
            "ed25519:1",
            "--seed",
            "short",
        ],
        b"{}",
        "--seed",
    );
    assert_fails_cleanly(
        &verify_args("10")[..9]
            .iter()
            .copied()
            .chain(["not-a-key"])
            .collect::<Vec<_>>(),
        b"{}",
        "--public-key",
    );
}
