//! `flotilla dag resolve`: the state of a room from fixture events, by walking their DAG or by
//! resolving given state maps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use dag::RoomVersion;
use dag::state_res::fixture::{FixtureEvent, FixtureStore, state_entries};
use dag::state_res::walk::{WalkError, resolve_dag};
use dag::state_res::{ResolveError, StateMap, resolve};

/// Resolve the state of a room from events in ruma's state-res fixture form.
///
/// Without --state, walks the DAG of the events (each event authorized against the state before
/// it; one marked "rejected": true stays rejected) and prints the state after its forward
/// extremities. With --state, each file is a JSON
/// array of event IDs forming one state map, and the maps are resolved. Prints a JSON array of
/// {"type", "state_key", "event_id"} sorted by type and state key.
#[derive(Args)]
pub struct ResolveArgs {
    /// Room version: 10, 11 or 12. Defaults to the create event's content.room_version.
    #[arg(long)]
    room_version: Option<String>,
    /// JSON files, each an array of events.
    #[arg(long, num_args = 1.., required = true)]
    events: Vec<PathBuf>,
    /// JSON files, each an array of the event IDs of one state map.
    #[arg(long, num_args = 1..)]
    state: Vec<PathBuf>,
}

pub fn run(args: ResolveArgs) -> anyhow::Result<()> {
    let events = Events::load(&args.events)?;
    let version = events.room_version(args.room_version.as_deref())?;
    let state = if args.state.is_empty() {
        let refs: Vec<&FixtureEvent> = events
            .ordered
            .iter()
            .filter_map(|id| events.store.get(id))
            .collect();
        let walked = resolve_dag(version, &events.store, &refs)
            .map_err(|error| events.explain_walk(error))?;
        walked.state
    } else {
        let states = args
            .state
            .iter()
            .map(|path| events.load_state(path))
            .collect::<anyhow::Result<Vec<_>>>()?;
        resolve(version, &states, &events.store).map_err(|error| events.explain(&error))?
    };
    let json = serde_json::to_string_pretty(&state_entries(&state))?;
    println!("{json}");
    Ok(())
}

/// The events of all files, and which file each came from, for error messages.
struct Events {
    store: FixtureStore,
    ordered: Vec<String>,
    file_of: HashMap<String, PathBuf>,
}

impl Events {
    fn load(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut events = Events {
            store: FixtureStore::default(),
            ordered: Vec::new(),
            file_of: HashMap::new(),
        };
        for path in paths {
            for event in read_events(path)? {
                if let Some(first) = events.file_of.get(&event.event_id) {
                    bail!(
                        "{}: event {} is already in {}",
                        path.display(),
                        event.event_id,
                        first.display()
                    );
                }
                events.file_of.insert(event.event_id.clone(), path.clone());
                events.ordered.push(event.event_id.clone());
                events.store.insert(event);
            }
        }
        Ok(events)
    }

    fn room_version(&self, given: Option<&str>) -> anyhow::Result<RoomVersion> {
        let create = self
            .ordered
            .iter()
            .filter_map(|id| self.store.get(id))
            .find(|event| {
                event.event_type == "m.room.create" && event.state_key.as_deref() == Some("")
            })
            .ok_or_else(|| anyhow!("no m.room.create event in the --events files"))?;
        let version = match given {
            Some(version) => version,
            // The spec's default when a create event names no version.
            None => create
                .content
                .get("room_version")
                .and_then(|v| v.as_str())
                .unwrap_or("1"),
        };
        version
            .parse()
            .with_context(|| format!("room version of create event {}", create.event_id))
    }

    fn load_state(&self, path: &Path) -> anyhow::Result<StateMap<String>> {
        let mut state = StateMap::new();
        for event_id in read_event_ids(path)? {
            let event = self.store.get(&event_id).ok_or_else(|| {
                anyhow!(
                    "{}: event {event_id} is not in the --events files",
                    path.display()
                )
            })?;
            let Some(state_key) = &event.state_key else {
                bail!("{}: event {event_id} is not a state event", path.display());
            };
            state.insert((event.event_type.clone(), state_key.clone()), event_id);
        }
        Ok(state)
    }

    fn explain_walk(&self, error: WalkError) -> anyhow::Error {
        match error {
            WalkError::Resolve(error) => self.explain(&error),
            WalkError::UnknownEvent { ref event_id, .. } | WalkError::Cycle { ref event_id } => {
                anyhow!("{}: {error}", self.file_name(event_id))
            }
            other => anyhow!(other),
        }
    }

    fn explain(&self, error: &ResolveError) -> anyhow::Error {
        let event_id = match error {
            ResolveError::MissingEvent { event_id }
            | ResolveError::MissingAuthEvent { event_id, .. }
            | ResolveError::AuthCycle { event_id }
            | ResolveError::NotAStateEvent { event_id }
            | ResolveError::WrongStateKey { event_id, .. } => event_id,
        };
        anyhow!("{}: {error}", self.file_name(event_id))
    }

    fn file_name(&self, event_id: &str) -> String {
        self.file_of
            .get(event_id)
            .map_or_else(|| "input".to_owned(), |path| path.display().to_string())
    }
}

fn read_events(path: &Path) -> anyhow::Result<Vec<FixtureEvent>> {
    let text = read(path)?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON array of events", path.display()))
}

fn read_event_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = read(path)?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON array of event IDs", path.display()))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
