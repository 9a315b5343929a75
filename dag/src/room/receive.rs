//! The checks on receipt of an event, in the spec's order: format, signatures, content hash
//! (redact on mismatch), auth against the event's auth events, auth against the state before
//! the event, soft-fail against the room's current state.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::resolve::{resolve_states, resolve_states_with};
use super::store::{EventStatus, RoomCommit, RoomInfo, RoomStore, StoredEvent};
use super::{ReceiveError, Received, State};
use crate::auth::{self, AuthError};
use crate::canonical_json::Object;
use crate::pdu::{NODE_KEY_ID, key_bytes_from_server_name};
use crate::signing::{
    self, Ed25519, PendingVerdicts, SignatureCheck, SignatureError, SignatureRequest,
};
use crate::{Pdu, RoomEvent, RoomVersion, hashing, ids};

const CREATE: (&str, &str) = ("m.room.create", "");

/// Runs every check on a received event and commits it with its status. Events whose
/// `prev_events` or `auth_events` are not all known are refused with the missing IDs, so the
/// store always holds every ancestor of every event it holds.
pub fn receive(store: &mut impl RoomStore, json: Object) -> Result<Received, ReceiveError> {
    receive_checking_with(store, json, &Ed25519)
}

/// [`receive`] with signatures checked by `signatures`.
pub fn receive_checking_with(
    store: &mut impl RoomStore,
    json: Object,
    signatures: &dyn SignatureCheck,
) -> Result<Received, ReceiveError> {
    let checked = check(store, json, signatures)?;
    Ok(commit(store, checked))
}

/// The outcome of the checks, before anything is written.
pub(super) enum Checked {
    Known {
        event_id: String,
        status: EventStatus,
    },
    RejectedCreate {
        event_id: String,
        reason: AuthError,
    },
    New {
        commit: RoomCommit,
        reason: Option<AuthError>,
    },
}

impl Checked {
    pub(super) fn status_and_reason(&self) -> (EventStatus, Option<AuthError>) {
        match self {
            Checked::Known { status, .. } => (*status, None),
            Checked::RejectedCreate { reason, .. } => (EventStatus::Rejected, Some(reason.clone())),
            Checked::New { commit, reason } => (commit.event.status, reason.clone()),
        }
    }
}

/// An event through the steps of receipt that need nothing from the store but its room's
/// version: its redacted form (what the reference hash hashes and what signatures sign), its
/// ID, the format checks; and the verdicts on its signatures if a batch checked them already.
pub struct Incoming {
    version: RoomVersion,
    redacted: String,
    pdu: Pdu,
    verdicts: Vec<Verdict>,
}

/// A signature of the event's redacted form, already checked.
struct Verdict {
    public_key: [u8; 32],
    signature: [u8; 64],
    result: Result<(), SignatureError>,
}

impl Incoming {
    pub fn event_id(&self) -> &str {
        self.pdu.event_id()
    }

    pub fn version(&self) -> RoomVersion {
        self.version
    }

    /// The signatures the checks will verify, as far as they can be named: the first server
    /// without a usable key or signature ends the list, as it ends the checks.
    fn signature_requests(&self) -> impl Iterator<Item = SignatureRequest> + '_ {
        let servers = auth::servers_that_must_sign(&self.pdu).unwrap_or_default();
        servers.into_iter().map_while(|server| {
            Some(SignatureRequest {
                public_key: key_bytes_from_server_name(server)?,
                message: self.redacted.as_bytes().to_vec(),
                signature: signing::signature_bytes(self.pdu.json(), server, NODE_KEY_ID).ok()?,
            })
        })
    }
}

/// Answers from an event's verdicts where it has one, else asks `fallback`. Every verdict is
/// on the event's own redacted form, the only message its checks verify.
struct Remembered<'a> {
    verdicts: &'a [Verdict],
    fallback: &'a dyn SignatureCheck,
}

