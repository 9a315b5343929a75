//! `/sync`: everything that changed for a device between two positions of the node's streams.
//! A token is `s{events}_{account_data}_{to_device}_{receipts}_{typing}_{device_lists}_{presence}`
//! (tokens of five parts, from before device lists and presence, are still read); an absent
//! token is an initial sync. The database part of the response is computed in one job, so it
//! is consistent.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client_event::{ClientEvents, Viewer, client_event, client_events, stripped_event};
use super::device_lists::{DeviceListUpdates, device_list_updates};
use super::members::{current_member_events, is_member_event, room_summary, senders};
use super::notifications::{UnreadCounts, UserPushRules, unread_counts};
use super::timeline::{EventFilter, stream_token};
use super::visibility::may_see;
use super::{EventOrigin, RoomService};
use crate::api::MatrixError;
use crate::push::{self, Ruleset};
use crate::store::client_data::{ACCOUNT_DATA_STREAM, account_data_since};
use crate::store::e2ee::{
    DEVICE_KEYS_STREAM, delete_to_device_messages, one_time_key_counts, to_device_messages,
    unused_fallback_key_algorithms,
};
use crate::store::rooms::{EVENTS_STREAM, SqliteRoomStore};
use crate::store::timeline::{
    self, Direction, EventRow, Membership, RECEIPTS_STREAM, receipts_since, users_sharing_rooms,
};
use crate::store::{StoreError, current_stream_position, now_ms};

/// Timeline events per room when the filter sets no limit.
pub const DEFAULT_TIMELINE_LIMIT: usize = 10;
pub const MAX_TIMELINE_LIMIT: usize = 500;
/// To-device messages per response; the rest come with the next sync.
const TO_DEVICE_BATCH: usize = 100;
/// Stripped state an invitee sees of the room.
const INVITE_STATE_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

/// Stream positions; the `since` and `next_batch` of a sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncToken {
    pub events: i64,
    pub account_data: i64,
    pub to_device: i64,
    pub receipts: i64,
    pub typing: u64,
    pub device_lists: i64,
    pub presence: u64,
}

impl SyncToken {
    pub fn parse(text: &str) -> Result<SyncToken, MatrixError> {
        let invalid = || MatrixError::invalid_param(format!("Invalid sync token {text:?}"));
        let mut parts: Vec<&str> = text
            .strip_prefix('s')
            .ok_or_else(invalid)?
            .split('_')
            .collect();
        if parts.len() == 5 {
            // A token from before device lists and presence: nothing of them seen yet.
            parts.extend(["0", "0"]);
        }
        let [
            events,
            account_data,
            to_device,
            receipts,
            typing,
            device_lists,
            presence,
        ] = parts[..]
        else {
            return Err(invalid());
        };
        let number = |part: &str| {
            part.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(invalid)
        };
        Ok(SyncToken {
            events: number(events)?,
            account_data: number(account_data)?,
            to_device: number(to_device)?,
            receipts: number(receipts)?,
            typing: typing.parse().map_err(|_| invalid())?,
            device_lists: number(device_lists)?,
            presence: presence.parse().map_err(|_| invalid())?,
        })
    }
}

impl std::fmt::Display for SyncToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s{}_{}_{}_{}_{}_{}_{}",
            self.events,
            self.account_data,
            self.to_device,
            self.receipts,
            self.typing,
            self.device_lists,
            self.presence
        )
    }
}

/// The parts of a sync filter that are honoured.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SyncFilter {
    #[serde(default)]
    pub room: RoomFilter,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoomFilter {
    #[serde(default)]
    pub timeline: EventFilter,
    #[serde(default)]
    pub state: EventFilter,
    /// Include rooms the user left in an initial sync.
    #[serde(default)]
    pub include_leave: bool,
}

pub struct SyncRequest {
    pub user_id: String,
    pub device_id: String,
    pub since: Option<SyncToken>,
    pub full_state: bool,
    /// Answer with `state_after` (the state changes up to the end of the timeline, which
    /// clients apply instead of the timeline's state events) in place of `state`.
    pub use_state_after: bool,
    pub filter: SyncFilter,
}

/// A computed sync and whether it carries anything a long-poll should return for.
pub struct SyncResponse {
    pub body: Value,
    pub is_empty: bool,
}

