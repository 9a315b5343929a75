//! Presence: in memory and bounded, like typing. Status messages and last activity are saved
//! (see [`crate::store::presence`]) when a user sets their presence and when the node stops,
//! and restored at start, with everyone offline until they next sync or set it. Each change of
//! a user's state or status message takes the next serial, so /sync reports the users whose
//! presence changed since its token. Times are wall-clock milliseconds, so that
//! `last_active_ago` stays true across a restart.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::store::presence::SavedPresence;

/// Users whose presence is tracked; beyond this the offline ones are forgotten first.
pub const MAX_USERS: usize = 10_000;
/// The longest status message kept, in bytes.
pub const MAX_STATUS_MSG_BYTES: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceState {
    Online,
    Unavailable,
    Offline,
}

impl PresenceState {
    pub fn parse(text: &str) -> Option<PresenceState> {
        match text {
            "online" => Some(PresenceState::Online),
            "unavailable" => Some(PresenceState::Unavailable),
            "offline" => Some(PresenceState::Offline),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PresenceState::Online => "online",
            PresenceState::Unavailable => "unavailable",
            PresenceState::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone)]
struct UserPresence {
    state: PresenceState,
    status_msg: Option<String>,
    last_active_ms: i64,
    serial: u64,
}

#[derive(Debug, Default)]
struct PresenceTable {
    users: HashMap<String, UserPresence>,
    serial: u64,
}

#[derive(Debug, Default)]
pub struct Presence {
    table: Mutex<PresenceTable>,
}

impl Presence {
    /// Sets the user's presence; `status_msg` is kept unless given. Returns whether anything a
    /// client sees changed (and so whether /sync should wake).
    pub fn set(
        &self,
        user_id: &str,
        state: PresenceState,
        status_msg: Option<Option<String>>,
        now_ms: i64,
    ) -> bool {
        let mut table = self.lock();
        if !table.users.contains_key(user_id) && !table.make_room() {
            return false;
        }
        let serial = table.serial + 1;
        let entry = table
            .users
            .entry(user_id.to_owned())
            .or_insert_with(|| UserPresence {
                state: PresenceState::Offline,
                status_msg: None,
                last_active_ms: now_ms,
                serial,
            });
        let status_msg = status_msg.unwrap_or_else(|| entry.status_msg.clone());
        let changed = entry.state != state || entry.status_msg != status_msg;
        if state != PresenceState::Offline {
            entry.last_active_ms = now_ms;
        }
        entry.state = state;
        entry.status_msg = status_msg;
        if changed {
            entry.serial = serial;
            table.serial = serial;
        }
        changed
    }

    /// The user's presence as `GET /presence/{userId}/status` and /sync show it.
    pub fn content(&self, user_id: &str, now_ms: i64) -> Value {
        match self.lock().users.get(user_id) {
            Some(presence) => presence.content(now_ms),
            None => json!({"presence": "offline"}),
        }
    }

    /// The current serial and the `m.presence` events of those of `users` whose presence
    /// changed after `since`. A serial from before a restart reads as 0: everything is news.
    pub fn changes_since(
        &self,
        users: &BTreeSet<String>,
        since: u64,
        now_ms: i64,
    ) -> (u64, Vec<Value>) {
        let table = self.lock();
        let since = if since > table.serial { 0 } else { since };
        let events = users
            .iter()
            .filter_map(|user_id| {
                let presence = table.users.get(user_id)?;
                (presence.serial > since).then(|| {
                    json!({
                        "type": "m.presence",
                        "sender": user_id,
                        "content": presence.content(now_ms),
                    })
                })
            })
            .collect();
        (table.serial, events)
    }

    pub fn serial(&self) -> u64 {
        self.lock().serial
    }

    /// What to save of the user's presence, if any is known.
    pub fn saved(&self, user_id: &str) -> Option<SavedPresence> {
        let table = self.lock();
        let presence = table.users.get(user_id)?;
        Some(presence.saved(user_id))
    }

