//! Flotilla's links: a libp2p swarm (TCP, Noise, Yamux) with mDNS discovery, static peers,
//! identify and ping, connection gating by allow and block lists, emission control, and the
//! sync stream (`dag::sync::PROTOCOL_NAME`) that carries the sync protocol's frames.
//!
//! [`start`] spawns the swarm on the tokio runtime and returns a [`Transport`]: a bounded stream
//! of [`LinkEvent`]s (a link came up with a sender for its frames, a frame arrived, a link went
//! down) and a bounded command channel for link control. The sync protocol itself lives in
//! `dag::sync`; this crate only moves its frames.
//!
//! Ordering: for each peer, `Up` is delivered before any `Frame` from it, and frames arrive in
//! the order the peer wrote them, which the protocol's per-link compression relies on.

mod frames;
pub mod identity;
pub mod mesh;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, identify, mdns, noise, ping, tcp,
    yamux,
};
use tokio::sync::{Mutex, mpsc, oneshot};

pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr as Address, PeerId as Peer};

/// The protocol that carries sync frames.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new(dag::sync::PROTOCOL_NAME);
/// Frames queued for one peer's stream before the sender waits.
const FRAMES_PER_PEER: usize = 32;
/// Link events queued for the node before the transport waits.
const EVENT_QUEUE: usize = 256;
const COMMAND_QUEUE: usize = 32;
/// Redial backoff: doubles from the first value up to the cap, so a peer that comes back is
/// reached again within half a minute.
const REDIAL_FIRST: Duration = Duration::from_secs(1);
const REDIAL_CAP: Duration = Duration::from_secs(30);
const REBUILD_RETRY: Duration = Duration::from_millis(500);
/// Attempts to open a link's sync stream, with a growing pause between them.
const OPEN_ATTEMPTS: u32 = 5;
const OPEN_RETRY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub listen: Vec<Multiaddr>,
    /// Peers to dial and keep dialing; each address ends in `/p2p/<peer id>`.
    pub static_peers: Vec<Multiaddr>,
    pub mdns: bool,
    /// When set, only these peers may connect at all.
    pub allow_peers: Option<BTreeSet<PeerId>>,
    /// Peers refused at connection time.
    pub blocked: BTreeSet<PeerId>,
    /// Ping interval: the only traffic on an idle link, so it is long by default.
    pub ping_interval: Duration,
    /// Largest frame accepted from a peer.
    pub max_frame_bytes: usize,
    /// Start under emission control: transmit nothing until `Command::Emcon(false)`.
    pub emcon: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            listen: Vec::new(),
            static_peers: Vec::new(),
            mdns: true,
            allow_peers: None,
            blocked: BTreeSet::new(),
            ping_interval: Duration::from_secs(3600),
            max_frame_bytes: 1 << 20,
            emcon: false,
        }
    }
}

#[derive(Debug)]
pub enum LinkEvent {
    /// A link is up; frames for the peer go into `frames`.
    Up {
        peer: PeerId,
        server_name: String,
        frames: mpsc::Sender<Vec<u8>>,
    },
    Frame {
        peer: PeerId,
        frame: Vec<u8>,
    },
    Down {
        peer: PeerId,
    },
    Listening {
        address: Multiaddr,
    },
}

#[derive(Debug)]
pub enum Command {
    Block(PeerId),
    Unblock(PeerId),
    /// Emission control: `true` closes every link and transmits nothing until `false`.
    Emcon(bool),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    /// Close the link to a peer that broke the protocol; it may reconnect.
    Disconnect(PeerId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    pub server_name: Option<String>,
    pub connected: bool,
    pub blocked: bool,
    pub address: Option<Multiaddr>,
    /// Sync frame bytes, without transport framing.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub last_seen_unix_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot build the libp2p transport: {0}")]
    Build(String),
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: Multiaddr, reason: String },
}