impl RoomService {
    /// One pass of /sync: what changed after `since` up to now.
    pub async fn sync_once(&self, request: SyncRequest) -> Result<SyncResponse, MatrixError> {
        let typing_serial = self.typing.serial();
        let mut response = self
            .with_room_store(EventOrigin::Local, move |store| {
                compute(store, &request, typing_serial)
            })
            .await??;
        self.add_typing(&mut response);
        self.add_presence(&mut response);
        Ok(response.into_response())
    }

    /// The presence of the users sharing a room with the user (and their own) that changed.
    fn add_presence(&self, response: &mut Computed) {
        let (serial, events) =
            self.presence
                .changes_since(&response.sharing, response.since_presence, now_ms());
        response.next.presence = serial;
        response.presence = events;
    }

    fn add_typing(&self, response: &mut Computed) {
        let (serial, changes) = self.typing.changes_since(
            response.joined.keys().map(String::as_str),
            response.since_typing,
            Instant::now(),
        );
        response.next.typing = serial;
        for (room_id, users) in changes {
            if let Some(room) = response.joined.get_mut(&room_id) {
                room.ephemeral
                    .push(json!({"type": "m.typing", "content": {"user_ids": users}}));
            }
        }
    }
}

/// A joined room's section of the response.
#[derive(Default)]
struct JoinedRoom {
    timeline: Vec<Value>,
    limited: bool,
    prev_batch: i64,
    state: Vec<Value>,
    ephemeral: Vec<Value>,
    account_data: Vec<Value>,
    summary: Value,
    unread: UnreadCounts,
    /// Whether the room has news of its own (not only typing or unread counts).
    changed: bool,
}

struct Computed {
    next: SyncToken,
    since_typing: u64,
    since_presence: u64,
    /// The user and everyone joined to a room with them: whose presence they see.
    sharing: BTreeSet<String>,
    presence: Vec<Value>,
    device_lists: DeviceListUpdates,
    is_initial: bool,
    /// `state`, or `state_after` when the client asked for it.
    state_field: &'static str,
    joined: BTreeMap<String, JoinedRoom>,
    invited: Map<String, Value>,
    left: Map<String, Value>,
    account_data: Vec<Value>,
    to_device: Vec<Value>,
    one_time_keys: Value,
    fallback_types: Value,
}

impl Computed {
    fn into_response(self) -> SyncResponse {
        let mut is_empty = self.invited.is_empty()
            && self.left.is_empty()
            && self.account_data.is_empty()
            && self.to_device.is_empty()
            && self.presence.is_empty()
            && self.device_lists == DeviceListUpdates::default();
        let mut join = Map::new();
        for (room_id, room) in self.joined {
            if !(self.is_initial || room.changed || !room.ephemeral.is_empty()) {
                continue;
            }
            is_empty = false;
            let mut joined = json!({
                    "timeline": {
                        "events": room.timeline,
                        "limited": room.limited,
                        "prev_batch": stream_token(room.prev_batch),
                    },
                    "summary": room.summary,
                    "ephemeral": {"events": room.ephemeral},
                    "account_data": {"events": room.account_data},
                    "unread_notifications": {
                        "notification_count": room.unread.notifications,
                        "highlight_count": room.unread.highlights,
                    },
            });
            joined[self.state_field] = json!({"events": room.state});
            join.insert(room_id, joined);
        }
        let body = json!({
            "next_batch": self.next.to_string(),
            "rooms": {"join": join, "invite": self.invited, "leave": self.left, "knock": {}},
            "account_data": {"events": self.account_data},
            "to_device": {"events": self.to_device},
            "presence": {"events": self.presence},
            "device_lists": {
                "changed": self.device_lists.changed,
                "left": self.device_lists.left,
            },
            "device_one_time_keys_count": self.one_time_keys,
            "device_unused_fallback_key_types": self.fallback_types,
        });
        SyncResponse { body, is_empty }
    }
}

