//! Rooms in SQLite: [`SqliteRoomStore`] implements `dag::room::RoomStore` over a connection on
//! the database thread, so local events and events from peers take the same commit path.
//!
//! Each commit is one SQLite transaction: the event (canonical JSON and CBOR wire form) gets
//! the next position of the `events` stream, its DAG edges, its state group, and the room's
//! heads, current state and membership index move with it. State after an event is stored as
//! a state group: an event that changes no state shares its parent's group, a state event makes
//! a group holding only the difference from its parent's, and every [`MAX_STATE_CHAIN`] deltas
//! a full snapshot bounds the cost of decoding one. Decoded groups, events and room
//! bookkeeping live in a bounded [`RoomCache`] that outlives the store handle; nothing is loaded
//! at startup.
//!
//! `RoomStore::commit` cannot fail, so a failed write is recorded and the caller asks
//! [`SqliteRoomStore::finish`] whether everything it committed is durable. Each commit is a
//! savepoint: durable at once in autocommit mode, or when the caller's enclosing transaction
//! commits (group commit of a batch).

use std::cell::RefCell;
use std::sync::Arc;

use dag::room::{EventStatus, RoomCommit, RoomInfo, RoomStore, State, StoredEvent};
use dag::state_res::StateMap;
use dag::{Pdu, RoomEvent, RoomVersion};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::cache::RecentCache;
use super::client_data::claim_transaction_id;
use super::{StoreError, next_stream_position, now_ms};
use crate::rooms::power::may_redact;

pub const EVENTS_STREAM: &str = "events";
/// Deltas between full snapshots of a room's state.
pub const MAX_STATE_CHAIN: i64 = 32;
const CACHED_EVENTS: usize = 20_000;
const CACHED_STATE_GROUPS: usize = 4_096;
const CACHED_ROOMS: usize = 1_024;

/// Decoded rooms, events and state groups, shared by every [`SqliteRoomStore`] of one database.
/// Only the database thread uses it.
#[derive(Debug)]
pub struct RoomCache {
    events: RecentCache<String, Arc<StoredEvent>>,
    groups: RecentCache<i64, Arc<StateMap<String>>>,
    rooms: RecentCache<String, RoomInfo>,
}

impl Default for RoomCache {
    fn default() -> Self {
        RoomCache {
            events: RecentCache::new(CACHED_EVENTS),
            groups: RecentCache::new(CACHED_STATE_GROUPS),
            rooms: RecentCache::new(CACHED_ROOMS),
        }
    }
}

/// An event a commit made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEvent {
    pub event_id: String,
    pub room_id: String,
    pub stream_pos: i64,
    pub status: EventStatus,
}

/// The device and transaction ID of the client request that produces the next event.
#[derive(Debug, Clone)]
pub struct LocalOrigin {
    pub user_id: String,
    pub device_id: String,
    /// The `transaction_ids` scope the event ID is recorded under.
    pub scope: String,
    pub txn_id: String,
}

pub struct SqliteRoomStore<'a> {
    connection: &'a mut Connection,
    cache: RefCell<&'a mut RoomCache>,
    failure: RefCell<Option<StoreError>>,
    committed: Vec<CommittedEvent>,
    local_origin: Option<LocalOrigin>,
}

impl<'a> SqliteRoomStore<'a> {
    pub fn new(connection: &'a mut Connection, cache: &'a mut RoomCache) -> Self {
        SqliteRoomStore {
            connection,
            cache: RefCell::new(cache),
            failure: RefCell::new(None),
            committed: Vec::new(),
            local_origin: None,
        }
    }

    /// Records `origin` with the next committed event whose sender is `origin.user_id`.
    pub fn set_local_origin(&mut self, origin: LocalOrigin) {
        self.local_origin = Some(origin);
    }

    /// Forgets an origin no commit used (the event was refused), so it cannot attach to a
    /// later event of the same job.
    pub fn clear_local_origin(&mut self) {
        self.local_origin = None;
    }

    pub fn connection(&self) -> &Connection {
        self.connection
    }

    /// The events committed, and the first storage error if there was one: the commit that
    /// failed was rolled back and no later commit was attempted.
    pub fn finish(self) -> (Vec<CommittedEvent>, Option<StoreError>) {
        (self.committed, self.failure.into_inner())
    }

