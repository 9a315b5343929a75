//! What every handler can reach.

use std::sync::Arc;

use super::ratelimit::RateLimiter;
use crate::config::Config;
use crate::identity::NodeIdentity;
use crate::media::MediaFiles;
use crate::rooms::RoomService;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub identity: Arc<NodeIdentity>,
    pub store: Store,
    pub rate_limiter: Arc<RateLimiter>,
    /// The files of the media repository (their metadata is in the store).
    pub media: MediaFiles,
    /// Rooms, /sync notifications, and the hook for the mesh (see [`crate::rooms`]).
    pub rooms: RoomService,
}

impl AppState {
    pub fn new(config: Config, identity: NodeIdentity, store: Store) -> AppState {
        let key = identity.server_key();
        AppState {
            rooms: RoomService::new(store.clone(), key),
            media: MediaFiles::new(&config.data_dir),
            rate_limiter: Arc::new(RateLimiter::new(config.rate_limits.clone())),
            config: Arc::new(config),
            identity: Arc::new(identity),
            store,
        }
    }

    pub fn server_name(&self) -> &str {
        self.identity.server_name()
    }

    /// `@localpart:server_name` of a user of this node.
    pub fn local_user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name())
    }

    /// The localpart of `user_id` if the user belongs to this node.
    pub fn local_part<'a>(&self, user_id: &'a str) -> Option<&'a str> {
        let (localpart, server) = user_id.strip_prefix('@')?.split_once(':')?;
        (server == self.server_name()).then_some(localpart)
    }
}
