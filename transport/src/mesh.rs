//! The adapter between the libp2p links and the sans-IO sync protocol: one task that owns the
//! node's [`dag::sync::Sync`], feeds it link events, local events and timer ticks, and moves the
//! frames it produces onto the links.
//!
//! The room store is reached through [`RoomsAccess`], which runs a closure on whatever thread
//! owns the store (the node's SQLite thread, or a mutex in tests). The protocol state moves
//! into that closure and back, so one call does all the store work of one input, including
//! pulling the frames that the links have room for.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use dag::room::RoomStore;
use dag::sync::{PeerId, Sync, SyncEvent};
use libp2p::PeerId as LibPeerId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::{Command, LinkEvent, Transport, identity};

/// How often frames that found a link's queue full are offered again.
const RETRY_FULL_LINKS: Duration = Duration::from_millis(50);
/// Frames pulled for one link in one pass; the link's own queue bounds the rest.
const FRAMES_PER_PASS: usize = 32;

/// Runs work against the room store on the thread that owns it.
pub trait RoomsAccess: Send + 'static {
    type Store<'a>: RoomStore;

    /// Runs `work` with the store; `None` if the store is gone (the node is shutting down).
    fn run<T, F>(&self, work: F) -> impl Future<Output = Option<T>> + Send
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut Self::Store<'a>) -> T + Send + 'static;
}

/// In-memory rooms behind a mutex: the mesh without a database, for the simulator's fidelity
/// check, tests and tools.
#[derive(Clone, Default)]
pub struct MemoryRooms(pub std::sync::Arc<std::sync::Mutex<dag::room::MemoryStore>>);

impl RoomsAccess for MemoryRooms {
    type Store<'a> = dag::room::MemoryStore;

    fn run<T, F>(&self, work: F) -> impl Future<Output = Option<T>> + Send
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut dag::room::MemoryStore) -> T + Send + 'static,
    {
        let rooms = std::sync::Arc::clone(&self.0);
        async move { rooms.lock().ok().map(|mut store| work(&mut store)) }
    }
}

/// What the mesh tells the node.
#[derive(Debug, Clone, PartialEq)]
pub enum MeshEvent {
    /// Events from peers were stored: wake clients waiting in `/sync`.
    Stored { room_id: String, event_id: String },
}

/// Inputs the node gives the mesh.
pub struct MeshInputs {
    /// IDs of events stored locally (sent by local users), to be pushed to peers.
    pub local_events: mpsc::Receiver<String>,
    /// Where to report events stored from peers, if the store does not announce them itself.
    pub notify: Option<mpsc::Sender<MeshEvent>>,
}

struct Driver<R: RoomsAccess> {
    rooms: R,
    sync: Option<Sync>,
    links: BTreeMap<PeerId, (LibPeerId, mpsc::Sender<Vec<u8>>)>,
    commands: mpsc::Sender<Command>,
    notify: Option<mpsc::Sender<MeshEvent>>,
    started: Instant,
}

/// Drives the sync protocol over the transport until the transport or the store goes away.
pub async fn run<R: RoomsAccess>(rooms: R, sync: Sync, transport: Transport, inputs: MeshInputs) {
    let Transport {
        commands,
        mut events,
        ..
    } = transport;
    let MeshInputs {
        mut local_events,
        notify,
    } = inputs;
    let mut driver = Driver {
        rooms,
        sync: Some(sync),
        links: BTreeMap::new(),
        commands,
        notify,
        started: Instant::now(),
    };
    let mut local_open = true;
    loop {
        let wake = driver.next_wakeup();
        let step = tokio::select! {
            event = events.recv() => match event {
                Some(event) => driver.on_link_event(event).await,
                None => return,
            },
            id = local_events.recv(), if local_open => match id {
                Some(id) => driver.on_local_event(id).await,
                None => {
                    local_open = false;
                    true
                }
            },
            _ = tokio::time::sleep_until(wake) => driver.on_tick().await,
        };
        if !step {
            return;
        }
    }
}

