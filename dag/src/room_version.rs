//! The room versions Flotilla speaks and the rules that differ between them.

use std::fmt;
use std::str::FromStr;

/// A supported room version. Versions 10 and 11 use state resolution v2; version 12 uses v2.1
/// and derives the room ID from the create event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomVersion {
    V10,
    V11,
    V12,
}

/// Which state resolution algorithm a room version uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateResolution {
    V2,
    V2_1,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported room version {0:?} (supported: 10, 11, 12)")]
pub struct UnsupportedRoomVersion(pub String);

impl RoomVersion {
    pub const ALL: [RoomVersion; 3] = [RoomVersion::V10, RoomVersion::V11, RoomVersion::V12];

    pub fn as_str(self) -> &'static str {
        match self {
            RoomVersion::V10 => "10",
            RoomVersion::V11 => "11",
            RoomVersion::V12 => "12",
        }
    }

    pub fn state_resolution(self) -> StateResolution {
        match self {
            RoomVersion::V10 | RoomVersion::V11 => StateResolution::V2,
            RoomVersion::V12 => StateResolution::V2_1,
        }
    }

    /// v12: the room ID is `!` + the create event's reference hash, the create event carries no
    /// `room_id` and is never listed in `auth_events`; creators have unlimited power.
    pub fn room_id_is_create_hash(self) -> bool {
        self == RoomVersion::V12
    }

    /// v11 dropped `content.creator` from the create event; the sender is the creator.
    pub fn create_has_creator_field(self) -> bool {
        self == RoomVersion::V10
    }

    /// v11 moved `redacts` from the top level of `m.room.redaction` into its content.
    pub fn redacts_in_content(self) -> bool {
        self != RoomVersion::V10
    }
}

impl FromStr for RoomVersion {
    type Err = UnsupportedRoomVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "10" => Ok(RoomVersion::V10),
            "11" => Ok(RoomVersion::V11),
            "12" => Ok(RoomVersion::V12),
            other => Err(UnsupportedRoomVersion(other.to_owned())),
        }
    }
}

impl fmt::Display for RoomVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