fn compute(
    store: &SqliteRoomStore,
    request: &SyncRequest,
    typing_serial: u64,
) -> Result<Computed, MatrixError> {
    let connection = store.connection();
    let since = request.since.unwrap_or_default();
    let is_initial = request.since.is_none();
    // The next sync acknowledges the to-device messages this one delivered.
    if !is_initial {
        delete_to_device_messages(
            connection,
            &request.user_id,
            &request.device_id,
            since.to_device,
        )?;
    }
    let mut next = SyncToken {
        events: current_stream_position(connection, EVENTS_STREAM)?,
        account_data: current_stream_position(connection, ACCOUNT_DATA_STREAM)?,
        to_device: since.to_device,
        receipts: current_stream_position(connection, RECEIPTS_STREAM)?,
        typing: typing_serial,
        device_lists: current_stream_position(connection, DEVICE_KEYS_STREAM)?,
        presence: since.presence,
    };
    let sharing = users_sharing_rooms(connection, &request.user_id)?;
    let device_lists = match is_initial {
        true => DeviceListUpdates::default(),
        false => device_list_updates(
            connection,
            &request.user_id,
            (since.events, since.device_lists),
            &sharing,
        )?,
    };
    let mut computed = Computed {
        next,
        since_typing: if is_initial { 0 } else { since.typing },
        since_presence: if is_initial { 0 } else { since.presence },
        sharing,
        presence: Vec::new(),
        device_lists,
        is_initial,
        state_field: state_field(request),
        joined: BTreeMap::new(),
        invited: Map::new(),
        left: Map::new(),
        account_data: Vec::new(),
        to_device: Vec::new(),
        one_time_keys: Value::Null,
        fallback_types: Value::Null,
    };
    let viewer = Viewer {
        user_id: &request.user_id,
        device_id: &request.device_id,
    };
    let limit = timeline_limit(&request.filter.room.timeline);
    let push_rules = UserPushRules::new(&request.user_id);
    for membership in timeline::memberships_of(connection, &request.user_id)? {
        let changed_membership = is_initial || membership.stream_pos > since.events;
        match membership.membership.as_str() {
            "join" => {
                let mut room = joined_room(
                    store,
                    request,
                    viewer,
                    &membership,
                    since,
                    next.events,
                    limit,
                )?;
                room.unread = unread_counts(store, &membership.room_id, &push_rules)?;
                computed.joined.insert(membership.room_id.clone(), room);
            }
            "invite" if changed_membership && membership.stream_pos <= next.events => {
                let invite = invite_state(store, &membership, viewer)?;
                computed.invited.insert(membership.room_id.clone(), invite);
            }
            "leave" | "ban"
                if (!is_initial || request.filter.room.include_leave)
                    && changed_membership
                    && membership.stream_pos <= next.events =>
            {
                let left = left_room(store, request, viewer, &membership, since, limit)?;
                computed.left.insert(membership.room_id.clone(), left);
            }
            _ => {}
        }
    }
    add_receipts(store, &request.user_id, &mut computed, since, is_initial)?;
    add_account_data(store, request, &mut computed, since)?;
    let messages = to_device_messages(
        connection,
        &request.user_id,
        &request.device_id,
        since.to_device,
        TO_DEVICE_BATCH,
    )?;
    if let Some(last) = messages.last() {
        next.to_device = last.stream_pos;
    }
    computed.to_device = messages
        .into_iter()
        .map(|message| {
            json!({
                "sender": message.sender,
                "type": message.event_type,
                "content": serde_json::from_str::<Value>(&message.content_json).unwrap_or_default(),
            })
        })
        .collect();
    let counts = one_time_key_counts(connection, &request.user_id, &request.device_id)?;
    computed.one_time_keys = json!(counts);
    let fallback =
        unused_fallback_key_algorithms(connection, &request.user_id, &request.device_id)?;
    computed.fallback_types = json!(fallback);
    computed.next = next;
    Ok(computed)
}

fn state_field(request: &SyncRequest) -> &'static str {
    if request.use_state_after {
        "state_after"
    } else {
        "state"
    }
}

fn timeline_limit(filter: &EventFilter) -> usize {
    filter
        .limit
        .and_then(|limit| usize::try_from(limit).ok())
        .unwrap_or(DEFAULT_TIMELINE_LIMIT)
        .clamp(1, MAX_TIMELINE_LIMIT)
}

