//! Benchmarks of a real node (ignored by default; numbers, not pass/fail):
//! - messages per second through `/send` with 1, 16 and 64 concurrent clients (keep-alive
//!   connections, one room, rate limits off);
//! - send-to-receive latency through another client's long-poll `/sync`, p50 and p99.
//!
//! Run: `cargo test -p flotilla-tests --release --test bench_rooms -- --ignored --nocapture`
//! With `FLOTILLA_BENCH_HOMESERVER=127.0.0.1:8008` the same clients measure another server
//! already running there (e.g. Synapse with open registration and rate limits raised).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use flotilla_tests::{NodeProcess, flotilla_command, free_address};
use serde_json::{Value, json};

const SEND_WINDOW: Duration = Duration::from_secs(5);
const LATENCY_SAMPLES: usize = 200;

/// An HTTP/1.1 client on one keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    token: Option<String>,
}

impl Client {
    fn connect(address: SocketAddr) -> Client {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            token: None,
        }
    }

    fn request(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body.as_bytes()).unwrap();
        self.read_response()
    }

    fn read_response(&mut self) -> (u16, Value) {
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let mut length = 0;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
                if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let body = match chunked {
            true => self.read_chunks(),
            false => {
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body).unwrap();
                body
            }
        };
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A chunked body (Synapse answers so).
    fn read_chunks(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            self.reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// Registers with the dummy stage, in one call or (Synapse) after fetching a session.
    fn register(address: SocketAddr, name: &str) -> Client {
        let mut client = Client::connect(address);
        let name = format!("{name}r{}", std::process::id());
        let mut body =
            json!({"username": name, "password": "bench-pass", "auth": {"type": "m.login.dummy"}});
        let (mut status, mut response) =
            client.request("POST", "/_matrix/client/v3/register", Some(&body));
        if status == 401
            && let Some(session) = response["session"].as_str()
        {
            body["auth"]["session"] = json!(session);
            (status, response) = client.request("POST", "/_matrix/client/v3/register", Some(&body));
        }
        assert_eq!(status, 200, "{response}");
        client.token = Some(response["access_token"].as_str().unwrap().to_owned());
        client
    }

    fn send(&mut self, room_id: &str, txn: &str, body: Value) -> String {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
        let (status, response) = self.request("PUT", &path, Some(&body));
        assert_eq!(status, 200, "{response}");
        response["event_id"].as_str().unwrap().to_owned()
    }
}

fn start_node(data_dir: &std::path::Path) -> NodeProcess {
    let address = free_address();
    let mut command = flotilla_command();
    command
        .arg("run")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(address.to_string())
        .env("FLOTILLA_RATE_LIMITS_ENABLED", "false")
        .env("RUST_LOG", "warn");
    NodeProcess::spawn(command, address, &data_dir.with_extension("log"))
}

/// A public room that `clients` have joined; returns its ID.
fn shared_room(owner: &mut Client, clients: &mut [Client]) -> String {
    let body = json!({"preset": "public_chat"});
    let (status, created) = owner.request("POST", "/_matrix/client/v3/createRoom", Some(&body));
    assert_eq!(status, 200, "{created}");
    let room_id = created["room_id"].as_str().unwrap().to_owned();
    for client in clients {
        let (status, joined) =
            client.request("POST", &format!("/_matrix/client/v3/join/{room_id}"), None);
        assert_eq!(status, 200, "{joined}");
    }
    room_id
}

/// Messages per second that `clients` sustain together over [`SEND_WINDOW`].
fn throughput(clients: Vec<Client>, room_id: &str) -> f64 {
    let barrier = Arc::new(Barrier::new(clients.len()));
    let started = Instant::now();
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, mut client)| {
            let (barrier, room_id) = (Arc::clone(&barrier), room_id.to_owned());
            thread::spawn(move || {
                barrier.wait();
                let deadline = Instant::now() + SEND_WINDOW;
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    client.send(
                        &room_id,
                        &format!("t{index}-{sent}"),
                        json!({"msgtype": "m.text", "body": "x"}),
                    );
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn sync_path(since: &str) -> String {
    format!("/_matrix/client/v3/sync?since={since}&timeout=30000")
}

/// The response's next batch, and whether it carries `event_id` in the room's timeline.
fn sync_result(response: &Value, room_id: &str, event_id: &str) -> (String, bool) {
    let arrived = response["rooms"]["join"][room_id]["timeline"]["events"]
        .as_array()
        .is_some_and(|events| events.iter().any(|e| e["event_id"] == event_id));
    (response["next_batch"].as_str().unwrap().to_owned(), arrived)
}

/// Send-to-receive latency: one message at a time, received through a long-poll sync that
/// was already waiting when the message was sent.
fn latency(sender: &mut Client, receiver: &mut Client, room_id: &str) -> Vec<Duration> {
    let (_, initial) = receiver.request("GET", "/_matrix/client/v3/sync?timeout=0", None);
    let mut since = initial["next_batch"].as_str().unwrap().to_owned();
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\n\r\n",
            sync_path(&since),
            receiver.token.as_deref().unwrap()
        );
        receiver.writer.write_all(head.as_bytes()).unwrap();
        // Let the long-poll park before the message is sent.
        thread::sleep(Duration::from_millis(5));
        let sent_at = Instant::now();
        let event_id = sender.send(
            room_id,
            &format!("lat{n}"),
            json!({"msgtype": "m.text", "body": n.to_string()}),
        );
        let (status, mut response) = receiver.read_response();
        loop {
            assert_eq!(status, 200, "{response}");
            let (next, arrived) = sync_result(&response, room_id, &event_id);
            since = next;
            if arrived {
                samples.push(sent_at.elapsed());
                break;
            }
            response = receiver.request("GET", &sync_path(&since), None).1;
        }
    }
    samples.sort();
    samples
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn send_throughput_and_sync_latency() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, address): (Option<NodeProcess>, SocketAddr) =
        match std::env::var("FLOTILLA_BENCH_HOMESERVER") {
            Ok(external) => {
                println!("measuring the server at {external}");
                (
                    None,
                    external
                        .parse()
                        .expect("FLOTILLA_BENCH_HOMESERVER is host:port"),
                )
            }
            Err(_) => {
                let node = start_node(&dir.path().join("node"));
                let address = node.address;
                (Some(node), address)
            }
        };
    let mut owner = Client::register(address, "owner");
    for concurrency in [1usize, 16, 64] {
        let mut clients: Vec<Client> = (0..concurrency)
            .map(|i| Client::register(address, &format!("c{concurrency}x{i}")))
            .collect();
        let room_id = shared_room(&mut owner, &mut clients);
        let rate = throughput(clients, &room_id);
        println!("send throughput, {concurrency:>2} clients: {rate:8.0} messages/s");
    }
    let mut receiver = Client::register(address, "receiver");
    let room_id = shared_room(&mut owner, std::slice::from_mut(&mut receiver));
    let samples = latency(&mut owner, &mut receiver, &room_id);
    println!(
        "send → long-poll receive latency over {} messages: p50 {:?}, p99 {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99)
    );
}
