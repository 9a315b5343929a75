//! Unread counts of a joined room: messages from others after the user's read receipt that the
//! default push rules notify for, and those of them that highlight (mention the user).

use dag::RoomEvent;
use dag::room::RoomStore;
use serde::Deserialize;

use crate::store::StoreError;
use crate::store::rooms::SqliteRoomStore;
use crate::store::timeline::unread_messages;

/// Counts stop at this many.
pub const UNREAD_CAP: i64 = 999;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UnreadCounts {
    pub notifications: i64,
    pub highlights: i64,
}

/// The user's unread counts in the room.
pub fn unread_counts(
    store: &SqliteRoomStore,
    room_id: &str,
    user_id: &str,
) -> Result<UnreadCounts, StoreError> {
    let messages = unread_messages(store.connection(), room_id, user_id, UNREAD_CAP)?;
    if messages.is_empty() {
        return Ok(UnreadCounts::default());
    }
    let display_name = room_display_name(store, room_id, user_id);
    let mut counts = UnreadCounts::default();
    for json in messages {
        // Only the fields the rules read are decoded: this runs on every sync of a busy room.
        let content = serde_json::from_str::<Message>(&json)
            .map(|message| message.content)
            .unwrap_or_default();
        // `.m.rule.suppress_notices`: notices never notify.
        if content.msgtype.as_deref() == Some("m.notice") {
            continue;
        }
        counts.notifications += 1;
        if mentions(&content, user_id, display_name.as_deref()) {
            counts.highlights += 1;
        }
    }
    Ok(counts)
}

/// What the default rules read of a message.
#[derive(Debug, Default, Deserialize)]
struct Message {
    #[serde(default)]
    content: MessageContent,
}

#[derive(Debug, Default, Deserialize)]
pub struct MessageContent {
    msgtype: Option<String>,
    body: Option<String>,
    #[serde(rename = "m.mentions")]
    mentions: Option<Mentions>,
}

#[derive(Debug, Default, Deserialize)]
struct Mentions {
    #[serde(default)]
    user_ids: Vec<String>,
}

/// The user's display name in the room (their member event's), which mentions may use.
fn room_display_name(store: &SqliteRoomStore, room_id: &str, user_id: &str) -> Option<String> {
    let room = store.room(room_id)?;
    let member_id = room
        .current_state
        .get(&("m.room.member".to_owned(), user_id.to_owned()))?;
    let member = store.event(member_id)?;
    member.pdu.content()["displayname"]
        .as_str()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// Whether a message mentions the user, as the default push rules decide: with `m.mentions`,
/// only if it lists the user (`.m.rule.is_user_mention`); without, if the body holds the
/// user's localpart or display name as a whole word (the legacy rules).
pub fn mentions(content: &MessageContent, user_id: &str, display_name: Option<&str>) -> bool {
    if let Some(mentions) = &content.mentions {
        return mentions.user_ids.iter().any(|id| id == user_id);
    }
    let Some(body) = content.body.as_deref() else {
        return false;
    };
    let localpart = user_id
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .map(|(localpart, _)| localpart);
    [localpart, display_name]
        .into_iter()
        .flatten()
        .any(|name| contains_word(body, name))
}

/// Whether `word` occurs in `text`, case-insensitively, between non-word characters (or the
/// ends of the text), as the push rules' word boundaries say.
fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let word = word.to_lowercase();
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&word).any(|(start, found)| {
        let before = text[..start].chars().next_back();
        let after = text[start + found.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const USER: &str = "@bob:ship";

    fn mentioned(content: Value, display_name: Option<&str>) -> bool {
        let content: MessageContent = serde_json::from_value(content).unwrap_or_default();
        mentions(&content, USER, display_name)
    }

    #[test]
    fn the_localpart_or_display_name_as_a_word_mentions() {
        assert!(mentioned(json!({"body": "Bob, to the bridge"}), None));
        assert!(mentioned(json!({"body": "ask BOB."}), None));
        assert!(!mentioned(json!({"body": "bobby and bobbins"}), None));
        assert!(!mentioned(json!({"body": "kabob"}), None));
        assert!(mentioned(
            json!({"body": "where is the Old Salt?"}),
            Some("old salt")
        ));
        assert!(!mentioned(json!({"body": "salty"}), Some("Salt")));
        assert!(!mentioned(json!({"no body": "bob"}), None));
    }

    #[test]
    fn m_mentions_overrides_the_body() {
        assert!(mentioned(
            json!({"body": "hi", "m.mentions": {"user_ids": [USER]}}),
            None
        ));
        assert!(!mentioned(json!({"body": "bob", "m.mentions": {}}), None));
        assert!(!mentioned(
            json!({"body": "bob", "m.mentions": {"user_ids": ["@alice:ship"]}}),
            None
        ));
    }
}