impl<R: RoomsAccess> Driver<R> {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn next_wakeup(&self) -> Instant {
        let sync_wakeup = self.sync.as_ref().and_then(Sync::next_wakeup);
        let blocked = self.links.iter().any(|(peer, (_, sender))| {
            sender.capacity() == 0
                && self
                    .sync
                    .as_ref()
                    .is_some_and(|s| s.wants_to_transmit(peer))
        });
        let retry = blocked.then(|| self.now() + RETRY_FULL_LINKS.as_millis() as u64);
        let at = sync_wakeup
            .into_iter()
            .chain(retry)
            .min()
            .unwrap_or(self.now() + 60_000);
        self.started + Duration::from_millis(at)
    }

    async fn on_link_event(&mut self, event: LinkEvent) -> bool {
        match event {
            LinkEvent::Up {
                peer,
                server_name,
                frames,
            } => {
                self.links.insert(server_name.clone(), (peer, frames));
                let now = self.now();
                self.step(move |sync, store| {
                    if let Err(error) = sync.peer_connected(store, &server_name, now) {
                        tracing::error!(%error, "cannot set up a link's compression");
                    }
                })
                .await
            }
            LinkEvent::Frame { peer, frame } => {
                let Some(server_name) = identity::server_name_of(&peer) else {
                    return true;
                };
                let now = self.now();
                self.step(move |sync, store| sync.frame_received(store, &server_name, &frame, now))
                    .await
            }
            LinkEvent::Down { peer } => {
                let Some(server_name) = identity::server_name_of(&peer) else {
                    return true;
                };
                self.links.remove(&server_name);
                if let Some(sync) = self.sync.as_mut() {
                    sync.peer_disconnected(&server_name);
                }
                true
            }
            LinkEvent::Listening { .. } => true,
        }
    }

    async fn on_local_event(&mut self, event_id: String) -> bool {
        let now = self.now();
        self.step(move |sync, _| sync.event_stored(&event_id, now))
            .await
    }

    async fn on_tick(&mut self) -> bool {
        let now = self.now();
        self.step(move |sync, store| sync.tick(store, now)).await
    }

    /// Runs one input against the protocol on the store's thread, pulls the frames the links
    /// have room for, then delivers frames and notifications.
    async fn step<F>(&mut self, input: F) -> bool
    where
        F: for<'a> FnOnce(&mut Sync, &mut R::Store<'a>) + Send + 'static,
    {
        let Some(mut sync) = self.sync.take() else {
            return false;
        };
        let room: Vec<(PeerId, usize)> = self
            .links
            .iter()
            .map(|(peer, (_, sender))| (peer.clone(), sender.capacity().min(FRAMES_PER_PASS)))
            .collect();
        let outcome = self
            .rooms
            .run(move |store| {
                input(&mut sync, store);
                let frames = pull_frames(&mut sync, &*store, &room);
                let events: Vec<SyncEvent> = std::iter::from_fn(|| sync.poll_event()).collect();
                (sync, frames, events)
            })
            .await;
        let Some((sync, frames, events)) = outcome else {
            return false;
        };
        self.sync = Some(sync);
        self.deliver(frames, events).await;
        true
    }

    async fn deliver(&mut self, frames: Vec<(PeerId, Vec<u8>)>, events: Vec<SyncEvent>) {
        for (peer, frame) in frames {
            if let Some((_, sender)) = self.links.get(&peer) {
                // The frame was pulled only because the queue had room for it.
                let _ = sender.try_send(frame);
            }
        }
        for event in events {
            match event {
                SyncEvent::Stored {
                    room_id, event_id, ..
                } => {
                    if let Some(notify) = &self.notify {
                        let _ = notify.send(MeshEvent::Stored { room_id, event_id }).await;
                    }
                }
                SyncEvent::Disconnect { peer, reason } => {
                    tracing::warn!(%peer, %reason, "closing a link that broke the protocol");
                    if let Some((lib_peer, _)) = self.links.remove(&peer) {
                        let _ = self.commands.send(Command::Disconnect(lib_peer)).await;
                    }
                }
            }
        }
    }
}

fn pull_frames(
    sync: &mut Sync,
    store: &impl RoomStore,
    room: &[(PeerId, usize)],
) -> Vec<(PeerId, Vec<u8>)> {
    let mut frames = Vec::new();
    for (peer, free) in room {
        for _ in 0..*free {
            match sync.poll_transmit(store, peer) {
                Some(frame) => frames.push((peer.clone(), frame)),
                None => break,
            }
        }
    }
    frames
}
