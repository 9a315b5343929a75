//! Presence: in memory and bounded, like typing; a restart forgets it and everyone reads as
//! offline until they next sync or set it. Each change of a user's state or status message
//! takes the next serial, so /sync reports the users whose presence changed since its token.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Value, json};

/// Users whose presence is tracked; beyond this the offline ones are forgotten first.
const MAX_USERS: usize = 10_000;
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
    last_active: Instant,
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
        now: Instant,
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
                last_active: now,
                serial,
            });
        let status_msg = status_msg.unwrap_or_else(|| entry.status_msg.clone());
        let changed = entry.state != state || entry.status_msg != status_msg;
        if state != PresenceState::Offline {
            entry.last_active = now;
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
    pub fn content(&self, user_id: &str, now: Instant) -> Value {
        match self.lock().users.get(user_id) {
            Some(presence) => presence.content(now),
            None => json!({"presence": "offline"}),
        }
    }

    /// The current serial and the `m.presence` events of those of `users` whose presence
    /// changed after `since`. A serial from before a restart reads as 0: everything is news.
    pub fn changes_since(
        &self,
        users: &BTreeSet<String>,
        since: u64,
        now: Instant,
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
                        "content": presence.content(now),
                    })
                })
            })
            .collect();
        (table.serial, events)
    }

    pub fn serial(&self) -> u64 {
        self.lock().serial
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
    fn content(&self, now: Instant) -> Value {
        let idle_ms = now.saturating_duration_since(self.last_active).as_millis();
        let mut content = json!({
            "presence": self.state.as_str(),
            "last_active_ago": u64::try_from(idle_ms).unwrap_or(u64::MAX),
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
        let now = Instant::now();
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
}
