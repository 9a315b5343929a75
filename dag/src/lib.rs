//! Sans-IO core of Flotilla: the Matrix event model and everything that must agree bit for bit
//! with other Matrix servers. No sockets, clocks, threads or ambient randomness live here.

pub mod auth;
pub mod base64;
pub mod canonical_json;
pub mod event;
pub mod hashing;
pub mod ids;
pub mod pdu;
pub mod redaction;
pub mod room;
pub mod room_version;
pub mod signing;
pub mod state_res;
pub mod wire;

#[cfg(test)]
mod testing;

pub use event::RoomEvent;
pub use pdu::Pdu;
pub use room_version::{RoomVersion, StateResolution, UnsupportedRoomVersion};
