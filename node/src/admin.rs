//! The local admin endpoint: a Unix socket in the data directory, readable and writable by the
//! node's owner only, through which `flotilla peers`, `flotilla link …` and `flotilla emcon …`
//! control a running node.
//!
//! Protocol: one JSON request per line, one JSON response per line.
//! `{"command":"peers"}` → `{"peers":[…]}`; `{"command":"block","peer":"12D3…"}`,
//! `{"command":"unblock","peer":"12D3…"}`, `{"command":"emcon","on":true}` → `{"ok":true}`;
//! any failure → `{"error":"…"}`. Blocked peers and emission control are also written to the
//! data directory, so they survive a restart.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use transport::{Command, Peer, PeerInfo};

pub const SOCKET_FILE_NAME: &str = "admin.sock";
const BLOCKED_FILE_NAME: &str = "blocked-peers";
const EMCON_FILE_NAME: &str = "emcon";
/// One admin connection may send at most this much; real requests are under 200 bytes.
const MAX_REQUEST_BYTES: u64 = 4096;

/// Link-control settings kept in the data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub blocked: BTreeSet<Peer>,
    pub emcon: bool,
}

impl LinkState {
    /// Reads the saved state; lines that are not peer IDs are skipped with a warning.
    pub fn load(data_dir: &Path) -> io::Result<LinkState> {
        let blocked = match std::fs::read_to_string(data_dir.join(BLOCKED_FILE_NAME)) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .filter_map(parse_saved_peer)
                .collect(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(error) => return Err(error),
        };
        let emcon = data_dir.join(EMCON_FILE_NAME).exists();
        Ok(LinkState { blocked, emcon })
    }

    fn save(&self, data_dir: &Path) -> io::Result<()> {
        let text: String = self
            .blocked
            .iter()
            .map(|peer| format!("{peer}\n"))
            .collect();
        let temporary = data_dir.join(format!("{BLOCKED_FILE_NAME}.tmp"));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, data_dir.join(BLOCKED_FILE_NAME))?;
        let emcon_file = data_dir.join(EMCON_FILE_NAME);
        match self.emcon {
            true => std::fs::write(emcon_file, "on\n"),
            false => match std::fs::remove_file(emcon_file) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            },
        }
    }
}

fn parse_saved_peer(line: &str) -> Option<Peer> {
    match line.parse() {
        Ok(peer) => Some(peer),
        Err(_) => {
            tracing::warn!(
                line,
                "ignoring a line of blocked-peers that is not a peer ID"
            );
            None
        }
    }
}

/// Serves the admin socket until the task is dropped.
pub struct AdminServer {
    data_dir: PathBuf,
    commands: mpsc::Sender<Command>,
    state: LinkState,
}

impl AdminServer {
    pub fn new(
        data_dir: PathBuf,
        commands: mpsc::Sender<Command>,
        state: LinkState,
    ) -> AdminServer {
        AdminServer {
            data_dir,
            commands,
            state,
        }
    }

    /// Binds the socket with owner-only permissions, replacing a stale one.
    pub fn bind(data_dir: &Path) -> io::Result<UnixListener> {
        let path = data_dir.join(SOCKET_FILE_NAME);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    }

    pub async fn serve(mut self, listener: UnixListener) {
        while let Ok((stream, _)) = listener.accept().await {
            if let Err(error) = self.session(stream).await {
                tracing::debug!(%error, "admin connection ended");
            }
        }
    }

    async fn session(&mut self, stream: UnixStream) -> io::Result<()> {
        let (reader, mut writer) = stream.into_split();
        let mut lines = BufReader::new(reader.take(MAX_REQUEST_BYTES)).lines();
        while let Some(line) = lines.next_line().await? {
            let response = match serde_json::from_str::<Value>(&line) {
                Ok(request) => self.handle(&request).await,
                Err(error) => json!({"error": format!("not JSON: {error}")}),
            };
            writer.write_all(format!("{response}\n").as_bytes()).await?;
        }
        Ok(())
    }

    async fn handle(&mut self, request: &Value) -> Value {
        let peer = || -> Result<Peer, String> {
            let text = request
                .get("peer")
                .and_then(Value::as_str)
                .ok_or("missing \"peer\"")?;
            text.parse()
                .map_err(|_| format!("{text:?} is not a peer ID"))
        };
        let result = match request.get("command").and_then(Value::as_str) {
            Some("peers") => return self.peers().await,
            Some("block") => match peer() {
                Ok(peer) => {
                    self.change(|state| state.blocked.insert(peer), Command::Block(peer))
                        .await
                }
                Err(error) => Err(error),
            },
            Some("unblock") => match peer() {
                Ok(peer) => {
                    self.change(|state| state.blocked.remove(&peer), Command::Unblock(peer))
                        .await
                }
                Err(error) => Err(error),
            },
            Some("emcon") => match request.get("on").and_then(Value::as_bool) {
                Some(on) => {
                    self.change(
                        |state| std::mem::replace(&mut state.emcon, on) != on,
                        Command::Emcon(on),
                    )
                    .await
                }
                None => Err("missing boolean \"on\"".into()),
            },
            _ => Err("unknown command; expected peers, block, unblock or emcon".into()),
        };
        match result {
            Ok(()) => json!({"ok": true}),
            Err(error) => json!({"error": error}),
        }
    }

    /// Saves the new state first, so a change that was acknowledged survives a restart.
    async fn change(
        &mut self,
        apply: impl FnOnce(&mut LinkState) -> bool,
        command: Command,
    ) -> Result<(), String> {
        apply(&mut self.state);
        self.state
            .save(&self.data_dir)
            .map_err(|error| format!("cannot save link state: {error}"))?;
        self.commands
            .send(command)
            .await
            .map_err(|_| "the transport has stopped".to_owned())
    }

    async fn peers(&self) -> Value {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Peers(reply)).await.is_err() {
            return json!({"error": "the transport has stopped"});
        }
        match answer.await {
            Ok(peers) => {
                json!({"emcon": self.state.emcon, "peers": peers.iter().map(peer_json).collect::<Vec<_>>()})
            }
            Err(_) => json!({"error": "the transport has stopped"}),
        }
    }
}

fn peer_json(peer: &PeerInfo) -> Value {
    json!({
        "peer_id": peer.peer_id.to_string(),
        "server_name": peer.server_name,
        "connected": peer.connected,
        "blocked": peer.blocked,
        "address": peer.address.as_ref().map(ToString::to_string),
        "bytes_in": peer.bytes_in,
        "bytes_out": peer.bytes_out,
        "last_seen_unix_ms": peer.last_seen_unix_ms,
    })
}

/// Sends one request to a running node's admin socket and returns its response.
pub async fn request(data_dir: &Path, request: &Value) -> io::Result<Value> {
    let path = data_dir.join(SOCKET_FILE_NAME);
    let stream = UnixStream::connect(&path).await.map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot reach a running node at {}: {error}", path.display()),
        )
    })?;
    let (reader, mut writer) = stream.into_split();
    writer.write_all(format!("{request}\n").as_bytes()).await?;
    let mut lines = BufReader::new(reader).lines();
    let line = lines.next_line().await?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the node closed the admin socket",
        )
    })?;
    serde_json::from_str(&line).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}