    /// Whether a storage error happened; later reads and commits may be incomplete.
    pub fn has_failed(&self) -> bool {
        self.failure.borrow().is_some()
    }

    fn record_failure(&self, error: StoreError) {
        tracing::error!(error = %crate::api::error::error_chain(&error), "room store failed");
        self.failure.borrow_mut().get_or_insert(error);
    }

    /// A decoded state group.
    pub fn state_group(&self, group: i64) -> Option<Arc<StateMap<String>>> {
        let mut cache = self.cache.borrow_mut();
        load_group(self.connection, &mut cache, group).map_or_else(
            |error| {
                drop(cache);
                self.record_failure(error);
                None
            },
            Some,
        )
    }
}

impl RoomStore for SqliteRoomStore<'_> {
    fn event(&self, event_id: &str) -> Option<Arc<StoredEvent>> {
        let mut cache = self.cache.borrow_mut();
        load_event(self.connection, &mut cache, event_id).unwrap_or_else(|error| {
            drop(cache);
            self.record_failure(error);
            None
        })
    }

    fn room(&self, room_id: &str) -> Option<RoomInfo> {
        let mut cache = self.cache.borrow_mut();
        load_room(self.connection, &mut cache, room_id).unwrap_or_else(|error| {
            drop(cache);
            self.record_failure(error);
            None
        })
    }

    fn room_ids(&self) -> Vec<String> {
        room_ids(self.connection).unwrap_or_else(|error| {
            self.record_failure(error);
            Vec::new()
        })
    }

    fn event_at_or_below_depth(&self, room_id: &str, depth: u64) -> Option<String> {
        let depth = i64::try_from(depth).unwrap_or(i64::MAX);
        let found = self
            .connection
            .query_row(
                "SELECT event_id FROM events WHERE room_id = ?1 AND depth <= ?2 AND rejected = 0
                 ORDER BY depth DESC, stream_pos DESC LIMIT 1",
                params![room_id, depth],
                |row| row.get(0),
            )
            .optional();
        found.unwrap_or_else(|error| {
            self.record_failure(error.into());
            None
        })
    }

    fn commit(&mut self, commit: RoomCommit) {
        if self.has_failed() {
            return;
        }
        let commit = whole_snapshots(commit);
        let room_id = commit.room.room_id.clone();
        let previous = self.room(&room_id);
        let origin = self
            .local_origin
            .take_if(|origin| origin.user_id == commit.event.pdu.sender());
        let written = write_commit(
            self.connection,
            &mut self.cache.borrow_mut(),
            &commit,
            previous.as_ref(),
            origin.as_ref(),
        );
        let mut cache = self.cache.borrow_mut();
        match written {
            Ok(stream_pos) => {
                let event_id = commit.event.pdu.event_id().to_owned();
                self.committed.push(CommittedEvent {
                    event_id: event_id.clone(),
                    room_id: room_id.clone(),
                    stream_pos,
                    status: commit.event.status,
                });
                cache.events.insert(event_id, Arc::new(commit.event));
                cache.rooms.insert(room_id, commit.room);
            }
            Err(error) => {
                // Groups decoded during the failed transaction may name rolled-back rows.
                cache.groups.clear();
                cache.rooms.remove(&room_id);
                drop(cache);
                self.record_failure(error);
            }
        }
    }
}

