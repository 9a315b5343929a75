//! The server-default ("predefined") rules of the Client-Server API, as the spec defines them,
//! in the spec's order.

use serde_json::{Value, json};

use super::ruleset::{PushRule, Ruleset};

pub fn ruleset(user_id: &str) -> Ruleset {
    Ruleset {
        override_rules: override_rules(user_id),
        content: vec![PushRule {
            pattern: Some(localpart(user_id).to_owned()),
            ..rule(".m.rule.contains_user_name", None, notify_loudly())
        }],
        room: Vec::new(),
        sender: Vec::new(),
        underride: underride_rules(),
    }
}

fn override_rules(user_id: &str) -> Vec<PushRule> {
    let mut master = rule(".m.rule.master", Some(Vec::new()), Vec::new());
    master.enabled = false;
    vec![
        master,
        rule(
            ".m.rule.suppress_notices",
            Some(vec![event_match("content.msgtype", "m.notice")]),
            Vec::new(),
        ),
        rule(
            ".m.rule.invite_for_me",
            Some(vec![
                event_match("type", "m.room.member"),
                event_match("content.membership", "invite"),
                event_match("state_key", user_id),
            ]),
            vec![json!("notify"), sound("default")],
        ),
        rule(
            ".m.rule.member_event",
            Some(vec![event_match("type", "m.room.member")]),
            Vec::new(),
        ),
        rule(
            ".m.rule.is_user_mention",
            Some(vec![json!({
                "kind": "event_property_contains",
                "key": "content.m\\.mentions.user_ids",
                "value": user_id,
            })]),
            notify_loudly(),
        ),
        rule(
            ".m.rule.contains_display_name",
            Some(vec![json!({ "kind": "contains_display_name" })]),
            notify_loudly(),
        ),
        rule(
            ".m.rule.is_room_mention",
            Some(vec![
                json!({ "kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true }),
                json!({ "kind": "sender_notification_permission", "key": "room" }),
            ]),
            vec![json!("notify"), highlight()],
        ),
        rule(
            ".m.rule.roomnotif",
            Some(vec![
                event_match("content.body", "@room"),
                json!({ "kind": "sender_notification_permission", "key": "room" }),
            ]),
            vec![json!("notify"), highlight()],
        ),
        rule(
            ".m.rule.tombstone",
            Some(vec![
                event_match("type", "m.room.tombstone"),
                event_match("state_key", ""),
            ]),
            vec![json!("notify"), highlight()],
        ),
        rule(
            ".m.rule.reaction",
            Some(vec![event_match("type", "m.reaction")]),
            Vec::new(),
        ),
        rule(
            ".m.rule.room.server_acl",
            Some(vec![
                event_match("type", "m.room.server_acl"),
                event_match("state_key", ""),
            ]),
            Vec::new(),
        ),
        rule(
            ".m.rule.suppress_edits",
            Some(vec![json!({
                "kind": "event_property_is",
                "key": "content.m\\.relates_to.rel_type",
                "value": "m.replace",
            })]),
            Vec::new(),
        ),
    ]
}

fn underride_rules() -> Vec<PushRule> {
    let one_to_one = || json!({ "kind": "room_member_count", "is": "2" });
    vec![
        rule(
            ".m.rule.call",
            Some(vec![event_match("type", "m.call.invite")]),
            vec![json!("notify"), sound("ring")],
        ),
        rule(
            ".m.rule.encrypted_room_one_to_one",
            Some(vec![one_to_one(), event_match("type", "m.room.encrypted")]),
            vec![json!("notify"), sound("default")],
        ),
        rule(
            ".m.rule.room_one_to_one",
            Some(vec![one_to_one(), event_match("type", "m.room.message")]),
            vec![json!("notify"), sound("default")],
        ),
        rule(
            ".m.rule.message",
            Some(vec![event_match("type", "m.room.message")]),
            vec![json!("notify")],
        ),
        rule(
            ".m.rule.encrypted",
            Some(vec![event_match("type", "m.room.encrypted")]),
            vec![json!("notify")],
        ),
    ]
}

fn rule(rule_id: &str, conditions: Option<Vec<Value>>, actions: Vec<Value>) -> PushRule {
    PushRule {
        rule_id: rule_id.to_owned(),
        default: true,
        enabled: true,
        actions,
        conditions,
        pattern: None,
    }
}

fn event_match(key: &str, pattern: &str) -> Value {
    json!({ "kind": "event_match", "key": key, "pattern": pattern })
}

fn sound(name: &str) -> Value {
    json!({ "set_tweak": "sound", "value": name })
}

fn highlight() -> Value {
    json!({ "set_tweak": "highlight" })
}

fn notify_loudly() -> Vec<Value> {
    vec![json!("notify"), sound("default"), highlight()]
}

fn localpart(user_id: &str) -> &str {
    user_id
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .map_or(user_id, |(localpart, _)| localpart)
}
