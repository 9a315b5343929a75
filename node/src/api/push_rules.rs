//! Push rules: the spec's predefined rules for the requesting user. Storing a user's own
//! rules (as `m.push_rules` account data) and editing them come later (#4).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::Auth;
use super::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pushrules/", get(all_rules))
        .route("/pushrules/global/", get(global_rules))
}

async fn all_rules(auth: Auth) -> Json<Value> {
    Json(json!({ "global": default_ruleset(&auth.user_id) }))
}

async fn global_rules(auth: Auth) -> Json<Value> {
    Json(default_ruleset(&auth.user_id))
}

fn event_match(key: &str, pattern: &str) -> Value {
    json!({ "kind": "event_match", "key": key, "pattern": pattern })
}

fn rule(rule_id: &str, conditions: Value, actions: Value) -> Value {
    json!({
        "rule_id": rule_id,
        "default": true,
        "enabled": true,
        "conditions": conditions,
        "actions": actions,
    })
}

/// The predefined rules of the Client-Server API, in the spec's order.
pub fn default_ruleset(user_id: &str) -> Value {
    let localpart = user_id
        .strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .map_or(user_id, |(localpart, _)| localpart);
    let sound = json!({ "set_tweak": "sound", "value": "default" });
    let highlight = json!({ "set_tweak": "highlight" });
    let no_highlight = json!({ "set_tweak": "highlight", "value": false });
    let notify_loudly = json!(["notify", sound, highlight]);
    let notify_with_sound = json!(["notify", sound, no_highlight]);
    let notify_quietly = json!(["notify", no_highlight]);
    let mut master = rule(".m.rule.master", json!([]), json!([]));
    master["enabled"] = Value::Bool(false);
    let override_rules = json!([
        master,
        rule(
            ".m.rule.suppress_notices",
            json!([event_match("content.msgtype", "m.notice")]),
            json!([])
        ),
        rule(
            ".m.rule.invite_for_me",
            json!([
                event_match("type", "m.room.member"),
                event_match("content.membership", "invite"),
                event_match("state_key", user_id)
            ]),
            notify_with_sound.clone()
        ),
        rule(
            ".m.rule.member_event",
            json!([event_match("type", "m.room.member")]),
            json!([])
        ),
        rule(
            ".m.rule.is_user_mention",
            json!([{
                "kind": "event_property_contains",
                "key": "content.m\\.mentions.user_ids",
                "value": user_id
            }]),
            notify_loudly.clone()
        ),
        rule(
            ".m.rule.contains_display_name",
            json!([{ "kind": "contains_display_name" }]),
            notify_loudly.clone()
        ),
        rule(
            ".m.rule.is_room_mention",
            json!([
                { "kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true },
                { "kind": "sender_notification_permission", "key": "room" }
            ]),
            json!(["notify", highlight])
        ),
        rule(
            ".m.rule.roomnotif",
            json!([
                { "kind": "sender_notification_permission", "key": "room" },
                event_match("content.body", "@room")
            ]),
            json!(["notify", highlight])
        ),
        rule(
            ".m.rule.tombstone",
            json!([
                event_match("type", "m.room.tombstone"),
                event_match("state_key", "")
            ]),
            json!(["notify", highlight])
        ),
        rule(
            ".m.rule.reaction",
            json!([event_match("type", "m.reaction")]),
            json!([])
        ),
        rule(
            ".m.rule.room.server_acl",
            json!([
                event_match("type", "m.room.server_acl"),
                event_match("state_key", "")
            ]),
            json!([])
        ),
        rule(
            ".m.rule.suppress_edits",
            json!([{
                "kind": "event_property_is",
                "key": "content.m\\.relates_to.rel_type",
                "value": "m.replace"
            }]),
            json!([])
        ),
    ]);
    let content_rules = json!([{
        "rule_id": ".m.rule.contains_user_name",
        "default": true,
        "enabled": true,
        "pattern": localpart,
        "actions": notify_loudly,
    }]);
    let one_to_one = json!({ "kind": "room_member_count", "is": "2" });
    let underride_rules = json!([
        rule(
            ".m.rule.call",
            json!([event_match("type", "m.call.invite")]),
            json!(["notify", { "set_tweak": "sound", "value": "ring" }, no_highlight])
        ),
        rule(
            ".m.rule.encrypted_room_one_to_one",
            json!([one_to_one, event_match("type", "m.room.encrypted")]),
            notify_with_sound.clone()
        ),
        rule(
            ".m.rule.room_one_to_one",
            json!([one_to_one, event_match("type", "m.room.message")]),
            notify_with_sound
        ),
        rule(
            ".m.rule.message",
            json!([event_match("type", "m.room.message")]),
            notify_quietly.clone()
        ),
        rule(
            ".m.rule.encrypted",
            json!([event_match("type", "m.room.encrypted")]),
            notify_quietly
        ),
    ]);
    json!({
        "override": override_rules,
        "content": content_rules,
        "room": [],
        "sender": [],
        "underride": underride_rules,
    })
}
