//! Starting and stopping a node: identity, store, and the HTTP API.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::admin::{AdminServer, LinkState};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::identity::{IdentityError, NodeIdentity};
use crate::rooms::presence;
use crate::store::presence::{load_presence, save_presence};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error("cannot set up the admin socket in {path}")]
    Admin {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Runs the node until `shutdown` completes, then lets in-flight requests finish and closes
/// the database after its queued writes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let identity = NodeIdentity::load_or_create(&config.data_dir)?;
    crate::media::MediaFiles::new(&config.data_dir)
        .remove_partial_uploads()
        .map_err(|source| NodeError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    let (store, store_thread) = Store::open(&config.database_file())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Bind {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(NodeError::Serve)?;
    let admin_error = |source| NodeError::Admin {
        path: config.data_dir.clone(),
        source,
    };
    let link_state = LinkState::load(&config.data_dir).map_err(admin_error)?;
    let admin_socket = AdminServer::bind(&config.data_dir).map_err(admin_error)?;
    let transport = crate::mesh::start_transport(&config, &identity, &link_state)?;
    let admin = AdminServer::new(
        config.data_dir.clone(),
        transport.commands.clone(),
        link_state,
    );
    let admin_task = tokio::spawn(admin.serve(admin_socket));
    tracing::info!(
        %address,
        server_name = identity.server_name(),
        peer_id = identity.peer_id(),
        data_dir = %config.data_dir.display(),
        registration = ?config.registration_policy(),
        "serving the Matrix Client-Server API"
    );
    let state = AppState::new(config, identity, store);
    let saved_presence = state
        .store
        .call(|connection| load_presence(connection, presence::MAX_USERS))
        .await?;
    state.rooms.presence.restore(saved_presence);
    let presence = Arc::clone(&state.rooms.presence);
    let mesh_task = tokio::spawn(crate::mesh::run(state.rooms.clone(), transport));
    let store = state.store.clone();
    let app = api::router(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    tracing::info!("HTTP server stopped; closing the database");
    admin_task.abort();
    mesh_task.abort();
    let snapshot = presence.snapshot();
    if let Err(error) = store
        .call(move |connection| save_presence(connection, &snapshot))
        .await
    {
        tracing::warn!(%error, "could not save presence");
    }
    drop(store);
    tokio::task::spawn_blocking(move || store_thread.join())
        .await
        .map_err(|error| NodeError::Serve(std::io::Error::other(error)))?;
    served.map_err(NodeError::Serve)
}
