//! Sans-IO core of Flotilla: the Matrix event model and everything that must agree bit for bit
//! with other Matrix servers. No sockets, clocks, threads or ambient randomness live here.

pub mod event;
pub mod room_version;

pub use event::RoomEvent;
pub use room_version::{RoomVersion, StateResolution, UnsupportedRoomVersion};
