//! Reading rooms: `/messages`, `/context`, `/event`, state and members, each checked against
//! the reader's membership and the room's history visibility.

use dag::room::RoomStore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client_event::{ClientEvents, Viewer};
use super::members::{current_member_events, is_member_event, senders};
use super::visibility::may_see;
use super::{EventOrigin, RoomService};
use crate::api::MatrixError;
use crate::store::rooms::SqliteRoomStore;
use crate::store::timeline::{self, Direction, EventRow, Membership};
use crate::store::{StoreError, current_stream_position, now_ms, rooms::EVENTS_STREAM};

/// The most events one `/messages` or `/context` page returns.
pub const MAX_PAGE: usize = 1_000;
/// Rows a page may examine beyond its limit before it stops short (hidden or filtered events).
const MAX_SCANNED_EXTRA: usize = 2_000;

/// The event part of a `RoomEventFilter`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventFilter {
    pub limit: Option<u64>,
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub not_types: Vec<String>,
    pub senders: Option<Vec<String>>,
    #[serde(default)]
    pub not_senders: Vec<String>,
    /// Send only the member events of the events' senders (and for /sync, the user's own).
    #[serde(default)]
    pub lazy_load_members: bool,
}

impl EventFilter {
    pub fn allows(&self, event: &Value) -> bool {
        let event_type = event.get("type").and_then(Value::as_str).unwrap_or("");
        let sender = event.get("sender").and_then(Value::as_str).unwrap_or("");
        let type_matches = |patterns: &[String]| patterns.iter().any(|p| glob_match(p, event_type));
        self.types.as_deref().is_none_or(type_matches)
            && !type_matches(&self.not_types)
            && self
                .senders
                .as_ref()
                .is_none_or(|senders| senders.iter().any(|s| s == sender))
            && !self.not_senders.iter().any(|s| s == sender)
    }
}

/// Filter type patterns: `*` matches any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, rest)) => text.strip_prefix(prefix).is_some_and(|tail| {
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_match(rest, &tail[i..]))
        }),
    }
}

/// A pagination token: a position between events of the events stream. `t12` (ours) and the
/// events part of a sync token (`s12_…`) are both accepted.
pub fn parse_stream_token(token: &str) -> Result<i64, MatrixError> {
    let digits = token
        .strip_prefix('t')
        .or_else(|| token.strip_prefix('s'))
        .map(|rest| rest.split('_').next().unwrap_or(""))
        .unwrap_or("");
    digits
        .parse::<i64>()
        .ok()
        .filter(|position| *position >= 0)
        .ok_or_else(|| MatrixError::invalid_param(format!("Invalid pagination token {token:?}")))
}

pub fn stream_token(position: i64) -> String {
    format!("t{position}")
}

/// Who reads, and their membership of the room.
pub struct Reader {
    pub user_id: String,
    pub device_id: String,
}

impl Reader {
    fn viewer(&self) -> Viewer<'_> {
        Viewer {
            user_id: &self.user_id,
            device_id: &self.device_id,
        }
    }

    /// Formats events for this reader as of now.
    fn client_events<'a, 's>(&'a self, store: &'a SqliteRoomStore<'s>) -> ClientEvents<'a, 's> {
        ClientEvents::new(store, self.viewer(), now_ms())
    }
}

/// The reader's standing in a room: unknown room → 404; never a member of a room that is not
/// world-readable → 403.
pub(super) fn reader_membership(
    store: &SqliteRoomStore,
    room_id: &str,
    user_id: &str,
) -> Result<Option<Membership>, MatrixError> {
    let Some(room) = store.room(room_id) else {
        return Err(MatrixError::not_found("Unknown room"));
    };
    let membership = timeline::membership(store.connection(), room_id, user_id)?;
    if membership.is_none() && !world_readable(store, &room.current_state) {
        return Err(MatrixError::forbidden("You are not a member of this room"));
    }
    Ok(membership)
}

pub(super) fn world_readable(store: &SqliteRoomStore, state: &dag::room::State) -> bool {
    state
        .get(&("m.room.history_visibility".to_owned(), String::new()))
        .and_then(|id| store.event(id))
        .is_some_and(|event| {
            event.pdu.json()["content"]["history_visibility"].as_str() == Some("world_readable")
        })
}

pub(super) fn is_joined(membership: &Option<Membership>) -> bool {
    membership.as_ref().is_some_and(|m| m.membership == "join")
}

/// The state a reader may see: the current state while joined, else the state after their
/// last membership event (the moment they left).
fn readable_state(
    store: &SqliteRoomStore,
    room_id: &str,
    membership: &Option<Membership>,
) -> Result<Vec<EventRow>, MatrixError> {
    match membership {
        Some(m) if m.membership != "join" => {
            let state = store.event(&m.event_id).map(|e| e.state_after.clone());
            let ids: Vec<String> = state.iter().flat_map(|s| s.values().cloned()).collect();
            Ok(timeline::events_by_ids(store.connection(), &ids)?)
        }
        _ => Ok(timeline::current_state_events(store.connection(), room_id)?),
    }
}

