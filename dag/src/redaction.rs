//! The redaction algorithm of each room version: what survives when an event is redacted, and
//! therefore what the signatures and the reference hash cover.

use serde_json::{Map, Value};

use crate::RoomVersion;
use crate::canonical_json::Object;

/// Top-level keys kept by room versions 9 and 10.
const TOP_LEVEL_V10: &[&str] = &[
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "prev_state",
    "auth_events",
    "origin",
    "origin_server_ts",
    "membership",
];

/// Room version 11 stopped protecting `origin`, `membership` and `prev_state`; 12 is unchanged.
const TOP_LEVEL_V11: &[&str] = &[
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "auth_events",
    "origin_server_ts",
];

/// Returns the redacted form of `event` under `version`'s rules.
pub fn redact(version: RoomVersion, event: &Object) -> Object {
    let top_level = match version {
        RoomVersion::V10 => TOP_LEVEL_V10,
        RoomVersion::V11 | RoomVersion::V12 => TOP_LEVEL_V11,
    };
    let mut redacted: Object = event
        .iter()
        .filter(|(key, _)| top_level.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let Some(Value::Object(content)) = event.get("content") {
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        redacted.insert(
            "content".into(),
            Value::Object(redact_content(version, event_type, content)),
        );
    }
    redacted
}

/// The content keys an event type keeps when redacted.
pub fn redact_content(version: RoomVersion, event_type: &str, content: &Object) -> Object {
    let v11 = version >= RoomVersion::V11;
    let keep = |keys: &[&str]| -> Object {
        content
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match event_type {
        "m.room.member" => {
            let mut kept = keep(&["membership", "join_authorised_via_users_server"]);
            let signed = content
                .get("third_party_invite")
                .and_then(|t| t.get("signed"));
            if let Some(signed) = signed.filter(|_| v11) {
                let only_signed = Map::from_iter([("signed".to_owned(), signed.clone())]);
                kept.insert("third_party_invite".into(), Value::Object(only_signed));
            }
            kept
        }
        "m.room.create" if v11 => content.clone(),
        "m.room.create" => keep(&["creator"]),
        "m.room.join_rules" => keep(&["join_rule", "allow"]),
        "m.room.power_levels" if v11 => keep(&[
            "ban",
            "events",
            "events_default",
            "invite",
            "kick",
            "redact",
            "state_default",
            "users",
            "users_default",
        ]),
        "m.room.power_levels" => keep(&[
            "ban",
            "events",
            "events_default",
            "kick",
            "redact",
            "state_default",
            "users",
            "users_default",
        ]),
        "m.room.history_visibility" => keep(&["history_visibility"]),
        "m.room.redaction" if v11 => keep(&["redacts"]),
        _ => Object::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str, content: Value) -> Object {
        let value = json!({
            "type": event_type, "content": content, "room_id": "!r:x", "sender": "@a:x",
            "state_key": "", "origin": "x", "origin_server_ts": 1, "depth": 2, "membership": "join",
            "prev_state": [], "prev_events": [], "auth_events": [], "hashes": {"sha256": "h"},
            "signatures": {}, "unsigned": {"age": 1}, "redacts": "$r", "extra": true,
        });
        value.as_object().unwrap().clone()
    }

    fn redacted_content(version: RoomVersion, event_type: &str, content: Value) -> Value {
        redact(version, &event(event_type, content))["content"].clone()
    }

    #[test]
    fn top_level_keys_per_version() {
        let e = event("m.room.message", json!({"body": "hi"}));
        let v10: Vec<_> = redact(RoomVersion::V10, &e).keys().cloned().collect();
        assert_eq!(
            v10,
            [
                "auth_events",
                "content",
                "depth",
                "hashes",
                "membership",
                "origin",
                "origin_server_ts",
                "prev_events",
                "prev_state",
                "room_id",
                "sender",
                "signatures",
                "state_key",
                "type"
            ]
        );
        for version in [RoomVersion::V11, RoomVersion::V12] {
            let keys: Vec<_> = redact(version, &e).keys().cloned().collect();
            assert_eq!(
                keys,
                [
                    "auth_events",
                    "content",
                    "depth",
                    "hashes",
                    "origin_server_ts",
                    "prev_events",
                    "room_id",
                    "sender",
                    "signatures",
                    "state_key",
                    "type"
                ]
            );
        }
    }

    /// The content table of the spec for each version: (type, content, kept in v10, kept in v11/12).
    #[test]
    fn content_tables() {
        let member = json!({"membership": "invite", "displayname": "A", "join_authorised_via_users_server": "@b:x",
                            "third_party_invite": {"display_name": "d", "signed": {"mxid": "@a:x", "token": "t"}}});
        let create = json!({"creator": "@a:x", "room_version": "10", "m.federate": false});
        let join_rules = json!({"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "other": 1});
        let power = json!({"ban": 50, "events": {}, "events_default": 0, "invite": 0, "kick": 50, "redact": 50,
                           "state_default": 50, "users": {}, "users_default": 0, "notifications": {"room": 50}});
        let history = json!({"history_visibility": "shared", "x": 1});
        let redaction = json!({"redacts": "$e", "reason": "spam"});
        let cases = [
            (
                "m.room.member",
                member.clone(),
                json!({"membership": "invite", "join_authorised_via_users_server": "@b:x"}),
                json!({"membership": "invite", "join_authorised_via_users_server": "@b:x",
                    "third_party_invite": {"signed": {"mxid": "@a:x", "token": "t"}}}),
            ),
            (
                "m.room.create",
                create.clone(),
                json!({"creator": "@a:x"}),
                create.clone(),
            ),
            (
                "m.room.join_rules",
                join_rules,
                json!({"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]}),
                json!({"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]}),
            ),
            (
                "m.room.power_levels",
                power,
                json!({"ban": 50, "events": {}, "events_default": 0, "kick": 50, "redact": 50,
                    "state_default": 50, "users": {}, "users_default": 0}),
                json!({"ban": 50, "events": {}, "events_default": 0, "invite": 0, "kick": 50, "redact": 50,
                    "state_default": 50, "users": {}, "users_default": 0}),
            ),
            (
                "m.room.history_visibility",
                history,
                json!({"history_visibility": "shared"}),
                json!({"history_visibility": "shared"}),
            ),
            (
                "m.room.redaction",
                redaction,
                json!({}),
                json!({"redacts": "$e"}),
            ),
            (
                "m.room.message",
                json!({"body": "secret", "msgtype": "m.text"}),
                json!({}),
                json!({}),
            ),
            (
                "m.room.aliases",
                json!({"aliases": ["#a:x"]}),
                json!({}),
                json!({}),
            ),
            ("m.room.topic", json!({"topic": "t"}), json!({}), json!({})),
        ];
        for (event_type, content, v10, v11) in cases {
            assert_eq!(
                redacted_content(RoomVersion::V10, event_type, content.clone()),
                v10,
                "v10 {event_type}"
            );
            assert_eq!(
                redacted_content(RoomVersion::V11, event_type, content.clone()),
                v11,
                "v11 {event_type}"
            );
            assert_eq!(
                redacted_content(RoomVersion::V12, event_type, content),
                v11,
                "v12 {event_type}"
            );
        }
    }

    #[test]
    fn member_without_signed_keeps_no_third_party_invite() {
        let content = json!({"membership": "invite", "third_party_invite": {"display_name": "d"}});
        assert_eq!(
            redacted_content(RoomVersion::V11, "m.room.member", content),
            json!({"membership": "invite"})
        );
    }

    #[test]
    fn redaction_is_idempotent() {
        for version in RoomVersion::ALL {
            let once = redact(
                version,
                &event("m.room.member", json!({"membership": "join", "x": 1})),
            );
            assert_eq!(redact(version, &once), once);
        }
    }
}