pub struct Transport {
    pub local_peer_id: PeerId,
    pub commands: mpsc::Sender<Command>,
    pub events: mpsc::Receiver<LinkEvent>,
}

/// Starts the swarm on the current tokio runtime.
pub fn start(keypair: Keypair, config: TransportConfig) -> Result<Transport, TransportError> {
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
    let local_peer_id = keypair.public().to_peer_id();
    let swarm = match config.emcon {
        true => None,
        false => Some(build_swarm(&keypair, &config)?),
    };
    let node = Node::new(keypair, config, event_tx, commands.clone());
    tokio::spawn(node.run(swarm, command_rx));
    Ok(Transport {
        local_peer_id,
        commands,
        events,
    })
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

fn build_swarm(
    keypair: &Keypair,
    config: &TransportConfig,
) -> Result<Swarm<Behaviour>, TransportError> {
    let build_error = |e: &dyn std::fmt::Display| TransportError::Build(e.to_string());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| build_error(&e))?
        .with_behaviour(|key| behaviour(key, config))
        .map_err(|e| build_error(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(u64::MAX / 4)))
        .build();
    for address in &config.listen {
        swarm
            .listen_on(address.clone())
            .map_err(|e| TransportError::Listen {
                address: address.clone(),
                reason: e.to_string(),
            })?;
    }
    Ok(swarm)
}

fn behaviour(
    key: &Keypair,
    config: &TransportConfig,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let allowed = config.allow_peers.as_ref().map(|peers| {
        let mut allowed = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
        for peer in peers {
            allowed.allow_peer(*peer);
        }
        allowed
    });
    let mut blocked = allow_block_list::Behaviour::<allow_block_list::BlockedPeers>::default();
    for peer in &config.blocked {
        blocked.block_peer(*peer);
    }
    let local = key.public().to_peer_id();
    let mdns = match config.mdns {
        true => Some(mdns::tokio::Behaviour::new(mdns::Config::default(), local)?),
        false => None,
    };
    Ok(Behaviour {
        allowed: allowed.into(),
        blocked,
        identify: identify::Behaviour::new(
            identify::Config::new("/flotilla/1".into(), key.public())
                .with_interval(IDENTIFY_INTERVAL),
        ),
        ping: ping::Behaviour::new(ping::Config::new().with_interval(config.ping_interval)),
        mdns: mdns.into(),
        stream: libp2p_stream::Behaviour::new(),
    })
}

/// Identify runs when a connection opens; libp2p's default repeats it every 5 minutes, which
/// alone cost an idle link ~8 B/s (a substream negotiation and ~300 bytes each way). Peers'
/// addresses are static or found by mDNS, so a rare refresh is enough.
const IDENTIFY_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

#[derive(Default, Clone)]
struct PeerRecord {
    address: Option<Multiaddr>,
    connected: bool,
    bytes_in: u64,
    bytes_out: u64,
    last_seen_unix_ms: Option<u64>,
}

/// State shared by the swarm loop and the per-stream tasks.
struct Shared {
    /// Peers whose `Up` was delivered, with the sender for their frames.
    links: BTreeMap<PeerId, mpsc::Sender<Vec<u8>>>,
    peers: BTreeMap<PeerId, PeerRecord>,
}

struct Node {
    keypair: Keypair,
    config: TransportConfig,
    events: mpsc::Sender<LinkEvent>,
    /// The transport's own command channel, for readers that must close a misbehaving link.
    commands: mpsc::Sender<Command>,
    shared: Arc<Mutex<Shared>>,
    /// Static peers by ID, with the next time to dial each and the current backoff.
    redial: BTreeMap<PeerId, (Multiaddr, tokio::time::Instant, Duration)>,
}

