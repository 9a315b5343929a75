//! Typing notifications: ephemeral, in memory, bounded. Each change takes the next serial, so
//! /sync reports the rooms whose typing set changed since its token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rooms with someone typing that are tracked; beyond this, new rooms are not tracked.
const MAX_ROOMS: usize = 10_000;
/// Typists tracked per room.
const MAX_TYPISTS_PER_ROOM: usize = 100;
/// The longest a typing notification lasts, whatever the client asks.
pub const MAX_TYPING_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
struct RoomTyping {
    typists: HashMap<String, Instant>,
    serial: u64,
}

#[derive(Debug, Default)]
struct TypingState {
    rooms: HashMap<String, RoomTyping>,
    serial: u64,
}

#[derive(Debug, Default)]
pub struct Typing {
    state: Mutex<TypingState>,
}

impl Typing {
    /// Starts or stops `user_id` typing in the room; returns whether anything changed.
    pub fn set(
        &self,
        room_id: &str,
        user_id: &str,
        timeout: Option<Duration>,
        now: Instant,
    ) -> bool {
        let mut state = self.lock();
        state.expire(now);
        let serial = state.serial + 1;
        let changed = match timeout {
            Some(timeout) => {
                if !state.rooms.contains_key(room_id) && state.rooms.len() >= MAX_ROOMS {
                    // Rooms where nobody types any more only remember a stop notification.
                    state.rooms.retain(|_, room| !room.typists.is_empty());
                    if state.rooms.len() >= MAX_ROOMS {
                        return false;
                    }
                }
                let room = state.rooms.entry(room_id.to_owned()).or_default();
                if !room.typists.contains_key(user_id) && room.typists.len() >= MAX_TYPISTS_PER_ROOM
                {
                    return false;
                }
                let until = now + timeout.min(MAX_TYPING_TIMEOUT);
                let was_typing = room.typists.insert(user_id.to_owned(), until).is_some();
                if !was_typing {
                    room.serial = serial;
                }
                !was_typing
            }
            None => {
                let room = state.rooms.get_mut(room_id);
                room.is_some_and(|room| {
                    let removed = room.typists.remove(user_id).is_some();
                    if removed {
                        room.serial = serial;
                    }
                    removed
                })
            }
        };
        if changed {
            state.serial = serial;
        }
        changed
    }

    /// The current serial and, for each of `room_ids` whose typing set changed after `since`,
    /// the users typing there now.
    pub fn changes_since<'a>(
        &self,
        room_ids: impl IntoIterator<Item = &'a str>,
        since: u64,
        now: Instant,
    ) -> (u64, Vec<(String, Vec<String>)>) {
        let mut state = self.lock();
        state.expire(now);
        let since = if since > state.serial { 0 } else { since };
        let changed = room_ids
            .into_iter()
            .filter_map(|room_id| {
                let room = state.rooms.get(room_id)?;
                (room.serial > since).then(|| {
                    let mut users: Vec<String> = room.typists.keys().cloned().collect();
                    users.sort();
                    (room_id.to_owned(), users)
                })
            })
            .collect();
        (state.serial, changed)
    }

    pub fn serial(&self) -> u64 {
        self.lock().serial
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TypingState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TypingState {
    /// Drops typists whose timeout passed; their rooms change.
    fn expire(&mut self, now: Instant) {
        let mut serial = self.serial;
        for room in self.rooms.values_mut() {
            let before = room.typists.len();
            room.typists.retain(|_, until| *until > now);
            if room.typists.len() != before {
                serial += 1;
                room.serial = serial;
            }
        }
        self.serial = serial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_starts_stops_and_expires() {
        let typing = Typing::default();
        let now = Instant::now();
        assert!(typing.set("!r", "@a:x", Some(Duration::from_secs(5)), now));
        let (serial, changes) = typing.changes_since(["!r"], 0, now);
        assert_eq!(changes, vec![("!r".to_owned(), vec!["@a:x".to_owned()])]);
        assert!(typing.changes_since(["!r"], serial, now).1.is_empty());
        let later = now + Duration::from_secs(6);
        let (_, changes) = typing.changes_since(["!r"], serial, later);
        assert_eq!(changes, vec![("!r".to_owned(), vec![])]);
        assert!(!typing.set("!r", "@a:x", None, later));
    }
}