impl SignatureCheck for Remembered<'_> {
    fn verify(
        &self,
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SignatureError> {
        let known = self
            .verdicts
            .iter()
            .find(|v| v.public_key == *public_key && v.signature == *signature);
        match known {
            Some(verdict) => verdict.result.clone(),
            None => self.fallback.verify(public_key, message, signature),
        }
    }
}

/// The first steps of receipt, which read only the room's version from the store.
pub fn prepare(store: &impl RoomStore, json: Object) -> Result<Incoming, ReceiveError> {
    let version = room_version_of(store, &json)?;
    let redacted = hashing::redacted_canonical(version, &json);
    let event_id = hashing::event_id_of_redacted(&redacted);
    let pdu = Pdu::from_json_with_id(version, json, event_id)?;
    Ok(Incoming {
        version,
        redacted,
        pdu,
        verdicts: Vec::new(),
    })
}

/// Events that arrived together, prepared: each comes out with the verdicts on its
/// signatures, if the [`SignatureCheck`] took them all at once, and is then received with
/// [`receive_incoming`]; one that could not be prepared (its room is created by an earlier
/// event of the batch) is received from its JSON with [`receive_checking_with`] instead.
pub struct PreparedBatch {
    events: VecDeque<(Result<Incoming, ReceiveError>, Vec<Asked>)>,
    verdicts: Option<Box<dyn PendingVerdicts>>,
}

/// A signature handed to `verify_all`: its key and signature bytes.
type Asked = ([u8; 32], [u8; 64]);

impl Iterator for PreparedBatch {
    type Item = Result<Incoming, ReceiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (mut prepared, asked) = self.events.pop_front()?;
        for (public_key, signature) in asked {
            let Some(result) = self.verdicts.as_mut().and_then(|v| v.next_verdict()) else {
                break;
            };
            if let Ok(incoming) = &mut prepared {
                incoming.verdicts.push(Verdict {
                    public_key,
                    signature,
                    result,
                });
            }
        }
        Some(prepared)
    }
}

/// Events that arrived together, prepared with [`prepare`], with all their signatures handed
/// to `signatures` at once ([`SignatureCheck::verify_all`]).
pub fn check_signatures_together(
    prepared: Vec<Result<Incoming, ReceiveError>>,
    signatures: &dyn SignatureCheck,
) -> PreparedBatch {
    let mut asked: Vec<Vec<Asked>> = vec![Vec::new(); prepared.len()];
    let mut requests = prepared
        .iter()
        .zip(asked.iter_mut())
        .filter_map(|(p, asked)| Some((p.as_ref().ok()?, asked)))
        .flat_map(|(incoming, asked)| {
            incoming.signature_requests().inspect(move |request| {
                asked.push((request.public_key, request.signature));
            })
        });
    let verdicts = signatures.verify_all(&mut requests);
    drop(requests);
    if verdicts.is_none() {
        asked.iter_mut().for_each(Vec::clear);
    }
    PreparedBatch {
        events: prepared.into_iter().zip(asked).collect(),
        verdicts,
    }
}

/// Runs the remaining checks on a prepared event and commits it with its status: the same
/// outcome as [`receive_checking_with`] on its JSON.
pub fn receive_incoming(
    store: &mut impl RoomStore,
    incoming: Incoming,
    signatures: &dyn SignatureCheck,
) -> Result<Received, ReceiveError> {
    // An event received before this one may have created its room since it was prepared.
    let incoming = match room_version_of(store, incoming.pdu.json())? == incoming.version {
        true => incoming,
        false => prepare(store, incoming.pdu.into_json())?,
    };
    let checked = check_prepared(store, incoming, signatures)?;
    Ok(commit(store, checked))
}

pub(super) fn check(
    store: &impl RoomStore,
    json: Object,
    signatures: &dyn SignatureCheck,
) -> Result<Checked, ReceiveError> {
    check_prepared(store, prepare(store, json)?, signatures)
}