    /// What to save of everyone's presence.
    pub fn snapshot(&self) -> Vec<SavedPresence> {
        let table = self.lock();
        table
            .users
            .iter()
            .map(|(user_id, presence)| presence.saved(user_id))
            .collect()
    }

    /// Takes back saved presence after a restart: everyone offline, with their status message
    /// and last activity. Users already known (they synced first) keep what they have.
    pub fn restore(&self, saved: Vec<SavedPresence>) {
        let mut table = self.lock();
        for entry in saved {
            if table.users.contains_key(&entry.user_id) || !table.make_room() {
                continue;
            }
            table.serial += 1;
            let presence = UserPresence {
                state: PresenceState::Offline,
                status_msg: entry.status_msg,
                last_active_ms: entry.last_active_ms,
                serial: table.serial,
            };
            table.users.insert(entry.user_id, presence);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PresenceTable> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl PresenceTable {
    /// Whether a new user fits, after forgetting offline users if the table is full.
    fn make_room(&mut self) -> bool {
        if self.users.len() >= MAX_USERS {
            self.users
                .retain(|_, presence| presence.state != PresenceState::Offline);
        }
        self.users.len() < MAX_USERS
    }
}

impl UserPresence {
    fn saved(&self, user_id: &str) -> SavedPresence {
        SavedPresence {
            user_id: user_id.to_owned(),
            status_msg: self.status_msg.clone(),
            last_active_ms: self.last_active_ms,
        }
    }

    fn content(&self, now_ms: i64) -> Value {
        let idle_ms = now_ms.saturating_sub(self.last_active_ms).max(0);
        let mut content = json!({
            "presence": self.state.as_str(),
            "last_active_ago": idle_ms,
            "currently_active": self.state == PresenceState::Online,
        });
        if let Some(message) = &self.status_msg {
            content["status_msg"] = json!(message);
        }
        content
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_reported_once_and_unknown_users_are_offline() {
        let presence = Presence::default();
        let now = 1_700_000_000_000;
        let users: BTreeSet<String> = ["@a:x".to_owned(), "@b:x".to_owned()].into();
        assert_eq!(
            presence.content("@a:x", now),
            json!({"presence": "offline"})
        );
        assert!(presence.set("@a:x", PresenceState::Online, None, now));
        assert!(!presence.set("@a:x", PresenceState::Online, None, now));
        let (serial, events) = presence.changes_since(&users, 0, now);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["sender"], "@a:x");
        assert_eq!(events[0]["content"]["presence"], "online");
        assert!(presence.changes_since(&users, serial, now).1.is_empty());
        assert!(presence.set(
            "@a:x",
            PresenceState::Online,
            Some(Some("on watch".into())),
            now
        ));
        let (_, events) = presence.changes_since(&users, serial, now);
        assert_eq!(events[0]["content"]["status_msg"], "on watch");
        let (_, after_restart) = presence.changes_since(&users, serial + 100, now);
        assert_eq!(after_restart.len(), 1);
    }

    #[test]
    fn a_restart_keeps_status_messages_and_last_activity_but_not_online() {
        let before = Presence::default();
        let then = 1_700_000_000_000;
        let message = Some(Some("on watch until 0400".to_owned()));
        before.set("@a:x", PresenceState::Online, message, then);
        before.set("@b:x", PresenceState::Unavailable, None, then - 5_000);
        let after = Presence::default();
        after.set("@b:x", PresenceState::Online, None, then + 60_000);
        after.restore(before.snapshot());
        let content = after.content("@a:x", then + 60_000);
        assert_eq!(
            content,
            json!({"presence": "offline", "status_msg": "on watch until 0400",
                "last_active_ago": 60_000, "currently_active": false})
        );
        assert_eq!(after.content("@b:x", then + 60_000)["presence"], "online");
        let users: BTreeSet<String> = ["@a:x".to_owned()].into();
        assert_eq!(after.changes_since(&users, 0, then).1.len(), 1);
        assert_eq!(before.saved("@a:x").unwrap().last_active_ms, then);
        assert_eq!(before.saved("@z:x"), None);
    }
}