impl Node {
    fn new(
        keypair: Keypair,
        config: TransportConfig,
        events: mpsc::Sender<LinkEvent>,
        commands: mpsc::Sender<Command>,
    ) -> Node {
        let now = tokio::time::Instant::now();
        let redial = config
            .static_peers
            .iter()
            .filter_map(|address| {
                Some((
                    peer_of_address(address)?,
                    (address.clone(), now, REDIAL_FIRST),
                ))
            })
            .collect();
        let shared = Shared {
            links: BTreeMap::new(),
            peers: BTreeMap::new(),
        };
        Node {
            keypair,
            config,
            events,
            commands,
            shared: Arc::new(Mutex::new(shared)),
            redial,
        }
    }

    async fn run(
        mut self,
        mut swarm: Option<Swarm<Behaviour>>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let mut silent = swarm.is_none();
        loop {
            let Some(mut active) = swarm.take() else {
                if silent && !self.wait_for_emcon_off(&mut commands).await {
                    return;
                }
                silent = false;
                match build_swarm(&self.keypair, &self.config) {
                    Ok(rebuilt) => swarm = Some(rebuilt),
                    // The old swarm's listeners may still hold their ports for a moment.
                    Err(error) => {
                        tracing::warn!(%error, "cannot rebuild the swarm after emission control; retrying");
                        tokio::time::sleep(REBUILD_RETRY).await;
                    }
                }
                continue;
            };
            match self.drive(&mut active, &mut commands).await {
                Stop::Emcon => {
                    drop(active);
                    silent = true;
                    self.links_down().await;
                }
                Stop::Closed => return,
            }
        }
    }

    /// Runs the swarm until emission control is switched on or the node drops its handle.
    async fn drive(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Stop {
        let mut control = swarm.behaviour().stream.new_control();
        let incoming = match control.accept(SYNC_PROTOCOL) {
            Ok(incoming) => incoming,
            Err(error) => {
                tracing::error!(%error, "sync protocol already registered");
                return Stop::Closed;
            }
        };
        let readers = Readers {
            shared: Arc::clone(&self.shared),
            events: self.events.clone(),
            commands: self.commands.clone(),
            max_frame_bytes: self.config.max_frame_bytes,
        };
        let accept = tokio::spawn(accept_streams(incoming, readers, control.clone()));
        let mut redial_tick = tokio::time::interval(Duration::from_millis(500));
        let stop = loop {
            tokio::select! {
                event = swarm.select_next_some() => self.on_swarm_event(swarm, event, &control).await,
                command = commands.recv() => match command {
                    None => break Stop::Closed,
                    Some(Command::Emcon(true)) => break Stop::Emcon,
                    Some(command) => self.on_command(swarm, command).await,
                },
                _ = redial_tick.tick() => self.redial_due(swarm),
            }
        };
        accept.abort();
        stop
    }

    async fn wait_for_emcon_off(&mut self, commands: &mut mpsc::Receiver<Command>) -> bool {
        while let Some(command) = commands.recv().await {
            match command {
                Command::Emcon(false) => return true,
                Command::Emcon(true) => {}
                Command::Block(peer) => {
                    self.config.blocked.insert(peer);
                }
                Command::Unblock(peer) => {
                    self.config.blocked.remove(&peer);
                }
                Command::Peers(reply) => {
                    let _ = reply.send(self.peer_infos().await);
                }
                Command::Disconnect(_) => {}
            }
        }
        false
    }

    async fn on_swarm_event(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        event: SwarmEvent<BehaviourEvent>,
        control: &libp2p_stream::Control,
    ) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening for peers");
                let _ = self.events.send(LinkEvent::Listening { address }).await;
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                self.backoff_reset(&peer_id);
                let address = endpoint.get_remote_address().clone();
                self.update_peer(&peer_id, |record| {
                    record.connected = true;
                    record.address = Some(address);
                    record.last_seen_unix_ms = Some(unix_ms());
                })
                .await;
                if num_established.get() == 1 {
                    link_up(&self.shared, &self.events, peer_id, control.clone()).await;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                tracing::info!(peer = %peer_id, cause = ?cause, "link down");
                self.update_peer(&peer_id, |record| record.connected = false)
                    .await;
                if self.shared.lock().await.links.remove(&peer_id).is_some() {
                    let _ = self.events.send(LinkEvent::Down { peer: peer_id }).await;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, address) in found {
                    if !swarm.is_connected(&peer) && !self.config.blocked.contains(&peer) {
                        tracing::debug!(%peer, %address, "discovered by mDNS");
                        let _ = swarm.dial(address.with_p2p(peer).unwrap_or_else(|a| a));
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "dial failed");
            }
            _ => {}
        }
    }

