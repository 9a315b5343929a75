//! Presence (`/presence/{userId}/status` and in /sync) and `device_lists` in /sync.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::e2ee::device_keys;
use crate::rooms::{create_room, join};
use crate::support::{Session, TestNode, assert_error};
use crate::sync::sync;

const V3: &str = "/_matrix/client/v3";

fn status_path(user_id: &str) -> String {
    format!("{V3}/presence/{user_id}/status")
}

async fn set_presence(node: &TestNode, session: &Session, body: Value) -> crate::support::Response {
    node.put(&status_path(&session.user_id), Some(&session.token), body)
        .await
}

fn next_batch(response: &Value) -> String {
    response["next_batch"].as_str().unwrap().to_owned()
}

fn presence_of<'a>(response: &'a Value, user_id: &str) -> Option<&'a Value> {
    response["presence"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["sender"] == user_id)
        .map(|event| &event["content"])
}

fn device_list(response: &Value, part: &str) -> BTreeSet<String> {
    response["device_lists"][part]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user.as_str().unwrap().to_owned())
        .collect()
}

async fn alice_and_bob_in_a_room_carol_outside(
    node: &TestNode,
) -> (Session, Session, Session, String) {
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let carol = node.register("carol").await;
    let room_id = create_room(node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(node, &bob, &room_id).await.status, StatusCode::OK);
    (alice, bob, carol, room_id)
}

#[tokio::test]
async fn presence_is_set_by_its_user_and_read_by_room_mates() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let set = set_presence(
        &node,
        &alice,
        json!({"presence": "unavailable", "status_msg": "on watch"}),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body, json!({}));
    let own = node
        .get(&status_path(&alice.user_id), Some(&alice.token))
        .await;
    assert_eq!(own.body["presence"], "unavailable");
    assert_eq!(own.body["status_msg"], "on watch");
    assert!(own.body["last_active_ago"].is_u64());

    assert_error(
        &node
            .get(&status_path(&alice.user_id), Some(&bob.token))
            .await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let seen = node
        .get(&status_path(&alice.user_id), Some(&bob.token))
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body["status_msg"], "on watch");
}