/// The newest visible events of the room in `(after, upto]`, oldest first, whether older ones
/// were left out, and the position before the first one.
fn recent_timeline(
    store: &SqliteRoomStore,
    request: &SyncRequest,
    room_id: &str,
    (after, upto): (i64, i64),
    limit: usize,
    joined: bool,
) -> Result<(Vec<EventRow>, bool, i64), StoreError> {
    let filter = &request.filter.room.timeline;
    let mut rows = Vec::new();
    let mut upper = upto;
    let mut limited = false;
    let mut scanned = 0;
    while upper > after {
        let batch = timeline::room_events(
            store.connection(),
            room_id,
            after,
            upper,
            Direction::Backward,
            limit + 1,
        )?;
        let Some(last) = batch.last() else {
            break;
        };
        upper = last.stream_pos - 1;
        for row in batch {
            scanned += 1;
            if rows.len() == limit {
                limited = true;
                break;
            }
            let allowed = may_see(store, &row, &request.user_id, joined)
                && client_event(
                    &row,
                    Viewer {
                        user_id: "",
                        device_id: "",
                    },
                    0,
                )
                .is_some_and(|event| filter.allows(&event));
            if allowed {
                rows.push(row);
            }
        }
        if limited || scanned > limit * 4 + 100 {
            limited = limited || upper > after;
            break;
        }
    }
    rows.reverse();
    let prev_batch = rows.first().map_or(upto, |row| row.stream_pos - 1);
    Ok((rows, limited, prev_batch))
}

fn joined_room(
    store: &SqliteRoomStore,
    request: &SyncRequest,
    viewer: Viewer,
    membership: &Membership,
    since: SyncToken,
    upto: i64,
    limit: usize,
) -> Result<JoinedRoom, MatrixError> {
    let room_id = &membership.room_id;
    let is_initial = request.since.is_none();
    let joined_since = !is_initial && membership.stream_pos > since.events;
    let after = if is_initial || joined_since {
        0
    } else {
        since.events
    };
    let (rows, limited, prev_batch) =
        recent_timeline(store, request, room_id, (after, upto), limit, true)?;
    let formatter = ClientEvents::new(store, viewer, now_ms());
    let timeline_ids = formatter.events(&rows);
    let in_timeline = |event: &Value| {
        timeline_ids
            .iter()
            .any(|t| t["event_id"] == event["event_id"])
    };
    let full = is_initial || joined_since || request.full_state;
    let (summary, heroes) = room_summary(store, room_id, &request.user_id)?;
    let state_filter = &request.filter.room.state;
    // `state` is what changed before the timeline, so it leaves out the timeline's own state
    // events; `state_after` is every change up to the timeline's end, whatever the timeline
    // shows, so that a state event that lost state resolution never reaches a client's state.
    // Changes are found by when the entry changed, not by its event's position: after a merged
    // partition an older event can be current again, and the client must hear of it.
    let state_after = request.use_state_after;
    let current = match full {
        true => timeline::current_state_events(store.connection(), room_id)?,
        false => timeline::current_state_changed_since(store.connection(), room_id, since.events)?,
    };
    let mut state: Vec<Value> = formatter
        .events(&current)
        .into_iter()
        .filter(|event| !(state_filter.lazy_load_members && is_member_event(event)))
        .collect();
    if state_filter.lazy_load_members {
        let mut wanted = senders(&timeline_ids);
        if full {
            wanted.insert(request.user_id.clone());
            wanted.extend(heroes);
        }
        state.extend(current_member_events(store, &formatter, room_id, &wanted)?);
    }
    state.retain(|event| (state_after || !in_timeline(event)) && state_filter.allows(event));
    Ok(JoinedRoom {
        changed: !timeline_ids.is_empty() || !state.is_empty(),
        timeline: timeline_ids,
        limited,
        prev_batch,
        state,
        summary,
        ..JoinedRoom::default()
    })
}

/// The stripped state an invitee sees: the recommended room state, the inviter's membership
/// (as Synapse sends it; Hydrogen and Element name the inviter from it) and the invite itself.
fn invite_state(
    store: &SqliteRoomStore,
    membership: &Membership,
    viewer: Viewer,
) -> Result<Value, MatrixError> {
    let now = now_ms();
    let own = client_events(
        &timeline::events_by_ids(
            store.connection(),
            std::slice::from_ref(&membership.event_id),
        )?,
        viewer,
        now,
    );
    let inviter = own
        .first()
        .and_then(|invite| invite["sender"].as_str())
        .unwrap_or_default()
        .to_owned();
    let shown = |event: &Value| {
        let event_type = event["type"].as_str().unwrap_or("");
        let state_key = event["state_key"].as_str().unwrap_or("");
        (INVITE_STATE_TYPES.contains(&event_type) && state_key.is_empty())
            || (event_type == "m.room.member" && state_key == inviter && inviter != viewer.user_id)
    };
    let mut events: Vec<Value> =
        timeline::current_state_events(store.connection(), &membership.room_id)?
            .iter()
            .filter_map(|row| client_event(row, viewer, now))
            .filter(shown)
            .map(|event| stripped_event(&event))
            .collect();
    events.extend(own);
    Ok(json!({"invite_state": {"events": events}}))
}

