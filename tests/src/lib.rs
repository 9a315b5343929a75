//! Support for the cross-crate tests: building and running the `flotilla` binary as a real
//! process on a free loopback port, and a minimal HTTP/1.1 client to talk to it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod mesh;

/// The `flotilla` binary of this build profile, built once per test process. Cargo only
/// provides `CARGO_BIN_EXE_*` to the binary's own package, so the tests ask cargo for it.
pub fn flotilla_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test_exe = std::env::current_exe().expect("the test binary knows its path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("test binaries live in target/<profile>/deps");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut build = Command::new(env!("CARGO"));
        build.current_dir(&workspace).args([
            "build",
            "--quiet",
            "--package",
            "flotilla",
            "--bin",
            "flotilla",
        ]);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building flotilla failed");
        profile_dir.join("flotilla")
    })
}

/// `target/<name>`: where the end-to-end tests install the clients they drive.
pub fn target_subdir(name: &str) -> PathBuf {
    flotilla_binary()
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in target/<profile>")
        .join(name)
}

/// Runs `command` to completion; panics unless it succeeds.
pub fn run_checked(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(status.success(), "{command:?} failed with {status}");
}

/// `target/<subdir>` with the npm packages locked in `sources/package-lock.json` installed by
/// `npm ci`, again only when the lock file changes. npm's cache stays inside that directory,
/// so nothing is left outside the checkout.
pub fn npm_packages(sources: &Path, subdir: &str) -> PathBuf {
    let dir = target_subdir(subdir);
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    let lock = std::fs::read_to_string(sources.join("package-lock.json"))
        .expect("the client's package-lock.json is committed");
    let stamp = dir.join("installed-package-lock.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&lock) {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(sources.join(file), dir.join(file)).expect("target/ is writable");
        }
        run_checked(
            Command::new("npm")
                .current_dir(&dir)
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .env("npm_config_cache", dir.join("npm-cache")),
        );
        std::fs::write(&stamp, lock).expect("target/ is writable");
    }
    dir
}

/// A Python virtual environment in `target/<subdir>` with `requirements` installed, again only
/// when that file changes; returns the environment's python. pip's cache stays inside it.
pub fn python_venv(requirements: &Path, subdir: &str) -> PathBuf {
    let venv = target_subdir(subdir);
    let python = venv.join("bin/python");
    if !python.exists() {
        run_checked(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    }
    let wanted = std::fs::read_to_string(requirements).expect("the requirements are committed");
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&wanted) {
        run_checked(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("-r")
                .arg(requirements)
                .env("PIP_CACHE_DIR", venv.join("pip-cache")),
        );
        std::fs::write(&stamp, wanted).expect("target/ is writable");
    }
    python
}

/// Whether the end-to-end tests with real clients should run: only with `FLOTILLA_E2E=1`, since
/// they install packages from a registry on first use. Says so when they are skipped.
pub fn e2e_requested(test: &str) -> bool {
    let requested = std::env::var("FLOTILLA_E2E").as_deref() == Ok("1");
    if !requested {
        eprintln!("skipped: set FLOTILLA_E2E=1 to run the end-to-end test {test}");
    }
    requested
}

/// Starts a fresh node, runs `client` with the node's URL as its last argument, and asserts
/// that the client exits with success and the node then shuts down cleanly. On failure the
/// client's output and the node's log are shown.
pub fn run_client_against_fresh_node(client: &mut Command) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let node = NodeProcess::start(&dir.path().join("node"));
    let output = client
        .arg(format!("http://{}", node.address))
        .output()
        .unwrap_or_else(|error| panic!("{client:?}: {error}"));
    let report = format!(
        "stdout:\n{}\nstderr:\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        node.log()
    );
    assert!(output.status.success(), "{report}");
    assert!(node.stop_with("TERM", Duration::from_secs(20)).success());
}

/// A loopback address with a port nobody listens on right now.
pub fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("the loopback interface has free ports")
}

/// A `flotilla` command with no `FLOTILLA_*` settings inherited from the caller's environment.
/// Its mesh stays on loopback: peers only on an ephemeral 127.0.0.1 port, no mDNS, so test
/// nodes meet only the peers a test names.
pub fn flotilla_command() -> Command {
    let mut command = Command::new(flotilla_binary());
    isolate_from_environment(&mut command);
    command
}

/// [`flotilla_command`] run inside the network namespace `netns` (through `ip netns exec`).
pub fn flotilla_command_in_netns(netns: &str) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", netns])
        .arg(flotilla_binary());
    isolate_from_environment(&mut command);
    command
}

fn isolate_from_environment(command: &mut Command) {
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOTILLA_") {
            command.env_remove(&name);
        }
    }
    command.env("RUST_LOG", "info");
    command.env("FLOTILLA_MDNS", "false");
    command.env("FLOTILLA_P2P_LISTEN", "/ip4/127.0.0.1/tcp/0");
}

/// A running `flotilla run`, killed if the test forgets to stop it.
pub struct NodeProcess {
    child: Child,
    pub address: SocketAddr,
    pub log_path: PathBuf,
}

impl NodeProcess {
    /// Starts a node on a free loopback port and waits until it answers.
    pub fn start(data_dir: &Path) -> NodeProcess {
        let address = free_address();
        let mut command = flotilla_command();
        command
            .arg("run")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(address.to_string());
        NodeProcess::spawn(command, address, &data_dir.with_extension("log"))
    }

    /// Runs `command` (a prepared `flotilla run`) that will listen on `address`, logging to
    /// `log_path`, and waits until it answers.
    pub fn spawn(command: Command, address: SocketAddr, log_path: &Path) -> NodeProcess {
        NodeProcess::spawn_until(command, address, log_path, |address| {
            http(address, "GET", "/_matrix/client/versions", None, None).is_ok()
        })
    }

    /// Like [`NodeProcess::spawn`], with the caller's test of whether the node answers (for a
    /// node in another network namespace).
    pub fn spawn_until(
        mut command: Command,
        address: SocketAddr,
        log_path: &Path,
        serving: impl FnMut(SocketAddr) -> bool,
    ) -> NodeProcess {
        let log = File::create(log_path).expect("the log file can be created");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("flotilla starts");
        let mut node = NodeProcess {
            child,
            address,
            log_path: log_path.to_path_buf(),
        };
        node.wait_until_serving(Duration::from_secs(60), serving);
        node
    }

    fn wait_until_serving(&mut self, limit: Duration, mut serving: impl FnMut(SocketAddr) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("flotilla exited with {status}:\n{}", self.log());
            }
            if serving(self.address) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("flotilla did not answer within {limit:?}:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM", "INT", "KILL") and waits for the process to exit.
    pub fn stop_with(mut self, signal: &str, limit: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "flotilla did not exit within {limit:?} of SIG{signal}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the node answered.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Value,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), with a JSON body.
pub fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response)
}

fn parse_response(response: &[u8]) -> std::io::Result<HttpResponse> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let text = std::str::from_utf8(response).map_err(|_| invalid("response is not UTF-8"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status code"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).map_err(|_| invalid("body is not JSON"))?
    };
    Ok(HttpResponse { status, body })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