fn write_commit(
    connection: &mut Connection,
    cache: &mut RoomCache,
    commit: &RoomCommit,
    previous: Option<&RoomInfo>,
    origin: Option<&LocalOrigin>,
) -> Result<i64, StoreError> {
    // A savepoint is a transaction of its own in autocommit mode, and a nested one inside a
    // batch (see `in_one_transaction` in the room service).
    let transaction = connection.savepoint()?;
    let event = &commit.event;
    let pdu = &*event.pdu;
    let room = &commit.room;
    let stream_pos = next_stream_position(&transaction, EVENTS_STREAM)?;
    transaction
        .prepare_cached(
            "INSERT INTO rooms (room_id, room_version, created_ts) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        )?
        .execute(params![room.room_id, room.version.as_str(), now_ms()])?;
    let group = state_group_for(
        &transaction,
        cache,
        pdu,
        &room.room_id,
        &event.state_after.to_shared(),
    )?;
    let event_nid = insert_event(&transaction, pdu, &room.room_id, event, stream_pos, group)?;
    replace_heads(
        &transaction,
        "forward_extremities",
        room,
        &room.forward_extremities,
    )?;
    replace_heads(&transaction, "sync_heads", room, &room.sync_heads)?;
    let old_state = previous.map(|info| info.current_state.to_shared());
    update_current_state(&transaction, cache, room, old_state, pdu, stream_pos)?;
    if let Some(origin) = origin {
        record_origin(&transaction, origin, event_nid, pdu.event_id())?;
    }
    if event.status == EventStatus::Accepted {
        apply_redactions(&transaction, cache, event)?;
    }
    transaction.commit()?;
    Ok(stream_pos)
}

fn insert_event(
    transaction: &Connection,
    pdu: &Pdu,
    room_id: &str,
    event: &StoredEvent,
    stream_pos: i64,
    group: i64,
) -> Result<i64, StoreError> {
    let redacts = (pdu.event_type() == "m.room.redaction")
        .then(|| pdu.redacts())
        .flatten();
    let mut insert = transaction.prepare_cached(
        "INSERT INTO events (event_id, room_id, event_type, state_key, sender, origin_server_ts,
             depth, canonical_json, wire, stream_pos, state_after, rejected, soft_failed, redacts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         RETURNING event_nid",
    )?;
    let event_nid: i64 = insert.query_row(
        params![
            pdu.event_id(),
            room_id,
            pdu.event_type(),
            pdu.state_key(),
            pdu.sender(),
            i64::try_from(pdu.origin_server_ts()).unwrap_or(i64::MAX),
            i64::try_from(pdu.depth()).unwrap_or(i64::MAX),
            pdu.canonical_json(),
            dag::wire::encode_pdu_with(pdu, &dag::wire::NoRefs),
            stream_pos,
            group,
            event.status == EventStatus::Rejected,
            event.status == EventStatus::SoftFailed,
            redacts,
        ],
        |row| row.get(0),
    )?;
    let mut prev = transaction.prepare_cached(
        "INSERT OR IGNORE INTO event_edges (event_nid, prev_event_id) VALUES (?1, ?2)",
    )?;
    for id in pdu.prev_events() {
        prev.execute(params![event_nid, id])?;
    }
    let mut auth = transaction.prepare_cached(
        "INSERT OR IGNORE INTO event_auth_edges (event_nid, auth_event_id) VALUES (?1, ?2)",
    )?;
    for id in pdu.auth_events() {
        auth.execute(params![event_nid, id])?;
    }
    Ok(event_nid)
}

fn replace_heads(
    transaction: &Connection,
    table: &str,
    room: &RoomInfo,
    heads: &[String],
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(&format!("DELETE FROM {table} WHERE room_id = ?1"))?
        .execute([&room.room_id])?;
    let mut insert = transaction.prepare_cached(&format!(
        "INSERT INTO {table} (room_id, event_id) VALUES (?1, ?2)"
    ))?;
    for head in heads {
        insert.execute(params![room.room_id, head])?;
    }
    Ok(())
}

/// The commit with its states as whole maps. dag's states are a snapshot plus recent changes;
/// this store shares states through its groups instead, which compare and diff whole maps, so
/// it flattens each state once here (what a state event cost before dag shared snapshots).
fn whole_snapshots(mut commit: RoomCommit) -> RoomCommit {
    let after = commit.event.state_after.to_shared();
    let current = match commit.room.current_state.same(&commit.event.state_after) {
        true => Arc::clone(&after),
        false => commit.room.current_state.to_shared(),
    };
    commit.event.state_after = State::from(after);
    commit.room.current_state = State::from(current);
    commit
}

/// Brings the `current_state` rows and the membership index to the room's new current state.
fn update_current_state(
    transaction: &Connection,
    cache: &mut RoomCache,
    room: &RoomInfo,
    old: Option<Arc<StateMap<String>>>,
    pdu: &Pdu,
    stream_pos: i64,
) -> Result<(), StoreError> {
    let old = old.unwrap_or_default();
    let new = &room.current_state.to_shared();
    if Arc::ptr_eq(&old, new) {
        return Ok(());
    }
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO current_state (room_id, event_type, state_key, event_id, changed_pos)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET
             event_id = excluded.event_id, changed_pos = excluded.changed_pos",
    )?;
    for ((event_type, state_key), event_id) in new.iter() {
        if old.get(&(event_type.clone(), state_key.clone())) == Some(event_id) {
            continue;
        }
        upsert.execute(params![
            room.room_id,
            event_type,
            state_key,
            event_id,
            stream_pos
        ])?;
        if event_type == "m.room.member" {
            let membership = if event_id == pdu.event_id() {
                membership_of(pdu)
            } else {
                load_event(transaction, cache, event_id)?
                    .map(|member| membership_of(&member.pdu))
                    .unwrap_or_default()
            };
            set_membership(
                transaction,
                room,
                state_key,
                &membership,
                event_id,
                stream_pos,
            )?;
        }
    }
    let mut delete = transaction.prepare_cached(
        "DELETE FROM current_state WHERE room_id = ?1 AND event_type = ?2 AND state_key = ?3",
    )?;
    for (event_type, state_key) in old.keys().filter(|key| !new.contains_key(*key)) {
        delete.execute(params![room.room_id, event_type, state_key])?;
        if event_type == "m.room.member" {
            transaction
                .prepare_cached("DELETE FROM room_memberships WHERE room_id = ?1 AND user_id = ?2")?
                .execute(params![room.room_id, state_key])?;
        }
    }
    Ok(())
}

