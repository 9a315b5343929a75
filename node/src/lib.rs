//! The Flotilla node: an embedded Matrix homeserver with its own SQLite database.
//!
//! - [`config`]: settings from defaults, a TOML file, the environment and the command line.
//! - [`identity`]: the node's ed25519 key, server name and libp2p PeerId.
//! - [`store`]: the SQLite store and its migrations.
//! - [`media`]: the files of the local media repository.
//! - [`rooms`]: the room service, /sync, and the hook the mesh uses to store and hear events.
//! - [`api`]: the Matrix Client-Server API.
//! - [`signatures`]: peers' event signatures verified on every core.

pub mod admin;
pub mod api;
pub mod config;
pub mod credentials;
pub mod identity;
pub mod media;
pub mod mesh;
pub mod push;
pub mod rooms;
pub mod server;
pub mod signatures;
pub mod store;