fn left_room(
    store: &SqliteRoomStore,
    request: &SyncRequest,
    viewer: Viewer,
    membership: &Membership,
    since: SyncToken,
    limit: usize,
) -> Result<Value, MatrixError> {
    let after = if request.since.is_none() {
        0
    } else {
        since.events
    };
    let (rows, limited, prev_batch) = recent_timeline(
        store,
        request,
        &membership.room_id,
        (after, membership.stream_pos),
        limit,
        false,
    )?;
    let mut left = json!({
        "timeline": {
            "events": ClientEvents::new(store, viewer, now_ms()).events(&rows),
            "limited": limited,
            "prev_batch": stream_token(prev_batch),
        },
        "account_data": {"events": []},
    });
    left[state_field(request)] = json!({"events": []});
    Ok(left)
}

/// Receipts that changed in the joined rooms; private read receipts only reach their owner.
fn add_receipts(
    store: &SqliteRoomStore,
    user_id: &str,
    computed: &mut Computed,
    since: SyncToken,
    is_initial: bool,
) -> Result<(), StoreError> {
    let after = if is_initial { 0 } else { since.receipts };
    for (room_id, room) in &mut computed.joined {
        let receipts = receipts_since(store.connection(), room_id, after)?;
        let mut content = Map::new();
        for receipt in receipts
            .into_iter()
            .filter(|r| r.receipt_type != "m.read.private" || r.user_id == user_id)
        {
            let entry = content.entry(receipt.event_id).or_insert_with(|| json!({}));
            let mut data = json!({"ts": receipt.ts});
            if !receipt.thread_id.is_empty() {
                data["thread_id"] = json!(receipt.thread_id);
            }
            entry[&receipt.receipt_type][&receipt.user_id] = data;
        }
        if !content.is_empty() {
            room.ephemeral
                .push(json!({"type": "m.receipt", "content": content}));
            room.changed = true;
        }
    }
    Ok(())
}

fn add_account_data(
    store: &SqliteRoomStore,
    request: &SyncRequest,
    computed: &mut Computed,
    since: SyncToken,
) -> Result<(), StoreError> {
    let entries = account_data_since(store.connection(), &request.user_id, since.account_data)?;
    // Clients learn the push rules from an initial sync, saved or not (see `crate::push`).
    let saved_push_rules = entries
        .iter()
        .any(|entry| entry.room_id.is_none() && entry.data_type == push::ACCOUNT_DATA_TYPE);
    if computed.is_initial && !saved_push_rules {
        let defaults = Ruleset::for_user(&request.user_id, None);
        computed.account_data.push(json!({
            "type": push::ACCOUNT_DATA_TYPE,
            "content": push::account_data_content(&defaults),
        }));
    }
    for entry in entries {
        let event = json!({
            "type": entry.data_type,
            "content": serde_json::from_str::<Value>(&entry.content_json).unwrap_or_default(),
        });
        match entry.room_id {
            None => computed.account_data.push(event),
            Some(room_id) => {
                if let Some(room) = computed.joined.get_mut(&room_id) {
                    room.account_data.push(event);
                    room.changed = true;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let token = SyncToken {
            events: 5,
            account_data: 2,
            to_device: 9,
            receipts: 1,
            typing: 3,
            device_lists: 4,
            presence: 6,
        };
        assert_eq!(SyncToken::parse(&token.to_string()).unwrap(), token);
        let before_presence = SyncToken::parse("s5_2_9_1_3").unwrap();
        assert_eq!(
            (before_presence.device_lists, before_presence.presence),
            (0, 0)
        );
        for bad in [
            "",
            "s1",
            "t1_2_3_4_5",
            "s1_2_3_4_x",
            "s-1_0_0_0_0",
            "s1_2_3_4_5_6",
        ] {
            assert!(SyncToken::parse(bad).is_err(), "{bad}");
        }
    }
}
