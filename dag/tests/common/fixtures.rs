//! Loading ruma's state resolution fixtures.

use std::path::{Path, PathBuf};

use dag::RoomVersion;
use dag::state_res::StateMap;
use dag::state_res::fixture::{FixtureEvent, FixtureStore, StateEntry};

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ruma-state-res")
}

pub fn load_events(files: &[&str]) -> Vec<FixtureEvent> {
    files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(data_dir().join("fixtures").join(file)).unwrap();
            serde_json::from_str::<Vec<FixtureEvent>>(&text).unwrap()
        })
        .collect()
}

pub fn load_expected(name: &str) -> Vec<StateEntry> {
    let path = data_dir().join("expected").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A state map from a file listing event IDs.
pub fn load_state(file: &str, store: &FixtureStore) -> StateMap<String> {
    let text = std::fs::read_to_string(data_dir().join("fixtures").join(file)).unwrap();
    let ids: Vec<String> = serde_json::from_str(&text).unwrap();
    ids.into_iter()
        .map(|id| (state_key_of(store.get(&id).unwrap()), id))
        .collect()
}

pub fn state_key_of(event: &FixtureEvent) -> (String, String) {
    (event.event_type.clone(), event.state_key.clone().unwrap())
}

pub fn room_version(events: &[FixtureEvent]) -> RoomVersion {
    let create = events
        .iter()
        .find(|event| event.event_type == "m.room.create")
        .unwrap();
    create.content["room_version"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}
