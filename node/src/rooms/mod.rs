//! The room service: local events built, checked and stored through `dag::room`, events from
//! peers stored through the same path, and the notifications /sync and the mesh wait on.
//!
//! # The hook for the mesh
//!
//! [`RoomService`] is in `AppState::rooms` (cheap to clone). The mesh driver uses:
//! - [`RoomService::receive_from_peer`]`(json)`: runs `dag::room::receive` on the database
//!   thread against the node's [`SqliteRoomStore`]; when it returns `Ok(Ok(Received::Stored
//!   {..}))` the event is committed. Long-polling /sync requests wake.
//! - [`RoomService::with_room_store`]`(origin, |store| ..)`: any other work on the store (the
//!   sync state machine's reads, several received events in one job). Events committed inside
//!   are announced like any others. [`RoomService::in_one_transaction`] does the same with one
//!   transaction (one fsync) for the whole job: the way to ingest a backlog.
//! - [`RoomService::subscribe`]: a `tokio::sync::broadcast::Receiver<StoredEventNotice>` of every
//!   event stored from now on, each tagged [`EventOrigin::Local`] (made by a client of this node:
//!   push it to peers) or [`EventOrigin::Peer`]. The channel holds [`NOTICE_CAPACITY`] notices;
//!   a receiver that falls further behind gets `RecvError::Lagged` and should reconcile from
//!   the rooms' heads instead.
//! - [`RoomService::notify_changed`]: wakes /sync after a write that did not go through here.
//!
//! `crate::mesh` implements `transport::mesh::RoomsAccess` for `RoomService` on top of
//! [`RoomService::in_one_transaction`] and forwards the `Local` notices to the protocol.

pub mod aliases;
pub mod client_event;
pub mod create;
pub mod device_lists;
pub mod members;
pub mod notifications;
pub mod power;
pub mod presence;
pub mod sync;
pub mod timeline;
pub mod typing;
pub mod visibility;

mod send;

use std::sync::{Arc, Mutex};

use dag::canonical_json::Object;
use dag::room::{self, NewEvent, ReceiveError, Received, SendError};
use dag::signing::ServerKey;
use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::api::MatrixError;
use crate::store::rooms::{CommittedEvent, LocalOrigin, RoomCache, SqliteRoomStore};
use crate::store::{Store, StoreError};
use dag::room::EventStatus;

/// Notices of stored events a slow subscriber may fall behind by before it lags.
pub const NOTICE_CAPACITY: usize = 4_096;

/// Where a stored event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOrigin {
    /// Built for a client of this node.
    Local,
    /// Received from another node.
    Peer,
}

/// An event that is now durable in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEventNotice {
    pub event_id: String,
    pub room_id: String,
    /// Its position in the `events` stream.
    pub stream_pos: i64,
    pub status: EventStatus,
    pub origin: EventOrigin,
}

/// What the service and its send batcher share.
struct Shared {
    store: Store,
    cache: Arc<Mutex<RoomCache>>,
    key: Arc<ServerKey>,
    changes: watch::Sender<u64>,
    stored: broadcast::Sender<StoredEventNotice>,
}

#[derive(Clone)]
pub struct RoomService {
    shared: Arc<Shared>,
    /// Local events waiting for the batcher; closes when the last service handle is dropped,
    /// which ends the batcher and releases its store handle.
    sends: mpsc::Sender<send::SendJob>,
    pub typing: Arc<typing::Typing>,
    pub presence: Arc<presence::Presence>,
}

impl RoomService {
    /// Must be called within a tokio runtime: it starts the task that commits local events in
    /// batches.
    pub fn new(store: Store, key: ServerKey) -> RoomService {
        let shared = Arc::new(Shared {
            store,
            cache: Arc::default(),
            key: Arc::new(key),
            changes: watch::Sender::new(0),
            stored: broadcast::Sender::new(NOTICE_CAPACITY),
        });
        let (sends, queue) = mpsc::channel(send::SEND_QUEUE);
        tokio::spawn(send::run_batches(Arc::clone(&shared), queue));
        RoomService {
            shared,
            sends,
            typing: Arc::default(),
            presence: Arc::default(),
        }
    }

    pub fn server_name(&self) -> &str {
        self.shared.key.server_name()
    }

    pub fn key(&self) -> &Arc<ServerKey> {
        &self.shared.key
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Every event stored from now on (see the module documentation).
    pub fn subscribe(&self) -> broadcast::Receiver<StoredEventNotice> {
        self.shared.stored.subscribe()
    }

    /// A receiver that sees a change whenever something a /sync may return changed.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    pub fn notify_changed(&self) {
        self.shared.notify_changed();
    }

    /// Stores an event from a peer; see the module documentation.
    pub async fn receive_from_peer(
        &self,
        json: Object,
    ) -> Result<Result<Received, ReceiveError>, StoreError> {
        self.with_room_store(EventOrigin::Peer, move |store| room::receive(store, json))
            .await
    }

    /// Runs `work` on the database thread with the node's room store, then announces the
    /// events it committed. Each commit is its own transaction. A storage error inside `work`
    /// is returned after the events committed before it are announced.
    pub async fn with_room_store<T, F>(&self, origin: EventOrigin, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteRoomStore) -> T + Send + 'static,
    {
        self.shared.with_room_store(origin, false, work).await
    }

