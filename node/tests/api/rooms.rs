//! Room endpoints: creation, membership, state, messages, redactions and reads, with their
//! error paths.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Session, TestNode, assert_error};

const V3: &str = "/_matrix/client/v3";

pub async fn create_room(node: &TestNode, session: &Session, body: Value) -> String {
    let response = node
        .post(&format!("{V3}/createRoom"), Some(&session.token), body)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["room_id"].as_str().unwrap().to_owned()
}

pub async fn send_text(
    node: &TestNode,
    session: &Session,
    room_id: &str,
    txn: &str,
    body: &str,
) -> String {
    let response = node
        .put(
            &format!("{V3}/rooms/{room_id}/send/m.room.message/{txn}"),
            Some(&session.token),
            json!({"msgtype": "m.text", "body": body}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["event_id"].as_str().unwrap().to_owned()
}

pub async fn join(node: &TestNode, session: &Session, room_id: &str) -> crate::support::Response {
    node.call(
        axum::http::Method::POST,
        &format!("{V3}/join/{room_id}"),
        Some(&session.token),
        None,
    )
    .await
}

async fn state(node: &TestNode, session: &Session, room_id: &str) -> Vec<Value> {
    let response = node
        .get(&format!("{V3}/rooms/{room_id}/state"), Some(&session.token))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body.as_array().unwrap().clone()
}

fn content_of<'a>(state: &'a [Value], event_type: &str, state_key: &str) -> &'a Value {
    &state
        .iter()
        .find(|e| e["type"] == event_type && e["state_key"] == state_key)
        .unwrap_or_else(|| panic!("no {event_type} {state_key:?} in {state:?}"))["content"]
}

async fn two_users(node: &TestNode) -> (Session, Session) {
    (node.register("alice").await, node.register("bob").await)
}

#[tokio::test]
async fn create_room_defaults_to_v12_with_synapse_private_chat_state() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    assert_eq!(
        room_id.len(),
        44,
        "a v12 room ID is the create event's hash"
    );
    let state = state(&node, &alice, &room_id).await;
    assert_eq!(
        content_of(&state, "m.room.create", "")["room_version"],
        "12"
    );
    let power = content_of(&state, "m.room.power_levels", "");
    assert!(
        power["users"].get(&alice.user_id).is_none(),
        "v12 creators are not listed"
    );
    assert_eq!(power["events"]["m.room.power_levels"], 100);
    assert_eq!(
        content_of(&state, "m.room.join_rules", "")["join_rule"],
        "invite"
    );
    assert_eq!(
        content_of(&state, "m.room.history_visibility", "")["history_visibility"],
        "shared"
    );
    assert_eq!(
        content_of(&state, "m.room.guest_access", "")["guest_access"],
        "can_join"
    );
    assert_eq!(
        content_of(&state, "m.room.member", &alice.user_id)["membership"],
        "join"
    );
    for event in &state {
        for field in [
            "event_id",
            "room_id",
            "sender",
            "type",
            "origin_server_ts",
            "content",
            "unsigned",
        ] {
            assert!(event.get(field).is_some(), "{field} missing from {event}");
        }
        assert!(
            event.get("signatures").is_none() && event.get("hashes").is_none(),
            "client format"
        );
    }
}

#[tokio::test]
async fn create_room_v11_lists_the_creator_and_rejects_unknown_versions() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({"room_version": "11"})).await;
    assert!(
        room_id.ends_with(&format!(":{}", node.server_name)),
        "{room_id}"
    );
    let state = state(&node, &alice, &room_id).await;
    assert_eq!(
        content_of(&state, "m.room.create", "")["room_version"],
        "11"
    );
    assert_eq!(
        content_of(&state, "m.room.power_levels", "")["users"][&alice.user_id],
        100
    );
    let response = node
        .post(
            &format!("{V3}/createRoom"),
            Some(&alice.token),
            json!({"room_version": "9"}),
        )
        .await;
    assert_error(
        &response,
        StatusCode::BAD_REQUEST,
        "M_UNSUPPORTED_ROOM_VERSION",
    );
}