#[tokio::test]
async fn bad_presence_requests_are_matrix_errors() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let others = node
        .put(
            &status_path(&bob.user_id),
            Some(&alice.token),
            json!({"presence": "online"}),
        )
        .await;
    assert_error(&others, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    for (body, errcode) in [
        (json!({"presence": "asleep"}), "M_INVALID_PARAM"),
        (
            json!({"presence": "online", "status_msg": "x".repeat(2_000)}),
            "M_INVALID_PARAM",
        ),
        (json!({"status_msg": "no state"}), "M_BAD_JSON"),
        (json!({"presence": 1}), "M_BAD_JSON"),
    ] {
        let response = set_presence(&node, &alice, body).await;
        assert_error(&response, StatusCode::BAD_REQUEST, errcode);
    }
    let anonymous = node
        .call(Method::PUT, &status_path(&alice.user_id), None, None)
        .await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    assert_error(
        &node
            .get(&status_path("not-a-user"), Some(&alice.token))
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let bad_sync = node
        .get(
            &format!("{V3}/sync?set_presence=asleep"),
            Some(&alice.token),
        )
        .await;
    assert_error(&bad_sync, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

#[tokio::test]
async fn sync_marks_users_online_and_reports_room_mates_presence() {
    let node = TestNode::new();
    let (alice, bob, carol, _room_id) = alice_and_bob_in_a_room_carol_outside(&node).await;

    let quiet = sync(&node, &alice, "set_presence=offline").await;
    assert!(presence_of(&quiet, &alice.user_id).is_none(), "{quiet}");
    let initial = sync(&node, &bob, "").await;
    assert_eq!(
        presence_of(&initial, &bob.user_id).unwrap()["presence"],
        "online"
    );
    let since = next_batch(&initial);
    sync(&node, &alice, "").await;
    let next = sync(&node, &bob, &format!("since={since}&timeout=0")).await;
    let alices = presence_of(&next, &alice.user_id).unwrap();
    assert_eq!(alices["presence"], "online");
    assert_eq!(alices["currently_active"], true);
    assert!(
        presence_of(&next, &bob.user_id).is_none(),
        "reported once: {next}"
    );

    let since = next_batch(&next);
    set_presence(&node, &alice, json!({"presence": "unavailable"})).await;
    let away = sync(&node, &bob, &format!("since={since}&timeout=5000")).await;
    assert_eq!(
        presence_of(&away, &alice.user_id).unwrap()["presence"],
        "unavailable"
    );
    let outsider = sync(&node, &carol, "").await;
    assert!(
        presence_of(&outsider, &alice.user_id).is_none(),
        "{outsider}"
    );
}

#[tokio::test]
async fn device_lists_name_changed_keys_new_room_mates_and_those_gone() {
    let node = TestNode::new();
    let (alice, bob, carol, room_id) = alice_and_bob_in_a_room_carol_outside(&node).await;
    let since = next_batch(&sync(&node, &bob, "").await);
    let carols_since = next_batch(&sync(&node, &carol, "").await);

    let upload = node
        .post(
            &format!("{V3}/keys/upload"),
            Some(&alice.token),
            json!({ "device_keys": device_keys(&alice) }),
        )
        .await;
    assert_eq!(upload.status, StatusCode::OK, "{}", upload.body);
    let keys_changed = sync(&node, &bob, &format!("since={since}")).await;
    assert_eq!(
        device_list(&keys_changed, "changed"),
        [alice.user_id.clone()].into()
    );
    assert!(device_list(&keys_changed, "left").is_empty());
    let outsider = sync(&node, &carol, &format!("since={carols_since}")).await;
    assert!(device_list(&outsider, "changed").is_empty(), "{outsider}");

    let since = next_batch(&keys_changed);
    assert_eq!(join(&node, &carol, &room_id).await.status, StatusCode::OK);
    let joined = sync(&node, &bob, &format!("since={since}")).await;
    assert_eq!(
        device_list(&joined, "changed"),
        [carol.user_id.clone()].into()
    );

    let since = next_batch(&joined);
    let left = node
        .post(
            &format!("{V3}/rooms/{room_id}/leave"),
            Some(&carol.token),
            json!({}),
        )
        .await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.body);
    let gone = sync(&node, &bob, &format!("since={since}")).await;
    assert_eq!(device_list(&gone, "left"), [carol.user_id.clone()].into());
    assert!(device_list(&gone, "changed").is_empty());

    let since = next_batch(&gone);
    let logout = node
        .post(&format!("{V3}/logout"), Some(&alice.token), json!({}))
        .await;
    assert_eq!(logout.status, StatusCode::OK, "{}", logout.body);
    let logged_out = sync(&node, &bob, &format!("since={since}")).await;
    assert_eq!(
        device_list(&logged_out, "changed"),
        [alice.user_id.clone()].into()
    );
}

#[tokio::test]
async fn keys_changes_reports_what_sync_would_between_two_tokens() {
    let node = TestNode::new();
    let (alice, bob, carol, room_id) = alice_and_bob_in_a_room_carol_outside(&node).await;
    let from = next_batch(&sync(&node, &bob, "").await);
    let changes = |from: String, to: String| {
        let path = format!("{V3}/keys/changes?from={from}&to={to}");
        let token = bob.token.clone();
        let node = &node;
        async move { node.get(&path, Some(&token)).await }
    };
    node.post(
        &format!("{V3}/keys/upload"),
        Some(&alice.token),
        json!({ "device_keys": device_keys(&alice) }),
    )
    .await;
    assert_eq!(join(&node, &carol, &room_id).await.status, StatusCode::OK);
    let to = next_batch(&sync(&node, &bob, &format!("since={from}")).await);
    let response = changes(from.clone(), to.clone()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        device_list(&json!({"device_lists": response.body}), "changed"),
        [alice.user_id.clone(), carol.user_id.clone()].into()
    );
    assert!(device_list(&json!({"device_lists": response.body}), "left").is_empty());

    node.post(
        &format!("{V3}/rooms/{room_id}/leave"),
        Some(&carol.token),
        json!({}),
    )
    .await;
    let now = next_batch(&sync(&node, &bob, &format!("since={to}")).await);
    let response = changes(to.clone(), now.clone()).await;
    assert_eq!(
        device_list(&json!({"device_lists": response.body}), "left"),
        [carol.user_id.clone()].into()
    );
    assert!(device_list(&json!({"device_lists": response.body}), "changed").is_empty());

    let response = changes("yesterday".to_owned(), now).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .get(&format!("{V3}/keys/changes?from={to}"), Some(&bob.token))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "`to` is required");
    let response = node
        .get(&format!("{V3}/keys/changes?from={to}&to={to}"), None)
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}