    async fn on_command(&mut self, swarm: &mut Swarm<Behaviour>, command: Command) {
        match command {
            Command::Block(peer) => {
                self.config.blocked.insert(peer);
                swarm.behaviour_mut().blocked.block_peer(peer);
            }
            Command::Unblock(peer) => {
                self.config.blocked.remove(&peer);
                swarm.behaviour_mut().blocked.unblock_peer(peer);
                self.backoff_reset(&peer);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_infos().await);
            }
            Command::Disconnect(peer) => {
                let _ = swarm.disconnect_peer_id(peer);
            }
            Command::Emcon(_) => {}
        }
    }

    fn redial_due(&mut self, swarm: &mut Swarm<Behaviour>) {
        let now = tokio::time::Instant::now();
        for (peer, (address, due, backoff)) in self.redial.iter_mut() {
            if *due > now || swarm.is_connected(peer) || self.config.blocked.contains(peer) {
                continue;
            }
            if let Err(error) = swarm.dial(address.clone()) {
                tracing::debug!(%peer, ?error, "cannot dial a static peer");
            }
            *due = now + *backoff;
            *backoff = (*backoff * 2).min(REDIAL_CAP);
        }
    }

    fn backoff_reset(&mut self, peer: &PeerId) {
        if let Some((_, due, backoff)) = self.redial.get_mut(peer) {
            *due = tokio::time::Instant::now();
            *backoff = REDIAL_FIRST;
        }
    }

    async fn update_peer(&self, peer: &PeerId, change: impl FnOnce(&mut PeerRecord)) {
        change(self.shared.lock().await.peers.entry(*peer).or_default());
    }

    async fn links_down(&mut self) {
        let mut shared = self.shared.lock().await;
        let peers: Vec<PeerId> = std::mem::take(&mut shared.links).into_keys().collect();
        for record in shared.peers.values_mut() {
            record.connected = false;
        }
        drop(shared);
        for peer in peers {
            let _ = self.events.send(LinkEvent::Down { peer }).await;
        }
    }

    async fn peer_infos(&self) -> Vec<PeerInfo> {
        let shared = self.shared.lock().await;
        let known: BTreeSet<PeerId> = shared
            .peers
            .keys()
            .chain(self.redial.keys())
            .chain(&self.config.blocked)
            .copied()
            .collect();
        known
            .into_iter()
            .map(|peer| {
                let record = shared.peers.get(&peer).cloned().unwrap_or_default();
                let static_address = self.redial.get(&peer).map(|(address, ..)| address.clone());
                PeerInfo {
                    peer_id: peer,
                    server_name: identity::server_name_of(&peer),
                    connected: record.connected,
                    blocked: self.config.blocked.contains(&peer),
                    address: record.address.or(static_address),
                    bytes_in: record.bytes_in,
                    bytes_out: record.bytes_out,
                    last_seen_unix_ms: record.last_seen_unix_ms,
                }
            })
            .collect()
    }
}

enum Stop {
    Emcon,
    Closed,
}

