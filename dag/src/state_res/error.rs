//! Why a resolution can fail: the inputs do not form a room DAG.

/// An input that state resolution cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("event {event_id} is not known")]
    MissingEvent { event_id: String },
    #[error("event {event_id} cites auth event {auth_event_id}, which is not known")]
    MissingAuthEvent {
        event_id: String,
        auth_event_id: String,
    },
    #[error("the auth events of {event_id} form a cycle")]
    AuthCycle { event_id: String },
    #[error("event {event_id} is in a state map but is not a state event")]
    NotAStateEvent { event_id: String },
    #[error(
        "event {event_id} is in a state map under ({event_type:?}, {state_key:?}), which is not its own type and state key"
    )]
    WrongStateKey {
        event_id: String,
        event_type: String,
        state_key: String,
    },
}
