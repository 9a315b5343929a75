//! The Flotilla node: an embedded Matrix homeserver with its own SQLite database.
//!
//! - [`config`]: settings from defaults, a TOML file, the environment and the command line.
//! - [`identity`]: the node's ed25519 key, server name and libp2p PeerId.
//! - [`store`]: the SQLite store and its migrations.
//! - [`rooms`]: the room service, /sync, and the hook the mesh uses to store and hear events.
//! - [`api`]: the Matrix Client-Server API.
//! - [`signatures`]: peers' event signatures verified on every core.

pub mod admin;
pub mod api;
pub mod config;
pub mod credentials;
pub mod identity;
pub mod mesh;
pub mod rooms;
pub mod server;
pub mod signatures;
pub mod store;