fn check_prepared(
    store: &impl RoomStore,
    incoming: Incoming,
    signatures: &dyn SignatureCheck,
) -> Result<Checked, ReceiveError> {
    let Incoming {
        redacted,
        pdu,
        verdicts,
        ..
    } = incoming;
    if let Some(known) = store.event(pdu.event_id()) {
        return Ok(Checked::Known {
            event_id: pdu.event_id().to_owned(),
            status: known.status,
        });
    }
    let signatures = Remembered {
        verdicts: &verdicts,
        fallback: signatures,
    };
    verify_signatures(&pdu, redacted.as_bytes(), &signatures)?;
    let pdu = match pdu.content_hash_matches() {
        true => pdu,
        false => pdu.redacted(),
    };
    if is_create(&pdu) {
        return Ok(check_create(pdu));
    }
    let room_id = pdu.room_id().unwrap_or_default().to_owned();
    let context = EventContext::load(store, &pdu, &room_id)?;
    let (status, reason) = context.decide(&pdu);
    let state_after = match status {
        EventStatus::Rejected => context.state_before.clone(),
        _ => state_with(&context.state_before, &pdu),
    };
    let event = StoredEvent {
        pdu: Arc::new(pdu),
        status,
        state_after,
    };
    let room = next_room_info(store, context.room, &event)?;
    Ok(Checked::New {
        commit: RoomCommit { event, room },
        reason,
    })
}

pub(super) fn commit(store: &mut impl RoomStore, checked: Checked) -> Received {
    match checked {
        Checked::Known { event_id, status } => Received::AlreadyKnown { event_id, status },
        Checked::RejectedCreate { event_id, reason } => {
            Received::RejectedCreate { event_id, reason }
        }
        Checked::New { commit, reason } => {
            let event_id = commit.event.pdu.event_id().to_owned();
            let room_id = commit.room.room_id.clone();
            let status = commit.event.status;
            store.commit(commit);
            Received::Stored {
                event_id,
                room_id,
                status,
                reason,
            }
        }
    }
}

/// The version of the room an incoming event belongs to: the stored room's, or for a create
/// event, the one it declares. An event of an unknown room waits for the room's create event:
/// in v12 the room ID names it, before v12 the auth events include it.
pub(crate) fn room_version_of(
    store: &impl RoomStore,
    json: &Object,
) -> Result<RoomVersion, ReceiveError> {
    let is_create = json.get("type").and_then(Value::as_str) == Some("m.room.create")
        && json.get("state_key").and_then(Value::as_str) == Some("");
    let room_id = json.get("room_id").and_then(Value::as_str);
    if let Some(room) = room_id.and_then(|id| store.room(id)) {
        return Ok(room.version);
    }
    if is_create {
        let declared = json
            .get("content")
            .and_then(|c| c.get("room_version"))
            .and_then(Value::as_str);
        return Ok(declared.unwrap_or("1").parse()?);
    }
    match room_id {
        // A v12 room ID names its create event, which must be fetched first.
        Some(room_id) if ids::validate_room_id(RoomVersion::V12, room_id).is_ok() => Err(
            ReceiveError::MissingEvents(vec![format!("${}", &room_id[1..])]),
        ),
        Some(room_id) => Err(ReceiveError::UnknownRoom(room_id.to_owned())),
        None => Err(ReceiveError::Invalid(crate::pdu::PduError::Missing(
            "room_id",
        ))),
    }
}

/// The sender's server and, for restricted joins, the authorising server (rule 5.2) must have
/// signed the redacted event, whose signed bytes are `redacted` (the same bytes as the reference
/// hash's). A server name is its key, so no lookup is needed.
fn verify_signatures(
    pdu: &Pdu,
    redacted: &[u8],
    signatures: &dyn SignatureCheck,
) -> Result<(), ReceiveError> {
    for server in auth::servers_that_must_sign(pdu).map_err(ReceiveError::Unauthorised)? {
        let unknown = || ReceiveError::UnknownSigningKey(server.to_owned());
        let key = key_bytes_from_server_name(server).ok_or_else(unknown)?;
        let verified = signing::verify_signed_bytes(
            pdu.json(),
            redacted,
            server,
            NODE_KEY_ID,
            &key,
            signatures,
        );
        match verified {
            Err(SignatureError::InvalidKey) => return Err(unknown()),
            other => other?,
        }
    }
    Ok(())
}