fn membership_of(pdu: &Pdu) -> String {
    pdu.content()
        .get("membership")
        .and_then(Value::as_str)
        .unwrap_or("leave")
        .to_owned()
}

fn set_membership(
    transaction: &Connection,
    room: &RoomInfo,
    user_id: &str,
    membership: &str,
    event_id: &str,
    stream_pos: i64,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_pos)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
                 event_id = excluded.event_id, stream_pos = excluded.stream_pos",
        )?
        .execute(params![
            room.room_id,
            user_id,
            membership,
            event_id,
            stream_pos
        ])?;
    Ok(())
}

fn record_origin(
    transaction: &Connection,
    origin: &LocalOrigin,
    event_nid: i64,
    event_id: &str,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "INSERT INTO event_transactions (event_nid, device_id, txn_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![event_nid, origin.device_id, origin.txn_id])?;
    claim_transaction_id(
        transaction,
        &origin.user_id,
        &origin.device_id,
        &origin.scope,
        &origin.txn_id,
        Some(event_id),
    )?;
    Ok(())
}

/// Marks what the event redacts, or what redacts it, where "handling redactions" lets the
/// redaction take effect (same sender, or a sender with the redact power level).
fn apply_redactions(
    transaction: &Connection,
    cache: &mut RoomCache,
    event: &StoredEvent,
) -> Result<(), StoreError> {
    let pdu = &*event.pdu;
    if pdu.event_type() == "m.room.redaction"
        && let Some(target_id) = pdu.redacts()
        && let Some(target) = load_event(transaction, cache, target_id)?
        && redaction_applies(transaction, cache, event, &target.pdu)?
    {
        mark_redacted(transaction, target_id, pdu.event_id())?;
    }
    let redactions: Vec<String> = transaction
        .prepare_cached(
            "SELECT event_id FROM events
             WHERE redacts = ?1 AND rejected = 0 AND soft_failed = 0 ORDER BY stream_pos",
        )?
        .query_map([pdu.event_id()], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for redaction_id in redactions {
        if let Some(redaction) = load_event(transaction, cache, &redaction_id)?
            && redaction_applies(transaction, cache, &redaction, pdu)?
        {
            mark_redacted(transaction, pdu.event_id(), &redaction_id)?;
            break;
        }
    }
    Ok(())
}

fn redaction_applies(
    connection: &Connection,
    cache: &mut RoomCache,
    redaction: &StoredEvent,
    target: &Pdu,
) -> Result<bool, StoreError> {
    if redaction.pdu.sender() == target.sender() {
        return Ok(true);
    }
    let state = &redaction.state_after;
    let mut state_event = |event_type: &str| -> Result<Option<Arc<StoredEvent>>, StoreError> {
        match state.get(&(event_type.to_owned(), String::new())) {
            Some(id) => load_event(connection, cache, id),
            None => Ok(None),
        }
    };
    let create = state_event("m.room.create")?;
    let power_levels = state_event("m.room.power_levels")?;
    Ok(may_redact(
        redaction.pdu.version(),
        create.as_ref().map(|event| &*event.pdu),
        power_levels.as_ref().map(|event| event.pdu.content()),
        redaction.pdu.sender(),
    ))
}

fn mark_redacted(
    transaction: &Connection,
    target_id: &str,
    redaction_id: &str,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "UPDATE events SET redacted_by = ?2 WHERE event_id = ?1 AND redacted_by IS NULL",
        )?
        .execute(params![target_id, redaction_id])?;
    Ok(())
}

