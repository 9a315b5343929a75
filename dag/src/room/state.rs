//! The state of a room after an event, as the room code keeps it: a snapshot shared by many
//! events plus the few entries changed since it was taken.
//!
//! A state event used to copy the whole state map to add its one entry; in a room of a
//! thousand members that is a thousand entries per state event per node (and the simulator
//! runs a thousand nodes). Now it copies at most [`MAX_CHANGES`] entries, and every
//! [`MAX_CHANGES`] state events a new snapshot is taken. Messages share their parent's state
//! outright. Readers see one map either way.

use std::ops::Index;
use std::sync::Arc;

use crate::state_res::StateMap;

/// Entries kept on top of a snapshot before they are folded into a new one.
const MAX_CHANGES: usize = 32;

type Key = (String, String);

#[derive(Clone, Default)]
pub struct State {
    snapshot: Arc<StateMap<String>>,
    /// Entries set since the snapshot. Only ever added or replaced: a resolution produces a
    /// whole new snapshot.
    changes: Arc<StateMap<String>>,
}

impl State {
    pub fn get(&self, key: &Key) -> Option<&String> {
        self.changes.get(key).or_else(|| self.snapshot.get(key))
    }

    pub fn contains_key(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    /// This state with `key` set to `event_id`.
    pub fn with(&self, key: Key, event_id: String) -> State {
        let mut changes = StateMap::clone(&self.changes);
        changes.insert(key, event_id);
        if changes.len() <= MAX_CHANGES {
            return State {
                snapshot: Arc::clone(&self.snapshot),
                changes: Arc::new(changes),
            };
        }
        let mut snapshot = StateMap::clone(&self.snapshot);
        snapshot.extend(changes);
        State::from(snapshot)
    }

    /// Every entry once, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &String)> {
        let unchanged = self.snapshot.iter();
        let unchanged = unchanged.filter(|(key, _)| !self.changes.contains_key(*key));
        unchanged.chain(self.changes.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(_, value)| value)
    }

    pub fn len(&self) -> usize {
        let added = self.changes.keys();
        let added = added.filter(|key| !self.snapshot.contains_key(*key));
        self.snapshot.len() + added.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state as one shared map: the snapshot itself when nothing changed since.
    pub fn to_shared(&self) -> Arc<StateMap<String>> {
        match self.changes.is_empty() {
            true => Arc::clone(&self.snapshot),
            false => Arc::new(self.to_map()),
        }
    }

    /// The state as a map of its own.
    pub fn to_map(&self) -> StateMap<String> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Whether both are the very same state (not just equal).
    pub fn same(&self, other: &State) -> bool {
        Arc::ptr_eq(&self.snapshot, &other.snapshot) && Arc::ptr_eq(&self.changes, &other.changes)
    }
}

impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.same(other)
            || (self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v)))
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl From<StateMap<String>> for State {
    fn from(map: StateMap<String>) -> State {
        State::from(Arc::new(map))
    }
}

impl From<Arc<StateMap<String>>> for State {
    fn from(snapshot: Arc<StateMap<String>>) -> State {
        State {
            snapshot,
            changes: Arc::default(),
        }
    }
}

impl FromIterator<(Key, String)> for State {
    fn from_iter<I: IntoIterator<Item = (Key, String)>>(entries: I) -> State {
        State::from(entries.into_iter().collect::<StateMap<String>>())
    }
}

impl Index<&Key> for State {
    type Output = String;

    fn index(&self, key: &Key) -> &String {
        self.get(key)
            .unwrap_or_else(|| panic!("no state entry {key:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Key {
        ("m.room.member".to_owned(), format!("@u{i}:x"))
    }

    #[test]
    fn reads_like_the_map_it_stands_for_across_snapshots() {
        let mut state = State::default();
        let mut map = StateMap::new();
        for i in 0..100 {
            let (k, v) = (key(i % 70), format!("$e{i}"));
            state = state.with(k.clone(), v.clone());
            map.insert(k, v);
            assert_eq!(state.len(), map.len());
            assert_eq!(state.to_map(), map);
            assert_eq!(state, State::from(map.clone()));
            assert!(state.changes.len() <= MAX_CHANGES);
        }
        assert_eq!(state.get(&key(5)), map.get(&key(5)));
        assert_ne!(state, state.with(key(5), "$other".into()));
    }
}
