//! Two real nodes in network namespaces that this test creates, joined by a veth pair shaped
//! in both directions with `tc qdisc … tbf rate 2400bit`: an HF radio link on real sockets.
//! It checks that messages cross and arrive as the identical event, and measures (printing,
//! not asserting, the timings) delivery latency, bytes per message on the wire including
//! Noise, Yamux, TCP/IP and Ethernet headers; and, as an ignored benchmark, the idle cost.
//!
//! Inside the namespaces TCP timestamps are off, as on a narrowband deployment (they cost 12
//! bytes a packet). Needs root (CAP_NET_ADMIN) and iproute2. Without them the test says so and
//! passes, unless `FLOTILLA_NETNS_REQUIRED` is set (`.ci/run` sets it where namespaces can be
//! made), where a skip would hide a regression.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use flotilla_tests::mesh::{MeshNode, call, peer_id_of, register, urlencode};
use flotilla_tests::{NodeProcess, flotilla_command_in_netns, http};
use serde_json::{Value, json};

const RATE: &str = "2400bit";
/// A radio modem's small MTU; tbf's bucket holds one such packet.
const MTU: &str = "576";
const BURST_BYTES: &str = "600";
const MESSAGES: usize = 10;
const ETHERNET_HEADER: u64 = 14;

#[derive(Debug, Clone, Copy)]
struct WireCounters {
    bytes: u64,
    packets: u64,
}

impl WireCounters {
    /// What was sent since `before`: bytes at the IP layer (the veth's 14-byte Ethernet
    /// headers are not part of a radio link), and packets.
    fn since(&self, before: WireCounters) -> WireCounters {
        let packets = self.packets - before.packets;
        WireCounters {
            bytes: self.bytes - before.bytes - ETHERNET_HEADER * packets,
            packets,
        }
    }
}

/// The median of the bytes, and the mean bytes and packets, of per-message counts.
fn per_message(counts: &[WireCounters]) -> (u64, f64, f64) {
    let mut bytes: Vec<u64> = counts.iter().map(|count| count.bytes).collect();
    bytes.sort_unstable();
    let total = |field: fn(&WireCounters) -> u64| counts.iter().map(field).sum::<u64>() as f64;
    let n = counts.len() as f64;
    let mean_bytes = total(|count| count.bytes) / n;
    (
        bytes[bytes.len() / 2],
        mean_bytes,
        total(|count| count.packets) / n,
    )
}

/// Two namespaces and the shaped veth pair between them; removed on drop.
struct ShapedLink {
    names: [String; 2],
    devices: [String; 2],
    addresses: [&'static str; 2],
}

impl ShapedLink {
    /// `tag` tells apart the links of tests running at once in this process.
    fn create(tag: char) -> Result<ShapedLink, String> {
        let pid = std::process::id();
        let link = ShapedLink {
            names: [format!("flt{pid}{tag}a"), format!("flt{pid}{tag}b")],
            devices: [format!("vf{pid}{tag}a"), format!("vf{pid}{tag}b")],
            addresses: ["10.231.0.1", "10.231.0.2"],
        };
        for name in &link.names {
            run("ip", &["netns", "add", name])?;
        }
        run(
            "ip",
            &[
                "link",
                "add",
                &link.devices[0],
                "netns",
                &link.names[0],
                "type",
                "veth",
                "peer",
                "name",
                &link.devices[1],
                "netns",
                &link.names[1],
            ],
        )?;
        for side in 0..2 {
            link.configure(side)?;
        }
        Ok(link)
    }

    fn configure(&self, side: usize) -> Result<(), String> {
        let (ns, dev) = (self.names[side].as_str(), self.devices[side].as_str());
        let address = format!("{}/30", self.addresses[side]);
        run("ip", &["-n", ns, "addr", "add", &address, "dev", dev])?;
        run("ip", &["-n", ns, "link", "set", dev, "mtu", MTU, "up"])?;
        run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        // As a deployment on a narrowband link would: TCP timestamps cost 12 bytes a packet.
        let sysctl = [
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.tcp_timestamps=0",
        ];
        run("ip", &sysctl)?;
        let tbf = [
            "netns",
            "exec",
            ns,
            "tc",
            "qdisc",
            "add",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            RATE,
            "burst",
            BURST_BYTES,
            "latency",
            "30s",
        ];
        run("ip", &tbf)
    }

