//! Group commit of local events. Clients' sends queue here; one task takes every send waiting
//! (up to [`MAX_BATCH`]) and runs them in one database job inside one transaction, so a burst
//! of concurrent sends costs one fsync instead of one each. Each event is still built, checked
//! and committed (as a savepoint) one after the other, exactly as alone; a reply goes out only
//! once the enclosing transaction is durable.

use std::sync::Arc;

use axum::http::StatusCode;
use dag::room::{self, NewEvent};
use dag::signing::ServerKey;
use tokio::sync::{mpsc, oneshot};

use super::{EventOrigin, Shared, previous_transaction, send_error};
use crate::api::MatrixError;
use crate::store::now_ms;
use crate::store::rooms::{LocalOrigin, SqliteRoomStore};

/// Sends waiting for the batcher; beyond this, callers wait for a free slot.
pub const SEND_QUEUE: usize = 1_024;
/// Sends committed by one transaction at most.
const MAX_BATCH: usize = 256;

pub struct SendJob {
    pub room_id: String,
    pub new: NewEvent,
    pub origin: Option<LocalOrigin>,
    pub reply: oneshot::Sender<Result<String, MatrixError>>,
}

type Request = (String, NewEvent, Option<LocalOrigin>);

pub(super) async fn run_batches(shared: Arc<Shared>, mut queue: mpsc::Receiver<SendJob>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (requests, replies): (Vec<Request>, Vec<_>) = jobs
            .drain(..)
            .map(|job| ((job.room_id, job.new, job.origin), job.reply))
            .unzip();
        let key = Arc::clone(&shared.key);
        let outcome = shared
            .with_room_store(EventOrigin::Local, true, move |store| {
                requests
                    .into_iter()
                    .map(|(room_id, new, origin)| send_one(store, &key, &room_id, &new, origin))
                    .collect::<Vec<_>>()
            })
            .await;
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // The client may have gone away; its event is stored regardless.
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(
                    error = %crate::api::error::error_chain(&error),
                    events = replies.len(),
                    "a batch of local events was not stored"
                );
                for reply in replies {
                    let _ = reply.send(Err(MatrixError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "M_UNKNOWN",
                        "Internal server error",
                    )));
                }
            }
        }
    }
}

pub(super) fn send_one(
    store: &mut SqliteRoomStore,
    key: &ServerKey,
    room_id: &str,
    new: &NewEvent,
    origin: Option<LocalOrigin>,
) -> Result<String, MatrixError> {
    if let Some(origin) = origin {
        if let Some(previous) = previous_transaction(store, &origin)? {
            return Ok(previous);
        }
        store.set_local_origin(origin);
    }
    let ts = u64::try_from(now_ms()).unwrap_or(0);
    let sent = room::send(store, room_id, new, ts, key);
    store.clear_local_origin();
    sent.map(|pdu| dag::RoomEvent::event_id(&pdu).to_owned())
        .map_err(send_error)
}