#[tokio::test]
async fn create_room_applies_preset_name_topic_initial_state_and_overrides() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(
        &node,
        &alice,
        json!({
            "preset": "public_chat",
            "name": "Bridge",
            "topic": "Watch rota",
            "creation_content": {"m.federate": false},
            "initial_state": [
                {"type": "m.room.history_visibility", "content": {"history_visibility": "joined"}},
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            ],
            "power_level_content_override": {"events_default": 10},
        }),
    )
    .await;
    let state = state(&node, &alice, &room_id).await;
    assert_eq!(
        content_of(&state, "m.room.join_rules", "")["join_rule"],
        "public"
    );
    assert_eq!(content_of(&state, "m.room.name", "")["name"], "Bridge");
    assert_eq!(
        content_of(&state, "m.room.topic", "")["topic"],
        "Watch rota"
    );
    assert_eq!(content_of(&state, "m.room.create", "")["m.federate"], false);
    assert_eq!(
        content_of(&state, "m.room.history_visibility", "")["history_visibility"],
        "joined"
    );
    assert_eq!(
        content_of(&state, "m.room.encryption", "")["algorithm"],
        "m.megolm.v1.aes-sha2"
    );
    assert_eq!(
        content_of(&state, "m.room.power_levels", "")["events_default"],
        10
    );
    assert!(
        !state.iter().any(|e| e["type"] == "m.room.guest_access"),
        "public rooms get none"
    );
    let response = node
        .post(
            &format!("{V3}/createRoom"),
            Some(&alice.token),
            json!({"preset": "secret"}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn trusted_private_chat_invites_with_power() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(
        &node,
        &alice,
        json!({"preset": "trusted_private_chat", "invite": [bob.user_id], "is_direct": true}),
    )
    .await;
    let state = state(&node, &alice, &room_id).await;
    assert_eq!(
        content_of(&state, "m.room.power_levels", "")["users"][&bob.user_id],
        100
    );
    let invite = content_of(&state, "m.room.member", &bob.user_id);
    assert_eq!(invite["membership"], "invite");
    assert_eq!(invite["is_direct"], true);
}

#[tokio::test]
async fn invite_then_join_by_either_endpoint() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(&node, &alice, json!({"preset": "private_chat"})).await;
    let uninvited = join(&node, &bob, &room_id).await;
    assert_error(&uninvited, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let invited = node
        .post(
            &format!("{V3}/rooms/{room_id}/invite"),
            Some(&alice.token),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert_eq!(invited.body, json!({}));
    let joined = node
        .call(
            axum::http::Method::POST,
            &format!("{V3}/rooms/{room_id}/join"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["room_id"], room_id.as_str());
    let rooms = node
        .get(&format!("{V3}/joined_rooms"), Some(&bob.token))
        .await;
    assert_eq!(rooms.body["joined_rooms"], json!([room_id]));
    let members = node
        .get(
            &format!("{V3}/rooms/{room_id}/joined_members"),
            Some(&bob.token),
        )
        .await;
    let joined: Vec<&String> = members.body["joined"].as_object().unwrap().keys().collect();
    assert_eq!(joined.len(), 2, "{}", members.body);
    let members = node
        .get(
            &format!("{V3}/rooms/{room_id}/members?membership=join"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(members.body["chunk"].as_array().unwrap().len(), 2);
    let members = node
        .get(
            &format!("{V3}/rooms/{room_id}/members?not_membership=join"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(members.body["chunk"], json!([]));
}

#[tokio::test]
async fn outsiders_are_forbidden_and_unknown_rooms_not_found() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let response = node
        .put(
            &format!("{V3}/rooms/{room_id}/send/m.room.message/t1"),
            Some(&bob.token),
            json!({"body": "hi"}),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    for path in [
        format!("{V3}/rooms/{room_id}/messages"),
        format!("{V3}/rooms/{room_id}/state"),
        format!("{V3}/rooms/{room_id}/members"),
    ] {
        assert_error(
            &node.get(&path, Some(&bob.token)).await,
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        );
    }
    let unknown = format!("!nowhere:{}", node.server_name);
    let response = node
        .put(
            &format!("{V3}/rooms/{unknown}/send/m.room.message/t1"),
            Some(&alice.token),
            json!({"body": "hi"}),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    assert_error(
        &join(&node, &alice, &unknown).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &node
            .get(
                &format!("{V3}/rooms/{unknown}/messages"),
                Some(&alice.token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &node
            .get(
                &format!("{V3}/rooms/{room_id}/event/$missing"),
                Some(&alice.token),
            )
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &join(&node, &alice, "%23alias:nowhere").await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let response = node.get(&format!("{V3}/joined_rooms"), None).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn bad_bodies_are_matrix_errors() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let request = axum::http::Request::put(format!("{V3}/rooms/{room_id}/send/m.room.message/t1"))
        .header("authorization", format!("Bearer {}", alice.token))
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    assert_error(
        &node.send(request).await,
        StatusCode::BAD_REQUEST,
        "M_NOT_JSON",
    );
    let response = node
        .post(
            &format!("{V3}/createRoom"),
            Some(&alice.token),
            json!({"invite": "bob"}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node
        .post(
            &format!("{V3}/createRoom"),
            Some(&alice.token),
            json!({"invite": ["not a user"]}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .put(
            &format!("{V3}/rooms/{room_id}/send/m.room.message/big"),
            Some(&alice.token),
            json!({"body": "x".repeat(70_000)}),
        )
        .await;
    assert_error(&response, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
    let response = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?dir=sideways"),
            Some(&alice.token),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?from=nonsense"),
            Some(&alice.token),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?filter=%7Bbad"),
            Some(&alice.token),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn send_is_idempotent_per_device_and_transaction_id() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let first = send_text(&node, &alice, &room_id, "txn-1", "once").await;
    let retry = send_text(&node, &alice, &room_id, "txn-1", "once").await;
    assert_eq!(first, retry);
    let other = send_text(&node, &alice, &room_id, "txn-2", "twice").await;
    assert_ne!(first, other);
    let second_device = node.login("alice", None).await;
    let from_other_device = send_text(&node, &second_device, &room_id, "txn-1", "again").await;
    assert_ne!(first, from_other_device);
    let event = node
        .get(
            &format!("{V3}/rooms/{room_id}/event/{first}"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(event.status, StatusCode::OK, "{}", event.body);
    assert_eq!(event.body["content"]["body"], "once");
    assert_eq!(
        event.body["unsigned"]["transaction_id"], "txn-1",
        "the sending device sees it"
    );
    assert!(event.body["unsigned"]["age"].is_i64());
    let seen_elsewhere = node
        .get(
            &format!("{V3}/rooms/{room_id}/event/{first}"),
            Some(&second_device.token),
        )
        .await;
    assert!(
        seen_elsewhere.body["unsigned"]
            .get("transaction_id")
            .is_none()
    );
}

async fn membership(node: &TestNode, session: &Session, room_id: &str, user: &str) -> Value {
    let path = format!("{V3}/rooms/{room_id}/state/m.room.member/{user}");
    node.get(&path, Some(&session.token)).await.body["membership"].clone()
}

#[tokio::test]
async fn leave_kick_ban_and_unban() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let kick_alice = node
        .post(
            &format!("{V3}/rooms/{room_id}/kick"),
            Some(&bob.token),
            json!({"user_id": alice.user_id}),
        )
        .await;
    assert_error(&kick_alice, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let kicked = node
        .post(
            &format!("{V3}/rooms/{room_id}/kick"),
            Some(&alice.token),
            json!({"user_id": bob.user_id, "reason": "noise"}),
        )
        .await;
    assert_eq!(kicked.body, json!({}));
    assert_eq!(
        membership(&node, &alice, &room_id, &bob.user_id).await,
        "leave"
    );
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let banned = node
        .post(
            &format!("{V3}/rooms/{room_id}/ban"),
            Some(&alice.token),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(banned.status, StatusCode::OK, "{}", banned.body);
    assert_error(
        &join(&node, &bob, &room_id).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let unbanned = node
        .post(
            &format!("{V3}/rooms/{room_id}/unban"),
            Some(&alice.token),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(unbanned.status, StatusCode::OK, "{}", unbanned.body);
    assert_eq!(
        membership(&node, &alice, &room_id, &bob.user_id).await,
        "leave"
    );
    let not_banned = node
        .post(
            &format!("{V3}/rooms/{room_id}/unban"),
            Some(&alice.token),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_error(&not_banned, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let left = node
        .call(
            axum::http::Method::POST,
            &format!("{V3}/rooms/{room_id}/leave"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(left.body, json!({}));
    let rooms = node
        .get(&format!("{V3}/joined_rooms"), Some(&bob.token))
        .await;
    assert_eq!(rooms.body["joined_rooms"], json!([]));
    let after_leaving = node
        .put(
            &format!("{V3}/rooms/{room_id}/send/m.room.message/t9"),
            Some(&bob.token),
            json!({"body": "hi"}),
        )
        .await;
    assert_error(&after_leaving, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test]
async fn state_events_are_put_and_read() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    let put = node
        .put(
            &format!("{V3}/rooms/{room_id}/state/m.room.topic"),
            Some(&alice.token),
            json!({"topic": "Charts"}),
        )
        .await;
    assert!(
        put.body["event_id"].as_str().unwrap().starts_with('$'),
        "{}",
        put.body
    );
    let with_key = node
        .put(
            &format!("{V3}/rooms/{room_id}/state/org.example.flag/mast"),
            Some(&alice.token),
            json!({"up": true}),
        )
        .await;
    assert_eq!(with_key.status, StatusCode::OK, "{}", with_key.body);
    let topic = node
        .get(
            &format!("{V3}/rooms/{room_id}/state/m.room.topic/"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(topic.body, json!({"topic": "Charts"}));
    let topic = node
        .get(
            &format!("{V3}/rooms/{room_id}/state/m.room.topic"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(topic.body, json!({"topic": "Charts"}));
    let flag = node
        .get(
            &format!("{V3}/rooms/{room_id}/state/org.example.flag/mast"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(flag.body, json!({"up": true}));
    let missing = node
        .get(
            &format!("{V3}/rooms/{room_id}/state/m.room.avatar"),
            Some(&alice.token),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let forbidden = node
        .put(
            &format!("{V3}/rooms/{room_id}/state/m.room.topic"),
            Some(&bob.token),
            json!({"topic": "Mine"}),
        )
        .await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test]
async fn redactions_take_effect_for_the_sender_or_the_redact_level() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let by_alice = send_text(&node, &alice, &room_id, "a1", "secret").await;
    let by_bob = send_text(&node, &bob, &room_id, "b1", "oops").await;
    let redact = |session: &Session, target: &str, txn: &str| {
        let path = format!("{V3}/rooms/{room_id}/redact/{target}/{txn}");
        let token = session.token.clone();
        let node = &node;
        async move {
            node.put(&path, Some(&token), json!({"reason": "tidy"}))
                .await
        }
    };
    let attempt = redact(&bob, &by_alice, "r1").await;
    assert_eq!(
        attempt.status,
        StatusCode::OK,
        "the event is allowed: {}",
        attempt.body
    );
    let event = node
        .get(
            &format!("{V3}/rooms/{room_id}/event/{by_alice}"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        event.body["content"]["body"], "secret",
        "bob lacks the redact level"
    );
    for (session, target) in [(&bob, &by_bob), (&alice, &by_alice)] {
        let redaction = redact(session, target, "r2").await;
        let redaction_id = redaction.body["event_id"].as_str().unwrap().to_owned();
        let event = node
            .get(
                &format!("{V3}/rooms/{room_id}/event/{target}"),
                Some(&alice.token),
            )
            .await;
        assert_eq!(event.body["content"], json!({}), "{}", event.body);
        assert_eq!(
            event.body["unsigned"]["redacted_because"]["event_id"],
            redaction_id.as_str()
        );
        assert_eq!(
            event.body["unsigned"]["redacted_because"]["redacts"],
            target.as_str()
        );
    }
}

#[tokio::test]
async fn messages_page_backwards_and_forwards() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    for i in 0..25 {
        send_text(&node, &alice, &room_id, &format!("t{i}"), &format!("m{i}")).await;
    }
    let bodies = |chunk: &Value| -> Vec<String> {
        chunk
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .map(|e| e["content"]["body"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut from = None::<String>;
    let mut backwards = Vec::new();
    loop {
        let query = from
            .as_ref()
            .map_or(String::new(), |f| format!("&from={f}"));
        let page = node
            .get(
                &format!("{V3}/rooms/{room_id}/messages?dir=b&limit=10{query}"),
                Some(&alice.token),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        backwards.extend(bodies(&page.body["chunk"]));
        match page.body["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(backwards, expected);
    let mut forwards = Vec::new();
    let mut from = "t0".to_owned();
    let mut pages = 0;
    loop {
        let page = node
            .get(
                &format!("{V3}/rooms/{room_id}/messages?dir=f&limit=7&from={from}"),
                Some(&alice.token),
            )
            .await;
        pages += 1;
        forwards.extend(bodies(&page.body["chunk"]));
        match page.body["end"].as_str() {
            Some(end) => from = end.to_owned(),
            None => break,
        }
    }
    assert!(pages >= 4, "{pages} pages");
    assert_eq!(
        forwards,
        (0..25).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let filtered = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?dir=b&limit=50&filter=%7B%22types%22%3A%5B%22m.room.member%22%5D%7D"),
            Some(&alice.token),
        )
        .await;
    let chunk = filtered.body["chunk"].as_array().unwrap();
    assert_eq!(chunk.len(), 1, "only alice's join: {}", filtered.body);
}

#[tokio::test]
async fn context_surrounds_an_event() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(send_text(&node, &alice, &room_id, &format!("t{i}"), &format!("m{i}")).await);
    }
    let context = node
        .get(
            &format!("{V3}/rooms/{room_id}/context/{}?limit=4", ids[4]),
            Some(&alice.token),
        )
        .await;
    assert_eq!(context.status, StatusCode::OK, "{}", context.body);
    assert_eq!(context.body["event"]["content"]["body"], "m4");
    let before: Vec<&str> = context.body["events_before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    let after: Vec<&str> = context.body["events_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(before, ["m3", "m2"]);
    assert_eq!(after, ["m5", "m6"]);
    assert!(context.body["state"].as_array().unwrap().len() >= 5);
    let earlier = node
        .get(
            &format!(
                "{V3}/rooms/{room_id}/messages?dir=b&limit=1&from={}",
                context.body["start"].as_str().unwrap()
            ),
            Some(&alice.token),
        )
        .await;
    assert_eq!(earlier.body["chunk"][0]["content"]["body"], "m1");
}

#[tokio::test]
async fn history_visibility_hides_what_came_before_a_join() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    for (visibility, sees_history) in [("joined", false), ("shared", true), ("invited", false)] {
        let room_id = create_room(
            &node,
            &alice,
            json!({
                "preset": "public_chat",
                "initial_state": [{"type": "m.room.history_visibility", "content": {"history_visibility": visibility}}],
            }),
        )
        .await;
        let early = send_text(
            &node,
            &alice,
            &room_id,
            &format!("{visibility}-early"),
            "before bob",
        )
        .await;
        assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
        send_text(
            &node,
            &alice,
            &room_id,
            &format!("{visibility}-late"),
            "after bob",
        )
        .await;
        let page = node
            .get(
                &format!("{V3}/rooms/{room_id}/messages?dir=b&limit=50"),
                Some(&bob.token),
            )
            .await;
        let bodies: Vec<&str> = page.body["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["content"]["body"].as_str())
            .collect();
        assert!(bodies.contains(&"after bob"), "{visibility}: {bodies:?}");
        assert_eq!(
            bodies.contains(&"before bob"),
            sees_history,
            "{visibility}: {bodies:?}"
        );
        let event = node
            .get(
                &format!("{V3}/rooms/{room_id}/event/{early}"),
                Some(&bob.token),
            )
            .await;
        assert_eq!(
            event.status == StatusCode::OK,
            sees_history,
            "{visibility}: {}",
            event.body
        );
    }
}

#[tokio::test]
async fn receipts_read_markers_and_typing_need_membership() {
    let node = TestNode::new();
    let (alice, bob) = two_users(&node).await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let event_id = send_text(&node, &alice, &room_id, "t1", "read me").await;
    let receipt = node
        .post(
            &format!("{V3}/rooms/{room_id}/receipt/m.read/{event_id}"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(receipt.body, json!({}));
    let markers = node
        .post(
            &format!("{V3}/rooms/{room_id}/read_markers"),
            Some(&alice.token),
            json!({"m.fully_read": event_id, "m.read": event_id}),
        )
        .await;
    assert_eq!(markers.body, json!({}));
    let fully_read = node
        .get(
            &format!(
                "{V3}/user/{}/rooms/{room_id}/account_data/m.fully_read",
                alice.user_id
            ),
            Some(&alice.token),
        )
        .await;
    assert_eq!(fully_read.body["event_id"], event_id.as_str());
    let typing = node
        .put(
            &format!("{V3}/rooms/{room_id}/typing/{}", alice.user_id),
            Some(&alice.token),
            json!({"typing": true, "timeout": 5000}),
        )
        .await;
    assert_eq!(typing.body, json!({}));
    let unknown_type = node
        .post(
            &format!("{V3}/rooms/{room_id}/receipt/m.seen/{event_id}"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_error(&unknown_type, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let outsider = node
        .post(
            &format!("{V3}/rooms/{room_id}/receipt/m.read/{event_id}"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_error(&outsider, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let for_someone_else = node
        .put(
            &format!("{V3}/rooms/{room_id}/typing/{}", alice.user_id),
            Some(&bob.token),
            json!({"typing": true}),
        )
        .await;
    assert_error(&for_someone_else, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}