/// Registers the link and announces it, unless a reader already did: whichever comes first
/// sends `Up`, under the lock, so `Up` always precedes the peer's first frame.
async fn link_up(
    shared: &Arc<Mutex<Shared>>,
    events: &mpsc::Sender<LinkEvent>,
    peer: PeerId,
    control: libp2p_stream::Control,
) {
    let mut guard = shared.lock().await;
    if guard.links.contains_key(&peer) {
        return;
    }
    let Some(server_name) = identity::server_name_of(&peer) else {
        tracing::warn!(%peer, "peer has no ed25519 identity; ignoring it");
        return;
    };
    let (frames, outgoing) = mpsc::channel(FRAMES_PER_PEER);
    guard.links.insert(peer, frames.clone());
    let _ = events
        .send(LinkEvent::Up {
            peer,
            server_name,
            frames,
        })
        .await;
    drop(guard);
    tokio::spawn(write_frames(Arc::clone(shared), peer, control, outgoing));
}

/// Opens this side's stream to the peer and writes the node's frames to it in order.
/// Opens this side's sync stream. Right after a reconnection the stream may land on the old
/// connection as it closes, so a failed attempt is retried a few times before giving up.
async fn open_sync_stream(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
) -> Option<libp2p::Stream> {
    for attempt in 1..=OPEN_ATTEMPTS {
        match control.open_stream(peer, SYNC_PROTOCOL).await {
            Ok(stream) => return Some(stream),
            Err(error) if attempt == OPEN_ATTEMPTS => {
                tracing::warn!(%peer, %error, "cannot open the sync stream");
            }
            Err(error) => {
                tracing::debug!(%peer, %error, attempt, "cannot open the sync stream yet");
                tokio::time::sleep(OPEN_RETRY * attempt).await;
            }
        }
    }
    None
}

async fn write_frames(
    shared: Arc<Mutex<Shared>>,
    peer: PeerId,
    mut control: libp2p_stream::Control,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let Some(mut stream) = open_sync_stream(&mut control, peer).await else {
        return;
    };
    while let Some(frame) = outgoing.recv().await {
        if let Err(error) = frames::write_frame(&mut stream, &frame).await {
            tracing::debug!(%peer, %error, "sync stream closed while writing");
            return;
        }
        let mut guard = shared.lock().await;
        let record = guard.peers.entry(peer).or_default();
        record.bytes_out += frame.len() as u64;
    }
}

/// What every stream reader needs.
#[derive(Clone)]
struct Readers {
    shared: Arc<Mutex<Shared>>,
    events: mpsc::Sender<LinkEvent>,
    commands: mpsc::Sender<Command>,
    max_frame_bytes: usize,
}

async fn accept_streams(
    mut incoming: libp2p_stream::IncomingStreams,
    readers: Readers,
    control: libp2p_stream::Control,
) {
    while let Some((peer, stream)) = incoming.next().await {
        link_up(&readers.shared, &readers.events, peer, control.clone()).await;
        tokio::spawn(read_frames(readers.clone(), peer, stream));
    }
}

/// Reads the peer's frames and hands them to the node. An oversized or malformed frame closes
/// the link (the peer may reconnect and start afresh); it never ends the process.
async fn read_frames(readers: Readers, peer: PeerId, mut stream: libp2p::Stream) {
    loop {
        let frame = match frames::read_frame(&mut stream, readers.max_frame_bytes).await {
            Ok(frame) => frame,
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                tracing::warn!(%peer, %error, "closing a link that sent a bad frame");
                let _ = readers.commands.send(Command::Disconnect(peer)).await;
                return;
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "sync stream ended");
                return;
            }
        };
        let mut guard = readers.shared.lock().await;
        if !guard.links.contains_key(&peer) {
            tracing::debug!(%peer, "frame after the link went down; dropping the stream");
            return;
        }
        let record = guard.peers.entry(peer).or_default();
        record.bytes_in += frame.len() as u64;
        record.last_seen_unix_ms = Some(unix_ms());
        drop(guard);
        if readers
            .events
            .send(LinkEvent::Frame { peer, frame })
            .await
            .is_err()
        {
            return;
        }
    }
}

fn peer_of_address(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|protocol| match protocol {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