/// The group holding `state`: a parent's when the event changed nothing, else a new one.
fn state_group_for(
    transaction: &Connection,
    cache: &mut RoomCache,
    pdu: &Pdu,
    room_id: &str,
    state: &Arc<StateMap<String>>,
) -> Result<i64, StoreError> {
    let mut parents = Vec::new();
    for prev in pdu.prev_events() {
        if let Some(group) = event_group(transaction, prev)? {
            let parent_state = load_group(transaction, cache, group)?;
            if Arc::ptr_eq(&parent_state, state) || parent_state == *state {
                return Ok(group);
            }
            parents.push((group, parent_state));
        }
    }
    let group = new_group(transaction, room_id, parents.first(), state)?;
    cache.groups.insert(group, Arc::clone(state));
    Ok(group)
}

fn event_group(connection: &Connection, event_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT state_after FROM events WHERE event_id = ?1")?
        .query_row([event_id], |row| row.get(0))
        .optional()?
        .flatten())
}

/// Writes `state` as a delta from `base`, or as a snapshot when there is no base or its
/// chain of deltas is already [`MAX_STATE_CHAIN`] long.
fn new_group(
    transaction: &Connection,
    room_id: &str,
    base: Option<&(i64, Arc<StateMap<String>>)>,
    state: &StateMap<String>,
) -> Result<i64, StoreError> {
    let base = match base {
        Some((group, base_state)) => {
            let depth: i64 = transaction
                .prepare_cached("SELECT chain_depth FROM state_groups WHERE group_id = ?1")?
                .query_row([group], |row| row.get(0))?;
            (depth < MAX_STATE_CHAIN).then_some((*group, depth, base_state))
        }
        None => None,
    };
    let group: i64 = transaction
        .prepare_cached(
            "INSERT INTO state_groups (room_id, prev_group, chain_depth) VALUES (?1, ?2, ?3)
         RETURNING group_id",
        )?
        .query_row(
            params![
                room_id,
                base.map(|(group, _, _)| group),
                base.map_or(0, |(_, depth, _)| depth + 1)
            ],
            |row| row.get(0),
        )?;
    let mut insert = transaction.prepare_cached(
        "INSERT INTO state_group_deltas (group_id, event_type, state_key, event_id)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let empty = StateMap::new();
    let base_state = base.map_or(&empty, |(_, _, state)| &**state);
    for ((event_type, state_key), event_id) in state {
        if base_state.get(&(event_type.clone(), state_key.clone())) != Some(event_id) {
            insert.execute(params![group, event_type, state_key, event_id])?;
        }
    }
    for (event_type, state_key) in base_state.keys().filter(|key| !state.contains_key(*key)) {
        insert.execute(params![group, event_type, state_key, None::<String>])?;
    }
    Ok(group)
}

/// Decodes a state group: the nearest cached or snapshot ancestor plus the deltas after it.
pub fn load_group(
    connection: &Connection,
    cache: &mut RoomCache,
    group: i64,
) -> Result<Arc<StateMap<String>>, StoreError> {
    if let Some(state) = cache.groups.get(&group) {
        return Ok(state);
    }
    let mut chain = vec![group];
    let mut base = None;
    let mut prev_query =
        connection.prepare_cached("SELECT prev_group FROM state_groups WHERE group_id = ?1")?;
    loop {
        let current = chain[chain.len() - 1];
        let prev: Option<i64> = prev_query.query_row([current], |row| row.get(0))?;
        match prev {
            None => break,
            Some(prev) => match cache.groups.get(&prev) {
                Some(state) => {
                    base = Some(state);
                    break;
                }
                None if chain.len() as i64 > MAX_STATE_CHAIN + 1 => {
                    return Err(corrupt_group(group, "delta chain longer than allowed"));
                }
                None => chain.push(prev),
            },
        }
    }
    let mut state = base.map(|base| StateMap::clone(&base)).unwrap_or_default();
    let mut deltas = connection.prepare_cached(
        "SELECT event_type, state_key, event_id FROM state_group_deltas WHERE group_id = ?1",
    )?;
    for link in chain.iter().rev() {
        let rows = deltas.query_map([link], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (event_type, state_key, event_id) = row?;
            match event_id {
                Some(event_id) => state.insert((event_type, state_key), event_id),
                None => state.remove(&(event_type, state_key)),
            };
        }
    }
    let state = Arc::new(state);
    cache.groups.insert(group, Arc::clone(&state));
    Ok(state)
}

fn corrupt_group(group: i64, reason: &str) -> StoreError {
    StoreError::Corrupt {
        table: "state_groups",
        reason: format!("group {group}: {reason}"),
    }
}

/// A stored event with its status and state, from the cache or the database.
pub fn load_event(
    connection: &Connection,
    cache: &mut RoomCache,
    event_id: &str,
) -> Result<Option<Arc<StoredEvent>>, StoreError> {
    if let Some(event) = cache.events.get(event_id) {
        return Ok(Some(event));
    }
    let row = connection
        .prepare_cached(
            "SELECT e.canonical_json, r.room_version, e.rejected, e.soft_failed, e.state_after
             FROM events e JOIN rooms r USING (room_id) WHERE e.event_id = ?1",
        )?
        .query_row([event_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, bool>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let Some((json, version, rejected, soft_failed, group)) = row else {
        return Ok(None);
    };
    let pdu = parse_pdu(&json, &version)?;
    let state_after = match group {
        Some(group) => load_group(connection, cache, group)?,
        None => Arc::default(),
    };
    let status = match (rejected, soft_failed) {
        (true, _) => EventStatus::Rejected,
        (false, true) => EventStatus::SoftFailed,
        (false, false) => EventStatus::Accepted,
    };
    let event = Arc::new(StoredEvent {
        pdu: Arc::new(pdu),
        status,
        state_after: State::from(state_after),
    });
    cache.events.insert(event_id.to_owned(), Arc::clone(&event));
    Ok(Some(event))
}

/// A stored event's canonical JSON back into a `Pdu`.
pub fn parse_pdu(json: &str, version: &str) -> Result<Pdu, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table: "events",
        reason,
    };
    let version: RoomVersion = version.parse().map_err(|e| corrupt(format!("{e}")))?;
    let Ok(Value::Object(object)) = dag::canonical_json::parse(json) else {
        return Err(corrupt("canonical_json is not a JSON object".into()));
    };
    Pdu::from_json(version, object).map_err(|e| corrupt(format!("{e}")))
}

fn load_room(
    connection: &Connection,
    cache: &mut RoomCache,
    room_id: &str,
) -> Result<Option<RoomInfo>, StoreError> {
    if let Some(room) = cache.rooms.get(room_id) {
        return Ok(Some(room));
    }
    let version: Option<String> = connection
        .prepare_cached("SELECT room_version FROM rooms WHERE room_id = ?1")?
        .query_row([room_id], |row| row.get(0))
        .optional()?;
    let Some(version) = version else {
        return Ok(None);
    };
    let version: RoomVersion = version.parse().map_err(|e| StoreError::Corrupt {
        table: "rooms",
        reason: format!("{e}"),
    })?;
    let room = RoomInfo {
        room_id: room_id.to_owned(),
        version,
        forward_extremities: heads(connection, "forward_extremities", room_id)?,
        sync_heads: heads(connection, "sync_heads", room_id)?,
        current_state: current_state(connection, room_id)?.into_iter().collect(),
    };
    cache.rooms.insert(room_id.to_owned(), room.clone());
    Ok(Some(room))
}

fn heads(connection: &Connection, table: &str, room_id: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT event_id FROM {table} WHERE room_id = ?1 ORDER BY event_id"
    ))?;
    let heads = statement
        .query_map([room_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(heads)
}

/// A state entry: `(type, state_key)` and the event ID.
pub type StateEntry = ((String, String), String);

/// The room's current state.
pub fn current_state(
    connection: &Connection,
    room_id: &str,
) -> Result<Vec<StateEntry>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT event_type, state_key, event_id FROM current_state WHERE room_id = ?1",
    )?;
    let state = statement
        .query_map([room_id], |row| {
            Ok(((row.get(0)?, row.get(1)?), row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(state)
}

pub fn room_ids(connection: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached("SELECT room_id FROM rooms ORDER BY room_id")?;
    let ids = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

#[cfg(test)]
mod equivalence_tests;
