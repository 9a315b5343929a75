//! Matrix state resolution: v2 (room versions 10 and 11) and v2.1 (room version 12).
//!
//! # API
//!
//! * [`resolve`]`(version, state_sets, source)` resolves a set of room states, each a
//!   [`StateMap`] from `(event_type, state_key)` to an event ID, into one state map. `source` is
//!   an [`EventSource`]: it finds events by ID and says which were rejected.
//! * [`Resolver`] does the same but keeps its interned events and caches between calls, for a
//!   caller that resolves many states of one room (the DAG walk, a server catching up).
//! * [`walk::resolve_dag`] computes the state after a whole room DAG: it authorizes every event
//!   against the state before it, marks failures rejected and resolves the forward extremities.
//! * [`fixture`] is the minimal event form of ruma's state-res tests, used by the CLI and tests.
//!
//! # The algorithm
//!
//! Exactly the spec's (`rooms/v2` and, for v2.1, `rooms/v12`): unconflicted state map and
//! conflicted state set, auth difference, the conflicted state subgraph (v2.1 only), the reverse
//! topological power ordering of the power events and their conflicted auth ancestors, iterative
//! auth checks from the unconflicted state (v2) or from an empty state (v2.1), mainline ordering
//! of the rest, a second round of iterative auth checks, then the unconflicted state on top.
//! Ties are broken by comparing event IDs as their `$`-strings, byte for byte, like other servers.
//!
//! Rejected events: the spec handles events rejected against the state before them "as usual",
//! so a resolution re-checks them when they are in its conflicted set; but a rejected event is
//! never used as an auth event during the iterative auth checks.
//!
//! Readings of the spec, and where other implementations differ:
//!
//! * Step 1 takes the auth ancestors of the power events *that are in the full conflicted set*.
//!   That is the v12 wording; the older v2 wording ("the union of their auth chains") is read the
//!   same way by every implementation, since applying unconflicted ancestors again would roll the
//!   state back.
//! * Power events are exactly the spec's. ruma and Synapse also count `m.room.create`, which
//!   cannot change an answer: before v12 every other event cites the create event, so it is in
//!   step 1 whenever any power event is; otherwise it is checked in step 4 instead of step 2,
//!   and the checks that precede it find it among their auth events (before v12) or through the
//!   room ID (v12) either way. The differential tests against ruma bear this out.
//! * A state event that is itself rejected is skipped when the iterative auth checks look up an
//!   auth key in the state, and the event's own (non-rejected) auth event is used instead, as
//!   ruma and Synapse do.
//! * The sender power of the ordering comes from the event's own auth events: its power levels
//!   event, else 100 for the creator before v12 (the create event among its auth events says who
//!   that is) and 0 for anyone else; in v12 creators (found through the room ID) are infinite.
//!   Malformed power levels content counts as absent rather than failing the resolution.
//!
//! # Why it is fast
//!
//! Event IDs and `(type, state_key)` pairs are interned to dense integers. Interning visits auth
//! events before the events that cite them, so an event's index is a topological position: the
//! auth difference is computed by walking down from the state events in decreasing index order,
//! carrying a bit per state set, and stops as soon as every path has reached events common to all
//! sets, instead of materialising whole auth chains. The conflicted state subgraph walk is pruned
//! below the oldest conflicted event the same way. Per-event facts that never change (sender
//! power for the sort, power event or not, the power-levels parent) are memoised.
//!
//! Hash maps use foldhash's *quality* hasher with a fixed seed: deterministic, as `dag` admits
//! no ambient randomness, and well mixed in the high bits that hashbrown's probing tags use. The
//! *fast* variant left similar keys (`m.room.member` plus user IDs) sharing tags, so lookups kept
//! comparing strings; switching made whole resolutions 1.5–2× faster.

mod algorithm;
mod authz;
mod error;
pub mod fixture;
mod graph;
mod marks;
mod power;
pub mod walk;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use algorithm::Resolver;
pub use error::ResolveError;

use crate::{RoomEvent, RoomVersion};

/// A room state: `(event_type, state_key)` to a value, usually an event ID.
pub type StateMap<T> = HashMap<(String, String), T>;

/// Where the resolver finds events, and which of them were rejected.
pub trait EventSource {
    type Event: RoomEvent;

    /// The event with this ID, if known.
    fn event(&self, event_id: &str) -> Option<&Self::Event>;

    /// Whether the event was rejected when it was received. Rejected events are never used as
    /// auth events in the iterative auth checks.
    fn is_rejected(&self, event_id: &str) -> bool;
}

/// Resolves `state_sets` into one room state with the algorithm of `version`.
///
/// Every event named in a state set, and every event in their auth chains, must be in `source`.
pub fn resolve<S: EventSource>(
    version: RoomVersion,
    state_sets: &[StateMap<String>],
    source: &S,
) -> Result<StateMap<String>, ResolveError> {
    Resolver::new(version, source).resolve(state_sets)
}