    /// What each end has put on the wire so far.
    fn counters(&self) -> [WireCounters; 2] {
        [0, 1].map(|side| WireCounters {
            bytes: self.counter(side, "tx_bytes"),
            packets: self.counter(side, "tx_packets"),
        })
    }

    fn counter(&self, side: usize, name: &str) -> u64 {
        let path = format!("/sys/class/net/{}/statistics/{name}", self.devices[side]);
        let output = Command::new("ip")
            .args(["netns", "exec", &self.names[side], "cat", &path])
            .output()
            .expect("ip runs");
        let text = String::from_utf8_lossy(&output.stdout);
        text.trim().parse().expect("interface counters are numbers")
    }
}

impl Drop for ShapedLink {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = run("ip", &["netns", "del", name]);
        }
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// Runs `f` on a thread that has entered the namespace `netns`: its sockets live there.
fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let handle = File::open(format!("/var/run/netns/{netns}")).expect("netns exists");
                // SAFETY: setns only switches this thread's network namespace; the descriptor
                // is valid for the call.
                let entered = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("the namespace thread finished")
    })
}

fn start_node(link: &ShapedLink, side: usize, data_dir: &Path, peer: Option<&str>) -> MeshNode {
    let peer_id = peer_id_of(data_dir);
    let ns = link.names[side].clone();
    let p2p = format!("/ip4/{}/tcp/4001", link.addresses[side]);
    let api: std::net::SocketAddr = "127.0.0.1:8008".parse().unwrap();
    let mut command = flotilla_command_in_netns(&ns);
    // The idle benchmark can shorten the keep-alive to measure what one ping costs.
    if let Ok(seconds) = std::env::var("FLOTILLA_IDLE_PING_INTERVAL_S") {
        command.env("FLOTILLA_PING_INTERVAL_S", seconds);
    }
    command
        .args(["run", "--listen", "127.0.0.1:8008", "--p2p-listen", &p2p])
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(peer) = peer {
        command.args(["--peer", peer]);
    }
    let process = NodeProcess::spawn_until(command, api, &data_dir.with_extension("log"), |a| {
        in_netns(&ns, || {
            http(a, "GET", "/_matrix/client/versions", None, None).is_ok()
        })
    });
    MeshNode {
        process,
        p2p_address: format!("{p2p}/p2p/{peer_id}"),
    }
}

/// Sends a message from A and returns its event ID.
fn send(ns: &str, node: &MeshNode, token: &str, room: &str, body: &str, txn: usize) -> String {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/narrow{txn}",
        urlencode(room)
    );
    let content = json!({"msgtype": "m.text", "body": body});
    let (status, response) = in_netns(ns, || {
        call(node.process.address, "PUT", &path, token, content)
    });
    assert_eq!(status, 200, "{response}");
    response["event_id"].as_str().unwrap().to_owned()
}

