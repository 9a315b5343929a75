//! Reads of stored room events for clients: by stream position, by ID, the current state and
//! memberships. Rejected and soft-failed events are never shown to clients.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

/// One event as clients see it, before formatting.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub stream_pos: i64,
    /// Clients see the room ID on every event, though a v12 create event has none.
    pub room_id: String,
    pub room_version: String,
    pub canonical_json: String,
    pub state_group: Option<i64>,
    /// The redaction that took effect on this event, as canonical JSON.
    pub redaction_json: Option<String>,
    /// The device and transaction ID of a local sender's request.
    pub origin: Option<(String, String)>,
}

const SELECT_EVENT_ROW: &str = "SELECT e.stream_pos, r.room_version, e.canonical_json,
        e.state_after, red.canonical_json, t.device_id, t.txn_id, e.room_id
    FROM events e JOIN rooms r USING (room_id)
    LEFT JOIN events red ON red.event_id = e.redacted_by
    LEFT JOIN event_transactions t ON t.event_nid = e.event_nid";

fn event_row(row: &Row) -> rusqlite::Result<EventRow> {
    let device: Option<String> = row.get(5)?;
    let txn: Option<String> = row.get(6)?;
    Ok(EventRow {
        stream_pos: row.get(0)?,
        room_id: row.get(7)?,
        room_version: row.get(1)?,
        canonical_json: row.get(2)?,
        state_group: row.get(3)?,
        redaction_json: row.get(4)?,
        origin: device.zip(txn),
    })
}

/// Which way a page of events goes through the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Backward,
    Forward,
}

