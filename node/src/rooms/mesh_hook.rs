//! The room service in the shapes `transport::mesh::run` takes: [`RoomsAccess`] over the
//! node's SQLite room store, and the IDs of locally made events as a bounded channel.

use std::future::Future;

use tokio::sync::{broadcast, mpsc};
use transport::mesh::RoomsAccess;

use super::{EventOrigin, RoomService};
use crate::store::rooms::SqliteRoomStore;

impl RoomsAccess for RoomService {
    type Store<'a> = SqliteRoomStore<'a>;

    /// Runs the mesh's work on the database thread; events it commits are announced as
    /// [`EventOrigin::Peer`] and wake `/sync`. `None` once the store is gone or failed.
    fn run<T, F>(&self, work: F) -> impl Future<Output = Option<T>> + Send
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&mut SqliteRoomStore<'a>) -> T + Send + 'static,
    {
        let rooms = self.clone();
        async move { rooms.with_room_store(EventOrigin::Peer, work).await.ok() }
    }
}

impl RoomService {
    /// The IDs of events made by this node's clients from now on, for `MeshInputs::
    /// local_events`. A forwarding task ends when the receiver is dropped. If the mesh falls
    /// more than the broadcast's capacity behind, the skipped IDs are logged and dropped: the
    /// protocol finds them again by reconciling heads.
    pub fn local_event_ids(&self, capacity: usize) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::channel(capacity);
        let mut notices = self.subscribe();
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(notice) if notice.origin == EventOrigin::Local => {
                        if sender.send(notice.event_id).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "the mesh fell behind the local events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        receiver
    }
}
