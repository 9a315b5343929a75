//! The view of a room event that the authorization rules and state resolution work on.
//!
//! Both the full, signed PDU and the minimal fixture form used by `flotilla dag resolve`
//! implement [`RoomEvent`], so the rules are written once and never see hashes or signatures.

use serde_json::Value;

pub trait RoomEvent {
    fn event_id(&self) -> &str;
    /// `None` only for a room version 12 create event, whose room ID is derived from it.
    fn room_id(&self) -> Option<&str>;
    fn sender(&self) -> &str;
    fn event_type(&self) -> &str;
    fn state_key(&self) -> Option<&str>;
    /// Always a JSON object for a valid event.
    fn content(&self) -> &Value;
    fn origin_server_ts(&self) -> u64;
    fn prev_events(&self) -> impl ExactSizeIterator<Item = &str>;
    fn auth_events(&self) -> impl ExactSizeIterator<Item = &str>;
    /// The event an `m.room.redaction` redacts: top-level before v11, in `content` from v11.
    fn redacts(&self) -> Option<&str>;
    /// The content validated as `m.room.power_levels`, for an event that keeps it (asked only
    /// of power levels events). `None`: the rules parse the content on every check.
    fn parsed_power_levels(&self) -> Option<&crate::auth::ParsedPowerLevels> {
        None
    }
}