/// Waits until `node` serves the event; returns it.
fn await_event(ns: &str, node: &MeshNode, token: &str, room: &str, event_id: &str) -> Value {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        urlencode(room),
        urlencode(event_id)
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, event) = in_netns(ns, || {
            call(node.process.address, "GET", &path, token, json!({}))
        });
        if status == 200 {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "{event_id} never arrived\n{}",
            node.process.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two nodes over a fresh shaped link, a user on each, both in one room that has carried a
/// first message.
struct Session {
    // Field order is drop order: the nodes stop before their namespaces go.
    a: MeshNode,
    b: MeshNode,
    link: ShapedLink,
    _dir: tempfile::TempDir,
    alice: String,
    bob: String,
    room: String,
}

impl Session {
    fn start(tag: char) -> Option<Session> {
        let link = match ShapedLink::create(tag) {
            Ok(link) => link,
            Err(reason) if std::env::var_os("FLOTILLA_NETNS_REQUIRED").is_none() => {
                eprintln!("skipped: cannot create network namespaces here ({reason})");
                return None;
            }
            Err(reason) => panic!("network namespaces are needed in CI: {reason}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let a = start_node(&link, 0, &dir.path().join("a"), None);
        let b = start_node(&link, 1, &dir.path().join("b"), Some(&a.p2p_address));
        let [ns_a, ns_b] = link.names.clone();
        let (_, alice) = in_netns(&ns_a, || register(a.process.address, "alice"));
        let (_, bob) = in_netns(&ns_b, || register(b.process.address, "bob"));
        let (status, created) = in_netns(&ns_a, || {
            let body = json!({"preset": "public_chat"});
            call(
                a.process.address,
                "POST",
                "/_matrix/client/v3/createRoom",
                &alice,
                body,
            )
        });
        assert_eq!(status, 200, "{created}");
        let room = created["room_id"].as_str().unwrap().to_owned();
        in_netns(&ns_b, || flotilla_tests::mesh::join(&b, &bob, &room));
        let warm_up = send(&ns_a, &a, &alice, &room, "warming up the link", 0);
        await_event(&ns_b, &b, &bob, &room, &warm_up);
        std::thread::sleep(Duration::from_secs(2));
        Some(Session {
            a,
            b,
            link,
            _dir: dir,
            alice,
            bob,
            room,
        })
    }
}

#[test]
fn messages_cross_a_2400_bit_link_between_real_nodes() {
    let Some(session) = Session::start('m') else {
        return;
    };
    let Session {
        a,
        b,
        link,
        alice,
        bob,
        room,
        ..
    } = &session;
    let [ns_a, ns_b] = link.names.clone();
    let mut latencies = Vec::new();
    let (mut sent, mut acknowledged) = (Vec::new(), Vec::new());
    for i in 1..=MESSAGES {
        let before = link.counters();
        let started = Instant::now();
        let body = format!("Position report {i}, all well");
        let event_id = send(&ns_a, a, alice, room, &body, i);
        let event = await_event(&ns_b, b, bob, room, &event_id);
        latencies.push(started.elapsed());
        assert_eq!(event["event_id"], event_id.as_str());
        assert_eq!(event["content"]["body"], body.as_str());
        // Let the link drain (acknowledgements included) before the next message.
        std::thread::sleep(Duration::from_millis(1500));
        let after = link.counters();
        sent.push(after[0].since(before[0]));
        acknowledged.push(after[1].since(before[1]));
    }
    // The median, because a message's window may also hold an unrelated packet now and then
    // (a keep-alive, a retransmission on a loaded machine); the mean is printed too.
    let (sent_median, sent, sent_packets) = per_message(&sent);
    let (_, acks, ack_packets) = per_message(&acknowledged);
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    // tbf lets a packet through at once while its bucket is full, so the timings above are the
    // nodes' own latency; a real 2400 bit/s modem adds the serialization of the bytes sent.
    let serialization = Duration::from_secs_f64(sent_median as f64 * 8.0 / 2400.0);
    println!(
        "2400 bit/s veth link (tbf, MTU {MTU}), per message: median {sent_median} B (mean \
         {sent:.0} B in {sent_packets:.1} packets) from the sender (IP, TCP, Noise, Yamux, \
         frame), {acks:.0} B in \
         {ack_packets:.1} packets back (TCP acknowledgements); send → served by the other node \
         p50 {p50:?}, max {:?}, plus {serialization:?} of serialization on a real modem",
        latencies[latencies.len() - 1]
    );
    assert!(
        sent_median <= 200,
        "median {sent_median} bytes per message from the sender"
    );
}

/// The idle cost of a connected peer on real sockets, over a window long enough to hold the
/// transport's keep-alive pings and the sync protocol's periodic digests. A benchmark:
/// `cargo test --release -p flotilla-tests --test narrowband -- --ignored --nocapture`
/// (`FLOTILLA_IDLE_SECONDS`, default 1800; `FLOTILLA_IDLE_PING_INTERVAL_S` overrides the nodes'
/// keep-alive interval, to measure what a ping costs).
#[test]
#[ignore = "a benchmark: half an hour of an idle link"]
fn idle_cost_on_the_wire() {
    let Some(session) = Session::start('i') else {
        return;
    };
    let seconds: u64 = std::env::var("FLOTILLA_IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    let before = session.link.counters();
    std::thread::sleep(Duration::from_secs(seconds));
    let after = session.link.counters();
    let bytes: u64 = (0..2).map(|s| after[s].bytes - before[s].bytes).sum();
    let packets: u64 = (0..2).map(|s| after[s].packets - before[s].packets).sum();
    println!(
        "idle connected peer: {bytes} B in {packets} packets over {seconds} s, both ways, \
         Ethernet headers included: {:.2} B/s",
        bytes as f64 / seconds as f64
    );
}