fn is_create(pdu: &Pdu) -> bool {
    pdu.event_type() == CREATE.0 && pdu.state_key() == Some(CREATE.1)
}

fn check_create(pdu: Pdu) -> Checked {
    let version = pdu.version();
    let room_id = match pdu.room_id() {
        Some(room_id) => room_id.to_owned(),
        None => format!("!{}", &pdu.event_id()[1..]),
    };
    let event_id = pdu.event_id().to_owned();
    if let Err(reason) = auth::check_auth(version, &pdu, |_: &str, _: &str| None::<&Pdu>) {
        return Checked::RejectedCreate { event_id, reason };
    }
    let state = State::from_iter([((CREATE.0.to_owned(), CREATE.1.to_owned()), event_id.clone())]);
    let room = RoomInfo {
        room_id,
        version,
        forward_extremities: vec![event_id.clone()],
        sync_heads: vec![event_id],
        current_state: state.clone(),
    };
    let event = StoredEvent {
        pdu: Arc::new(pdu),
        status: EventStatus::Accepted,
        state_after: state,
    };
    Checked::New {
        commit: RoomCommit { event, room },
        reason: None,
    }
}

/// Everything the checks need, fetched from the store up front.
struct EventContext {
    room: RoomInfo,
    create: Arc<StoredEvent>,
    auth_events: Vec<Arc<StoredEvent>>,
    state_before: State,
    /// The events of the state before and of the current state that the rules may read.
    before_events: HashMap<(String, String), Arc<StoredEvent>>,
    current_events: HashMap<(String, String), Arc<StoredEvent>>,
}

impl EventContext {
    fn load(
        store: &impl RoomStore,
        pdu: &Pdu,
        room_id: &str,
    ) -> Result<EventContext, ReceiveError> {
        let room = store
            .room(room_id)
            .ok_or_else(|| ReceiveError::UnknownRoom(room_id.to_owned()))?;
        let mut missing = Vec::new();
        let mut fetch = |id: &str| {
            let event = store.event(id);
            if event.is_none() {
                missing.push(id.to_owned());
            }
            event
        };
        let auth_events: Vec<_> = pdu.auth_events().filter_map(&mut fetch).collect();
        let prevs: Vec<_> = pdu.prev_events().filter_map(&mut fetch).collect();
        if !missing.is_empty() {
            return Err(ReceiveError::MissingEvents(missing));
        }
        let create_id = room
            .current_state
            .get(&key(CREATE))
            .cloned()
            .unwrap_or_default();
        let create = store
            .event(&create_id)
            .ok_or(ReceiveError::MissingEvents(vec![create_id]))?;
        let parent_states: Vec<_> = prevs.iter().map(|p| p.state_after.clone()).collect();
        let state_before = resolve_states(store, room.version, &parent_states)?;
        let keys = auth::auth_types_for_event(
            room.version,
            pdu.event_type(),
            pdu.sender(),
            pdu.state_key(),
            pdu.content(),
        );
        let before_events = state_events(store, &state_before, &keys);
        let current_events = state_events(store, &room.current_state, &keys);
        Ok(EventContext {
            room,
            create,
            auth_events,
            state_before,
            before_events,
            current_events,
        })
    }

    /// The event's status and, unless accepted, the rule that failed.
    fn decide(&self, pdu: &Pdu) -> (EventStatus, Option<AuthError>) {
        match self.check_against_history(pdu) {
            Err(error) => (EventStatus::Rejected, Some(error)),
            Ok(()) => match auth::check_auth(
                self.room.version,
                pdu,
                lookup(&self.current_events, &self.create.pdu),
            ) {
                Ok(()) => (EventStatus::Accepted, None),
                Err(error) => (EventStatus::SoftFailed, Some(error)),
            },
        }
    }