/// Up to `limit` client-visible events of the room with `after < stream_pos <= upto`, taken
/// from the end nearest `from`: backward pages start at `upto`, forward pages at `after`.
/// Backward pages come newest first, forward pages oldest first.
pub fn room_events(
    connection: &Connection,
    room_id: &str,
    after: i64,
    upto: i64,
    direction: Direction,
    limit: usize,
) -> Result<Vec<EventRow>, StoreError> {
    let order = match direction {
        Direction::Backward => "DESC",
        Direction::Forward => "ASC",
    };
    let sql = format!(
        "{SELECT_EVENT_ROW} WHERE e.room_id = ?1 AND e.stream_pos > ?2 AND e.stream_pos <= ?3
         AND e.rejected = 0 AND e.soft_failed = 0 ORDER BY e.stream_pos {order} LIMIT ?4"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement
        .query_map(params![room_id, after, upto, limit], event_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A client-visible event of the room by ID.
pub fn event_by_id(
    connection: &Connection,
    room_id: &str,
    event_id: &str,
) -> Result<Option<EventRow>, StoreError> {
    let sql = format!(
        "{SELECT_EVENT_ROW} WHERE e.event_id = ?1 AND e.room_id = ?2
         AND e.rejected = 0 AND e.soft_failed = 0"
    );
    Ok(connection
        .prepare_cached(&sql)?
        .query_row(params![event_id, room_id], event_row)
        .optional()?)
}

/// The events of the room's current state.
pub fn current_state_events(
    connection: &Connection,
    room_id: &str,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "{SELECT_EVENT_ROW} JOIN current_state c ON c.event_id = e.event_id
         WHERE c.room_id = ?1 ORDER BY e.stream_pos"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement
        .query_map([room_id], event_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The current state entries of the room that changed after the events stream position
/// `since`, in stream order: new state events, and older ones that state resolution made
/// current again.
pub fn current_state_changed_since(
    connection: &Connection,
    room_id: &str,
    since: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "{SELECT_EVENT_ROW} JOIN current_state c ON c.event_id = e.event_id
         WHERE c.room_id = ?1 AND c.changed_pos > ?2 ORDER BY e.stream_pos"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement
        .query_map(params![room_id, since], event_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The events of `state` (event IDs), in stream order.
pub fn events_by_ids(
    connection: &Connection,
    event_ids: &[String],
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!("{SELECT_EVENT_ROW} WHERE e.event_id = ?1");
    let mut statement = connection.prepare_cached(&sql)?;
    let mut rows = Vec::with_capacity(event_ids.len());
    for id in event_ids {
        if let Some(row) = statement.query_row([id], event_row).optional()? {
            rows.push(row);
        }
    }
    rows.sort_by_key(|row| row.stream_pos);
    Ok(rows)
}

/// A user's membership of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room_id: String,
    pub membership: String,
    pub event_id: String,
    /// Where in the events stream the membership last changed.
    pub stream_pos: i64,
}

/// Every room the user has a membership in and has not forgotten.
pub fn memberships_of(
    connection: &Connection,
    user_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id, membership, event_id, stream_pos FROM room_memberships AS m
         WHERE user_id = ?1 AND NOT EXISTS (
             SELECT 1 FROM forgotten_rooms AS f
             WHERE f.user_id = m.user_id AND f.room_id = m.room_id AND f.event_id = m.event_id)
         ORDER BY stream_pos",
    )?;
    let rows = statement
        .query_map([user_id], |row| {
            Ok(Membership {
                room_id: row.get(0)?,
                membership: row.get(1)?,
                event_id: row.get(2)?,
                stream_pos: row.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The user's current membership of the room, if any.
pub fn membership(
    connection: &Connection,
    room_id: &str,
    user_id: &str,
) -> Result<Option<Membership>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT room_id, membership, event_id, stream_pos FROM room_memberships
             WHERE room_id = ?1 AND user_id = ?2",
        )?
        .query_row([room_id, user_id], |row| {
            Ok(Membership {
                room_id: row.get(0)?,
                membership: row.get(1)?,
                event_id: row.get(2)?,
                stream_pos: row.get(3)?,
            })
        })
        .optional()?)
}

/// The user and everyone joined to a room the user is joined to.
pub fn users_sharing_rooms(
    connection: &Connection,
    user_id: &str,
) -> Result<BTreeSet<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT DISTINCT other.user_id FROM room_memberships mine
         JOIN room_memberships other ON other.room_id = mine.room_id
         WHERE mine.user_id = ?1 AND mine.membership = 'join' AND other.membership = 'join'",
    )?;
    let mut users: BTreeSet<String> = statement
        .query_map([user_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    users.insert(user_id.to_owned());
    Ok(users)
}

/// Current memberships that changed after `since`, in the rooms where the user has one.
pub fn membership_changes_since(
    connection: &Connection,
    user_id: &str,
    since: i64,
) -> Result<Vec<(String, Membership)>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT m.user_id, m.room_id, m.membership, m.event_id, m.stream_pos
         FROM room_memberships m
         WHERE m.stream_pos > ?2
           AND m.room_id IN (SELECT room_id FROM room_memberships WHERE user_id = ?1)
         ORDER BY m.stream_pos",
    )?;
    let changes = statement
        .query_map(params![user_id, since], |row| {
            let membership = Membership {
                room_id: row.get(1)?,
                membership: row.get(2)?,
                event_id: row.get(3)?,
                stream_pos: row.get(4)?,
            };
            Ok((row.get(0)?, membership))
        })?
        .collect::<Result<_, _>>()?;
    Ok(changes)
}

/// Users whose current membership of the room is `membership`.
pub fn members_with(
    connection: &Connection,
    room_id: &str,
    membership: &str,
) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id FROM room_memberships WHERE room_id = ?1 AND membership = ?2
         ORDER BY user_id",
    )?;
    let users = statement
        .query_map([room_id, membership], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(users)
}

/// How many users have `membership` in the room.
pub fn member_count(
    connection: &Connection,
    room_id: &str,
    membership: &str,
) -> Result<u64, StoreError> {
    let count: i64 = connection
        .prepare_cached(
            "SELECT count(*) FROM room_memberships WHERE room_id = ?1 AND membership = ?2",
        )?
        .query_row([room_id, membership], |row| row.get(0))?;
    Ok(count.unsigned_abs())
}

/// The stream position of an event of the room, if it is held.
pub fn stream_pos_of(
    connection: &Connection,
    room_id: &str,
    event_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT stream_pos FROM events WHERE event_id = ?1 AND room_id = ?2")?
        .query_row([event_id, room_id], |row| row.get(0))
        .optional()?)
}

/// The events (as stored JSON) from others after the user's read receipt that are not
/// redacted, oldest first, at most `cap` of them: what the push rules judge for unread counts.
pub fn unread_events(
    connection: &Connection,
    room_id: &str,
    user_id: &str,
    cap: i64,
) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT canonical_json FROM events
         WHERE room_id = ?1 AND sender != ?2
           AND rejected = 0 AND soft_failed = 0 AND redacted_by IS NULL
           AND stream_pos > coalesce((SELECT max(e.stream_pos) FROM receipts r
               JOIN events e ON e.event_id = r.event_id
               WHERE r.room_id = ?1 AND r.user_id = ?2
                 AND r.receipt_type IN ('m.read', 'm.read.private')), 0)
         ORDER BY stream_pos LIMIT ?3",
    )?;
    let events = statement
        .query_map(params![room_id, user_id, cap], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(events)
}

pub const RECEIPTS_STREAM: &str = "receipts";

/// Records the user's receipt, replacing the previous one of that type and thread.
pub fn put_receipt(
    connection: &Connection,
    room_id: &str,
    receipt_type: &str,
    thread_id: &str,
    user_id: &str,
    event_id: &str,
    ts: i64,
) -> Result<i64, StoreError> {
    let position = super::next_stream_position(connection, RECEIPTS_STREAM)?;
    connection.execute(
        "INSERT INTO receipts (room_id, receipt_type, thread_id, user_id, event_id, ts, stream_pos)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (room_id, receipt_type, thread_id, user_id) DO UPDATE SET
             event_id = excluded.event_id, ts = excluded.ts, stream_pos = excluded.stream_pos",
        params![
            room_id,
            receipt_type,
            thread_id,
            user_id,
            event_id,
            ts,
            position
        ],
    )?;
    Ok(position)
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub receipt_type: String,
    pub thread_id: String,
    pub user_id: String,
    pub event_id: String,
    pub ts: i64,
}

/// The room's receipts that changed after `since`.
pub fn receipts_since(
    connection: &Connection,
    room_id: &str,
    since: i64,
) -> Result<Vec<Receipt>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT receipt_type, thread_id, user_id, event_id, ts FROM receipts
         WHERE room_id = ?1 AND stream_pos > ?2 ORDER BY stream_pos",
    )?;
    let receipts = statement
        .query_map(params![room_id, since], |row| {
            Ok(Receipt {
                receipt_type: row.get(0)?,
                thread_id: row.get(1)?,
                user_id: row.get(2)?,
                event_id: row.get(3)?,
                ts: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(receipts)
}