/// Parameters of `/messages`.
pub struct MessagesRequest {
    pub from: Option<String>,
    pub to: Option<String>,
    pub direction: Direction,
    pub limit: usize,
    pub filter: EventFilter,
}

/// One page of visible, filtered events and the position after the last one examined, or
/// `None` when the stream is exhausted in that direction.
struct Page {
    events: Vec<Value>,
    next: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
fn page(
    store: &SqliteRoomStore,
    reader: &Reader,
    room_id: &str,
    joined: bool,
    (mut lower, mut upper): (i64, i64),
    direction: Direction,
    limit: usize,
    filter: &EventFilter,
) -> Result<Page, StoreError> {
    let formatter = reader.client_events(store);
    let mut events = Vec::new();
    let mut scanned = 0;
    while events.len() < limit && lower < upper {
        if scanned > limit + MAX_SCANNED_EXTRA {
            let next = if direction == Direction::Backward {
                upper
            } else {
                lower
            };
            return Ok(Page {
                events,
                next: Some(next),
            });
        }
        let batch = (limit - events.len()).max(16);
        let rows =
            timeline::room_events(store.connection(), room_id, lower, upper, direction, batch)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            scanned += 1;
            match direction {
                Direction::Backward => upper = row.stream_pos - 1,
                Direction::Forward => lower = row.stream_pos,
            }
            if !may_see(store, row, &reader.user_id, joined) {
                continue;
            }
            if let Some(event) = formatter.event(row)
                && filter.allows(&event)
            {
                events.push(event);
                if events.len() == limit {
                    break;
                }
            }
        }
    }
    let next = match direction {
        Direction::Backward => (events.len() == limit && lower < upper).then_some(upper),
        Direction::Forward => (events.len() == limit && lower < upper).then_some(lower),
    };
    Ok(Page { events, next })
}

impl RoomService {
    /// `/rooms/{roomId}/messages`.
    pub async fn messages(
        &self,
        reader: Reader,
        room_id: String,
        request: MessagesRequest,
    ) -> Result<Value, MatrixError> {
        self.with_room_store(EventOrigin::Local, move |store| {
            let membership = reader_membership(store, &room_id, &reader.user_id)?;
            let joined = is_joined(&membership);
            let head = current_stream_position(store.connection(), EVENTS_STREAM)?;
            let from = request
                .from
                .as_deref()
                .map(parse_stream_token)
                .transpose()?;
            let to = request.to.as_deref().map(parse_stream_token).transpose()?;
            let limit = request.limit.clamp(1, MAX_PAGE);
            let (bounds, start) = match request.direction {
                Direction::Backward => {
                    let from = from.unwrap_or(head).min(head);
                    ((to.unwrap_or(0), from), from)
                }
                Direction::Forward => {
                    let from = from.unwrap_or(0);
                    ((from, to.unwrap_or(head).min(head)), from)
                }
            };
            let page = page(
                store,
                &reader,
                &room_id,
                joined,
                bounds,
                request.direction,
                limit,
                &request.filter,
            )?;
            let mut response = json!({"chunk": page.events, "start": stream_token(start)});
            if let Some(next) = page.next {
                response["end"] = json!(stream_token(next));
            }
            if request.filter.lazy_load_members {
                let members = senders_members(store, &reader, &room_id, &membership, &page.events)?;
                response["state"] = json!(members);
            }
            Ok(response)
        })
        .await?
    }

    /// `/rooms/{roomId}/context/{eventId}`.
    pub async fn context(
        &self,
        reader: Reader,
        room_id: String,
        event_id: String,
        limit: usize,
        filter: EventFilter,
    ) -> Result<Value, MatrixError> {
        self.with_room_store(EventOrigin::Local, move |store| {
            let membership = reader_membership(store, &room_id, &reader.user_id)?;
            let joined = is_joined(&membership);
            let row = visible_event(store, &reader, &room_id, &event_id, joined)?;
            let head = current_stream_position(store.connection(), EVENTS_STREAM)?;
            let limit = limit.min(MAX_PAGE);
            let before_limit = limit / 2;
            let after_limit = limit - before_limit;
            let position = row.stream_pos;
            let bounds_before = (0, position - 1);
            let before = match before_limit {
                0 => Page {
                    events: Vec::new(),
                    next: Some(position - 1),
                },
                n => page(
                    store,
                    &reader,
                    &room_id,
                    joined,
                    bounds_before,
                    Direction::Backward,
                    n,
                    &filter,
                )?,
            };
            let after = match after_limit {
                0 => Page {
                    events: Vec::new(),
                    next: Some(position),
                },
                n => page(
                    store,
                    &reader,
                    &room_id,
                    joined,
                    (position, head),
                    Direction::Forward,
                    n,
                    &filter,
                )?,
            };
            let state = readable_state(store, &room_id, &membership)?;
            let formatter = reader.client_events(store);
            Ok(json!({
                "event": formatter.event(&row),
                "events_before": before.events,
                "events_after": after.events,
                "start": stream_token(before.next.unwrap_or(0)),
                "end": stream_token(after.next.unwrap_or(head)),
                "state": formatter.events(&state),
            }))
        })
        .await?
    }

