//! Unread counts of a joined room: events from others after the user's read receipt that the
//! user's push rules notify for, and those of them that highlight.

use std::cell::OnceCell;

use dag::room::RoomStore;
use dag::{Pdu, RoomEvent};
use rusqlite::Connection;
use serde_json::Value;

use super::power::{Power, user_power};
use crate::push::{self, CompiledRuleset, RoomFacts};
use crate::store::StoreError;
use crate::store::rooms::SqliteRoomStore;
use crate::store::timeline::{member_count, unread_events};

/// Counts stop at this many.
pub const UNREAD_CAP: i64 = 999;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UnreadCounts {
    pub notifications: i64,
    pub highlights: i64,
}

/// A user's push rules, loaded and compiled on first use: one sync reads them once for all
/// its rooms, and not at all when nothing is unread.
pub struct UserPushRules<'a> {
    user_id: &'a str,
    compiled: OnceCell<CompiledRuleset>,
}

impl<'a> UserPushRules<'a> {
    pub fn new(user_id: &'a str) -> UserPushRules<'a> {
        UserPushRules {
            user_id,
            compiled: OnceCell::new(),
        }
    }

    fn compiled(&self, connection: &Connection) -> Result<&CompiledRuleset, StoreError> {
        if let Some(compiled) = self.compiled.get() {
            return Ok(compiled);
        }
        let ruleset = push::load(connection, self.user_id)?;
        Ok(self.compiled.get_or_init(|| CompiledRuleset::new(&ruleset)))
    }
}

/// The user's unread counts in the room.
pub fn unread_counts(
    store: &SqliteRoomStore,
    room_id: &str,
    rules: &UserPushRules<'_>,
) -> Result<UnreadCounts, StoreError> {
    let user_id = rules.user_id;
    let events = unread_events(store.connection(), room_id, user_id, UNREAD_CAP)?;
    if events.is_empty() {
        return Ok(UnreadCounts::default());
    }
    let compiled = rules.compiled(store.connection())?;
    let Some(room) = store.room(room_id) else {
        return Ok(UnreadCounts::default());
    };
    let state_event = |event_type: &str, state_key: &str| {
        let key = (event_type.to_owned(), state_key.to_owned());
        room.current_state.get(&key).and_then(|id| store.event(id))
    };
    let create = state_event("m.room.create", "");
    let power_levels = state_event("m.room.power_levels", "");
    let power_content = power_levels.as_ref().map(|event| event.pdu.content());
    let may_notify = |sender: &str, key: &str| {
        let create: Option<&Pdu> = create.as_ref().map(|event| &*event.pdu);
        user_power(room.version, create, power_content, sender)
            >= Power::Level(notification_level(power_content, key))
    };
    let member = state_event("m.room.member", user_id);
    let display_name = member
        .as_ref()
        .and_then(|member| member.pdu.content()["displayname"].as_str());
    let joined = member_count(store.connection(), room_id, "join")?;
    let facts = RoomFacts::new(user_id, display_name, joined, &may_notify);
    let mut counts = UnreadCounts::default();
    for json in events {
        let Ok(event) = serde_json::from_str::<Value>(&json) else {
            continue;
        };
        let outcome = compiled.outcome(&event, &facts);
        counts.notifications += i64::from(outcome.notify);
        counts.highlights += i64::from(outcome.notify && outcome.highlight);
    }
    Ok(counts)
}

/// The power a sender needs for a kind of notification (`room` for `@room`), from the power
/// levels' `notifications`; 50 when unset, as the spec says.
fn notification_level(power_levels: Option<&Value>, key: &str) -> i64 {
    power_levels
        .and_then(|content| content.get("notifications"))
        .and_then(|levels| levels.get(key))
        .and_then(Value::as_i64)
        .unwrap_or(50)
}
