//! `device_lists` of an incremental /sync: whose devices a client should query again
//! (`changed`) and whom it no longer shares a room with (`left`), for end-to-end encryption.

use std::collections::BTreeSet;

use rusqlite::Connection;

use crate::store::StoreError;
use crate::store::e2ee::device_lists_changed_since;
use crate::store::timeline::{members_with, membership_changes_since};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeviceListUpdates {
    pub changed: BTreeSet<String>,
    pub left: BTreeSet<String>,
}

/// What changed after the positions `since_events` and `since_device_lists`: users sharing a
/// room with `user_id` whose device list changed or who newly share one, and users who shared
/// a room with them then and share none now. `sharing` is everyone sharing a room now.
pub fn device_list_updates(
    connection: &Connection,
    user_id: &str,
    (since_events, since_device_lists): (i64, i64),
    sharing: &BTreeSet<String>,
) -> Result<DeviceListUpdates, StoreError> {
    let mut updates = DeviceListUpdates::default();
    updates.changed.extend(
        device_lists_changed_since(connection, since_device_lists)?
            .into_iter()
            .filter(|user| sharing.contains(user)),
    );
    for (member, change) in membership_changes_since(connection, user_id, since_events)? {
        let joined = change.membership == "join";
        let affected = if member == user_id {
            // The user joined or left: everyone in that room is new to them, or may be gone.
            members_with(connection, &change.room_id, "join")?
        } else if joined || matches!(change.membership.as_str(), "leave" | "ban") {
            vec![member]
        } else {
            continue;
        };
        for other in affected.into_iter().filter(|other| other != user_id) {
            match (joined, sharing.contains(&other)) {
                (true, true) => updates.changed.insert(other),
                (false, false) => updates.left.insert(other),
                _ => false,
            };
        }
    }
    Ok(updates)
}