    /// Like [`RoomService::with_room_store`], but everything `work` commits is made durable
    /// together by one transaction (one fsync): for a backlog of events from a peer. If that
    /// transaction fails, nothing `work` committed is stored and the error is returned.
    pub async fn in_one_transaction<T, F>(
        &self,
        origin: EventOrigin,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteRoomStore) -> T + Send + 'static,
    {
        self.shared.with_room_store(origin, true, work).await
    }

    /// Builds, checks and stores a local event; returns its ID once it is durable. With an
    /// `origin`, a repeated transaction ID returns the first event's ID instead. Concurrent
    /// sends are committed together (group commit).
    pub async fn send(
        &self,
        room_id: String,
        new: NewEvent,
        origin: Option<LocalOrigin>,
    ) -> Result<String, MatrixError> {
        let (reply, result) = oneshot::channel();
        let job = send::SendJob {
            room_id,
            new,
            origin,
            reply,
        };
        let closed = || MatrixError::from(StoreError::Closed);
        self.sends.send(job).await.map_err(|_| closed())?;
        result.await.map_err(|_| closed())?
    }
}

impl Shared {
    fn notify_changed(&self) {
        self.changes
            .send_modify(|counter| *counter = counter.wrapping_add(1));
    }

    async fn with_room_store<T, F>(
        &self,
        origin: EventOrigin,
        one_transaction: bool,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteRoomStore) -> T + Send + 'static,
    {
        let cache = Arc::clone(&self.cache);
        let (value, committed, failure) = self
            .store
            .call(move |connection| {
                let mut cache = lock_cache(&cache);
                match one_transaction {
                    false => Ok(run_with_store(connection, &mut cache, work)),
                    true => run_in_one_transaction(connection, &mut cache, work),
                }
            })
            .await?;
        self.announce(committed, origin);
        match failure {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    fn announce(&self, committed: Vec<CommittedEvent>, origin: EventOrigin) {
        if committed.is_empty() {
            return;
        }
        for event in committed {
            // No subscriber is not an error: the mesh may not be running.
            let _ = self.stored.send(StoredEventNotice {
                event_id: event.event_id,
                room_id: event.room_id,
                stream_pos: event.stream_pos,
                status: event.status,
                origin,
            });
        }
        self.notify_changed();
    }
}

type StoreOutcome<T> = (T, Vec<CommittedEvent>, Option<StoreError>);

fn run_with_store<T>(
    connection: &mut Connection,
    cache: &mut RoomCache,
    work: impl FnOnce(&mut SqliteRoomStore) -> T,
) -> StoreOutcome<T> {
    let mut store = SqliteRoomStore::new(connection, cache);
    let value = work(&mut store);
    let (committed, failure) = store.finish();
    (value, committed, failure)
}

/// Runs `work` inside one transaction: committed only if every write succeeded. On failure
/// (or a panic in `work`) everything rolls back and the cache, which may hold rolled-back
/// events, is emptied.
fn run_in_one_transaction<T>(
    connection: &mut Connection,
    cache: &mut RoomCache,
    work: impl FnOnce(&mut SqliteRoomStore) -> T,
) -> Result<StoreOutcome<T>, StoreError> {
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_with_store(connection, cache, work)
    }));
    let failure = match &outcome {
        Ok((_, _, None)) => connection
            .execute_batch("COMMIT")
            .err()
            .map(StoreError::from),
        Ok((_, _, Some(_))) | Err(_) => None,
    };
    match (outcome, failure) {
        (Ok((value, committed, None)), None) => Ok((value, committed, None)),
        (outcome, commit_failure) => {
            if let Err(error) = connection.execute_batch("ROLLBACK") {
                tracing::error!(%error, "rolling back a failed batch");
            }
            *cache = RoomCache::default();
            match (outcome, commit_failure) {
                (Err(panic), _) => std::panic::resume_unwind(panic),
                (Ok((value, _, failure)), commit_failure) => {
                    Ok((value, Vec::new(), failure.or(commit_failure)))
                }
            }
        }
    }
}

fn previous_transaction(
    store: &SqliteRoomStore,
    origin: &LocalOrigin,
) -> Result<Option<String>, MatrixError> {
    use rusqlite::OptionalExtension;
    let found: Option<Option<String>> = store
        .connection()
        .query_row(
            "SELECT result FROM transaction_ids
             WHERE user_id = ?1 AND device_id = ?2 AND scope = ?3 AND txn_id = ?4",
            [
                &origin.user_id,
                &origin.device_id,
                &origin.scope,
                &origin.txn_id,
            ],
            |row| row.get(0),
        )
        .optional()
        .map_err(|error| MatrixError::from(StoreError::from(error)))?;
    Ok(found.flatten())
}

/// The Matrix error for a local event the room logic refused.
pub fn send_error(error: SendError) -> MatrixError {
    match error {
        SendError::UnknownRoom(_) => MatrixError::not_found("Unknown room"),
        SendError::Forbidden(reason) => MatrixError::forbidden(reason.to_string()),
        SendError::Build(dag::pdu::PduError::TooLarge(_)) => {
            MatrixError::too_large(dag::pdu::MAX_PDU_BYTES)
        }
        SendError::Build(reason) => MatrixError::bad_json(format!("Invalid event: {reason}")),
        other => MatrixError::internal(other),
    }
}

/// The cache, emptied if a panicking job may have left it half-updated.
fn lock_cache(cache: &Mutex<RoomCache>) -> std::sync::MutexGuard<'_, RoomCache> {
    cache.lock().unwrap_or_else(|poisoned| {
        cache.clear_poison();
        let mut guard = poisoned.into_inner();
        *guard = RoomCache::default();
        guard
    })
}

#[cfg(test)]
mod tests;