    /// The rules against the event's auth events and against the state before it.
    fn check_against_history(&self, pdu: &Pdu) -> Result<(), AuthError> {
        let version = self.room.version;
        let auth_pdus: Vec<&Pdu> = self.auth_events.iter().map(|e| &*e.pdu).collect();
        let auth_status: HashMap<&str, EventStatus> = self
            .auth_events
            .iter()
            .map(|e| (e.pdu.event_id(), e.status))
            .collect();
        let rejected = |e: &Pdu| auth_status.get(e.event_id()) == Some(&EventStatus::Rejected);
        auth::check_auth_events_shape(version, pdu, &auth_pdus, rejected)?;
        let create = &*self.create.pdu;
        let from_auth_events = |t: &str, k: &str| {
            let cited = auth_pdus
                .iter()
                .copied()
                .find(|e| e.event_type() == t && e.state_key() == Some(k));
            cited.or(((t, k) == CREATE).then_some(create))
        };
        auth::check_auth(version, pdu, from_auth_events)?;
        auth::check_auth(version, pdu, lookup(&self.before_events, create))
    }
}

fn key((event_type, state_key): (&str, &str)) -> (String, String) {
    (event_type.to_owned(), state_key.to_owned())
}

fn lookup<'a>(
    events: &'a HashMap<(String, String), Arc<StoredEvent>>,
    create: &'a Pdu,
) -> impl Fn(&str, &str) -> Option<&'a Pdu> {
    move |t: &str, k: &str| match events.get(&key((t, k))) {
        Some(event) => Some(&*event.pdu),
        None => ((t, k) == CREATE).then_some(create),
    }
}

/// The events of `state` under `keys`, as far as the store has them.
fn state_events(
    store: &impl RoomStore,
    state: &State,
    keys: &[(String, String)],
) -> HashMap<(String, String), Arc<StoredEvent>> {
    keys.iter()
        .filter_map(|k| Some((k.clone(), store.event(state.get(k)?)?)))
        .collect()
}

/// `state` with `pdu` applied, if it is a state event.
pub(super) fn state_with(state: &State, pdu: &Pdu) -> State {
    match pdu.state_key() {
        Some(state_key) => state.with(
            (pdu.event_type().to_owned(), state_key.to_owned()),
            pdu.event_id().to_owned(),
        ),
        None => state.clone(),
    }
}

/// The room's extremities and current state once `event` is stored.
fn next_room_info(
    store: &impl RoomStore,
    mut room: RoomInfo,
    event: &StoredEvent,
) -> Result<RoomInfo, ReceiveError> {
    let pdu = &*event.pdu;
    if event.status == EventStatus::Rejected {
        return Ok(room);
    }
    if event.status == EventStatus::Accepted {
        replace_cited(&mut room.forward_extremities, pdu);
    }
    let extends_every_head = room
        .sync_heads
        .iter()
        .all(|head| pdu.prev_events().any(|p| p == head));
    replace_cited(&mut room.sync_heads, pdu);
    room.current_state = if extends_every_head {
        event.state_after.clone()
    } else {
        let states = head_states(store, &room.sync_heads, event);
        resolve_states_with(store, Some(event), room.version, &states)?
    };
    Ok(room)
}

fn replace_cited(heads: &mut Vec<String>, pdu: &Pdu) {
    heads.retain(|head| !pdu.prev_events().any(|prev| prev == head));
    heads.push(pdu.event_id().to_owned());
    heads.sort();
}

fn head_states(store: &impl RoomStore, extremities: &[String], event: &StoredEvent) -> Vec<State> {
    extremities
        .iter()
        .filter_map(|id| match id == event.pdu.event_id() {
            true => Some(event.state_after.clone()),
            false => store.event(id).map(|e| e.state_after.clone()),
        })
        .collect()
}