    /// `/rooms/{roomId}/event/{eventId}`.
    pub async fn event(
        &self,
        reader: Reader,
        room_id: String,
        event_id: String,
    ) -> Result<Value, MatrixError> {
        self.with_room_store(EventOrigin::Local, move |store| {
            let membership = reader_membership(store, &room_id, &reader.user_id)?;
            let row = visible_event(store, &reader, &room_id, &event_id, is_joined(&membership))?;
            reader
                .client_events(store)
                .event(&row)
                .ok_or_else(|| MatrixError::internal(format!("unreadable stored event {event_id}")))
        })
        .await?
    }

    /// The events of the state the reader may see (`GET /rooms/{roomId}/state`).
    pub async fn state(&self, reader: Reader, room_id: String) -> Result<Vec<Value>, MatrixError> {
        self.with_room_store(EventOrigin::Local, move |store| {
            let membership = reader_membership(store, &room_id, &reader.user_id)?;
            let rows = readable_state(store, &room_id, &membership)?;
            Ok(reader.client_events(store).events(&rows))
        })
        .await?
    }

    /// `/rooms/{roomId}/members`: the member events of the state the reader may see.
    pub async fn members(
        &self,
        reader: Reader,
        room_id: String,
        membership: Option<String>,
        not_membership: Option<String>,
    ) -> Result<Vec<Value>, MatrixError> {
        let events = self.state(reader, room_id).await?;
        Ok(events
            .into_iter()
            .filter(|event| event["type"] == "m.room.member")
            .filter(|event| {
                let value = event["content"]["membership"].as_str();
                membership.as_deref().is_none_or(|m| value == Some(m))
                    && not_membership.as_deref().is_none_or(|m| value != Some(m))
            })
            .collect())
    }

    /// The rooms the user is joined to.
    pub async fn joined_rooms(&self, user_id: String) -> Result<Vec<String>, MatrixError> {
        Ok(self
            .store()
            .call(move |connection| timeline::memberships_of(connection, &user_id))
            .await?
            .into_iter()
            .filter(|m| m.membership == "join")
            .map(|m| m.room_id)
            .collect())
    }

    /// The user's current membership of a room, if any.
    pub async fn membership(
        &self,
        room_id: String,
        user_id: String,
    ) -> Result<Option<Membership>, MatrixError> {
        Ok(self
            .store()
            .call(move |connection| timeline::membership(connection, &room_id, &user_id))
            .await?)
    }
}

/// The member events, in the state the reader may see, of the senders of `events`: what a
/// client that lazy-loads members needs to show them.
fn senders_members(
    store: &SqliteRoomStore,
    reader: &Reader,
    room_id: &str,
    membership: &Option<Membership>,
    events: &[Value],
) -> Result<Vec<Value>, MatrixError> {
    let wanted = senders(events);
    let formatter = reader.client_events(store);
    if is_joined(membership) {
        return Ok(current_member_events(store, &formatter, room_id, &wanted)?);
    }
    let state = readable_state(store, room_id, membership)?;
    Ok(formatter
        .events(&state)
        .into_iter()
        .filter(|event| {
            is_member_event(event)
                && event["state_key"]
                    .as_str()
                    .is_some_and(|u| wanted.contains(u))
        })
        .collect())
}

fn visible_event(
    store: &SqliteRoomStore,
    reader: &Reader,
    room_id: &str,
    event_id: &str,
    joined: bool,
) -> Result<EventRow, MatrixError> {
    timeline::event_by_id(store.connection(), room_id, event_id)?
        .filter(|row| may_see(store, row, &reader.user_id, joined))
        .ok_or_else(|| MatrixError::not_found("Event not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_sync_tokens_are_accepted() {
        assert_eq!(parse_stream_token(&stream_token(42)).unwrap(), 42);
        assert_eq!(parse_stream_token("s17_3_0_0_1").unwrap(), 17);
        for bad in ["", "x1", "t", "t-1", "tabc"] {
            assert!(parse_stream_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_match_types_with_wildcards_and_senders() {
        let event = json!({"type": "m.room.message", "sender": "@a:x"});
        let filter = |value: Value| serde_json::from_value::<EventFilter>(value).unwrap();
        assert!(filter(json!({})).allows(&event));
        assert!(filter(json!({"types": ["m.room.*"]})).allows(&event));
        assert!(!filter(json!({"not_types": ["m.*"]})).allows(&event));
        assert!(!filter(json!({"senders": ["@b:x"]})).allows(&event));
        assert!(!filter(json!({"not_senders": ["@a:x"]})).allows(&event));
    }
}
