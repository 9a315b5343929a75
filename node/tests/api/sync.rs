//! `/sync`: initial and incremental, long-polling, filters, invites, leaves, ephemeral events,
//! account data and to-device messages.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::rooms::{create_room, join, send_text};
use crate::support::{Session, TestNode, assert_error};

const V3: &str = "/_matrix/client/v3";

pub async fn sync(node: &TestNode, session: &Session, query: &str) -> Value {
    let response = node
        .get(&format!("{V3}/sync?{query}"), Some(&session.token))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

fn timeline_bodies(response: &Value, room_id: &str) -> Vec<String> {
    response["rooms"]["join"][room_id]["timeline"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn initial_then_incremental_sync() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({"name": "Mess"})).await;
    send_text(&node, &alice, &room_id, "t1", "first").await;
    let initial = sync(&node, &alice, "").await;
    let room = &initial["rooms"]["join"][&room_id];
    assert_eq!(timeline_bodies(&initial, &room_id), ["first"]);
    let state_types: Vec<&str> = room["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    let timeline_types: Vec<&str> = room["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        state_types.contains(&"m.room.create") || timeline_types.contains(&"m.room.create"),
        "{room}"
    );
    assert!(room["timeline"]["prev_batch"].is_string());
    assert!(room["unread_notifications"]["notification_count"].is_i64());
    assert!(initial["device_one_time_keys_count"].is_object());
    let event = &room["timeline"]["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(event["unsigned"]["transaction_id"], "t1");
    let since = initial["next_batch"].as_str().unwrap();
    let quiet = sync(&node, &alice, &format!("since={since}&timeout=0")).await;
    assert_eq!(quiet["rooms"]["join"], json!({}), "{quiet}");
    send_text(&node, &alice, &room_id, "t2", "second").await;
    let next = sync(&node, &alice, &format!("since={since}&timeout=0")).await;
    assert_eq!(timeline_bodies(&next, &room_id), ["second"]);
    assert_eq!(
        next["rooms"]["join"][&room_id]["timeline"]["limited"],
        false
    );
    assert_eq!(
        next["rooms"]["join"][&room_id]["state"]["events"],
        json!([])
    );
    let full = sync(&node, &alice, &format!("since={since}&full_state=true")).await;
    assert!(
        !full["rooms"]["join"][&room_id]["state"]["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let bad = node
        .get(&format!("{V3}/sync?since=garbage"), Some(&alice.token))
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

#[tokio::test]
async fn long_poll_wakes_on_a_new_message() {
    let node = TestNode::new();
    let (alice, bob) = (node.register("alice").await, node.register("bob").await);
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let since = sync(&node, &bob, "").await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let query = format!("since={since}&timeout=20000");
    let (response, _) = tokio::join!(sync(&node, &bob, &query), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send_text(&node, &alice, &room_id, "t1", "wake up").await
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(timeline_bodies(&response, &room_id), ["wake up"]);
    let since = response["next_batch"].as_str().unwrap();
    let started = Instant::now();
    let idle = sync(&node, &bob, &format!("since={since}&timeout=300")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(idle["rooms"]["join"], json!({}));
}

#[tokio::test]
async fn timeline_limit_from_inline_and_stored_filters() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    for i in 0..8 {
        send_text(&node, &alice, &room_id, &format!("t{i}"), &format!("m{i}")).await;
    }
    let inline = sync(
        &node,
        &alice,
        "filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A3%7D%7D%7D",
    )
    .await;
    let timeline = &inline["rooms"]["join"][&room_id]["timeline"];
    assert_eq!(timeline_bodies(&inline, &room_id), ["m5", "m6", "m7"]);
    assert_eq!(timeline["limited"], true);
    let prev_batch = timeline["prev_batch"].as_str().unwrap();
    let earlier = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?dir=b&limit=2&from={prev_batch}"),
            Some(&alice.token),
        )
        .await;
    let bodies: Vec<&str> = earlier.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(bodies, ["m4", "m3"]);
    let created = node
        .post(
            &format!("{V3}/user/{}/filter", alice.user_id),
            Some(&alice.token),
            json!({"room": {"timeline": {"limit": 2}}}),
        )
        .await;
    let filter_id = created.body["filter_id"].as_str().unwrap();
    let stored = sync(&node, &alice, &format!("filter={filter_id}")).await;
    assert_eq!(timeline_bodies(&stored, &room_id), ["m6", "m7"]);
    let unknown = node
        .get(&format!("{V3}/sync?filter=999"), Some(&alice.token))
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

#[tokio::test]
async fn invites_and_leaves_have_their_sections() {
    let node = TestNode::new();
    let (alice, bob) = (node.register("alice").await, node.register("bob").await);
    let since = sync(&node, &bob, "").await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let room_id = create_room(
        &node,
        &alice,
        json!({"name": "Wardroom", "invite": [bob.user_id]}),
    )
    .await;
    let invited = sync(&node, &bob, &format!("since={since}")).await;
    let invite_state = invited["rooms"]["invite"][&room_id]["invite_state"]["events"]
        .as_array()
        .unwrap()
        .clone();
    let has = |event_type: &str, state_key: &str| {
        invite_state
            .iter()
            .any(|e| e["type"] == event_type && e["state_key"] == state_key)
    };
    assert!(has("m.room.member", &bob.user_id), "{invite_state:?}");
    assert!(has("m.room.create", "") && has("m.room.name", "") && has("m.room.join_rules", ""));
    let member = |user_id: &str| {
        invite_state
            .iter()
            .find(|e| e["type"] == "m.room.member" && e["state_key"] == user_id)
            .unwrap_or_else(|| panic!("no membership of {user_id} in {invite_state:?}"))
    };
    let own = member(&bob.user_id);
    assert_eq!(own["content"]["membership"], "invite");
    assert_eq!(own["sender"], alice.user_id.as_str());
    // The inviter's own membership, which clients name the inviter from.
    assert_eq!(member(&alice.user_id)["content"]["membership"], "join");
    let members = invite_state.iter().filter(|e| e["type"] == "m.room.member");
    assert_eq!(members.count(), 2, "no other members: {invite_state:?}");
    let since = invited["next_batch"].as_str().unwrap().to_owned();
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let joined = sync(&node, &bob, &format!("since={since}")).await;
    let room = &joined["rooms"]["join"][&room_id];
    let seen: Vec<&Value> = ["state", "timeline"]
        .iter()
        .flat_map(|section| room[section]["events"].as_array().unwrap())
        .collect();
    assert!(
        seen.iter().any(|e| e["type"] == "m.room.create"),
        "a new member gets the room: {joined}"
    );
    let since = joined["next_batch"].as_str().unwrap().to_owned();
    node.call(
        axum::http::Method::POST,
        &format!("{V3}/rooms/{room_id}/leave"),
        Some(&bob.token),
        None,
    )
    .await;
    let left = sync(&node, &bob, &format!("since={since}")).await;
    let leave_events = left["rooms"]["leave"][&room_id]["timeline"]["events"]
        .as_array()
        .unwrap();
    assert_eq!(
        leave_events.last().unwrap()["content"]["membership"],
        "leave"
    );
    assert!(left["rooms"]["join"].get(&room_id).is_none());
}

#[tokio::test]
async fn ephemeral_events_account_data_and_unread_counts() {
    let node = TestNode::new();
    let (alice, bob) = (node.register("alice").await, node.register("bob").await);
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let since = sync(&node, &bob, "").await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = send_text(&node, &alice, &room_id, "t1", "one").await;
    send_text(&node, &alice, &room_id, "t2", "two").await;
    node.put(
        &format!("{V3}/rooms/{room_id}/typing/{}", alice.user_id),
        Some(&alice.token),
        json!({"typing": true, "timeout": 10000}),
    )
    .await;
    node.post(
        &format!("{V3}/rooms/{room_id}/receipt/m.read/{first}"),
        Some(&alice.token),
        json!({}),
    )
    .await;
    node.post(
        &format!("{V3}/rooms/{room_id}/receipt/m.read/{first}"),
        Some(&bob.token),
        json!({}),
    )
    .await;
    node.post(
        &format!("{V3}/rooms/{room_id}/receipt/m.read.private/{first}"),
        Some(&alice.token),
        json!({}),
    )
    .await;
    node.put(
        &format!(
            "{V3}/user/{}/rooms/{room_id}/account_data/org.example.tag",
            bob.user_id
        ),
        Some(&bob.token),
        json!({"x": 1}),
    )
    .await;
    node.put(
        &format!("{V3}/user/{}/account_data/org.example.global", bob.user_id),
        Some(&bob.token),
        json!({"y": 2}),
    )
    .await;
    let response = sync(&node, &bob, &format!("since={since}")).await;
    let room = &response["rooms"]["join"][&room_id];
    let ephemeral = room["ephemeral"]["events"].as_array().unwrap();
    let typing = ephemeral.iter().find(|e| e["type"] == "m.typing").unwrap();
    assert_eq!(typing["content"]["user_ids"], json!([alice.user_id]));
    let receipt = ephemeral.iter().find(|e| e["type"] == "m.receipt").unwrap();
    assert!(
        receipt["content"][&first]["m.read"][&alice.user_id]["ts"].is_i64(),
        "{receipt}"
    );
    assert!(
        receipt["content"][&first].get("m.read.private").is_none(),
        "alice's private receipt is hers alone: {receipt}"
    );
    assert_eq!(
        room["unread_notifications"]["notification_count"], 1,
        "one message after bob's receipt"
    );
    assert_eq!(room["account_data"]["events"][0]["type"], "org.example.tag");
    assert!(
        response["account_data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "org.example.global")
    );
    let since = response["next_batch"].as_str().unwrap();
    node.put(
        &format!("{V3}/rooms/{room_id}/typing/{}", alice.user_id),
        Some(&alice.token),
        json!({"typing": false}),
    )
    .await;
    let stopped = sync(&node, &bob, &format!("since={since}")).await;
    let typing = stopped["rooms"]["join"][&room_id]["ephemeral"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.typing")
        .cloned()
        .unwrap();
    assert_eq!(typing["content"]["user_ids"], json!([]));
}

#[tokio::test]
async fn to_device_messages_are_delivered_until_acknowledged() {
    let node = TestNode::new();
    let (alice, bob) = (node.register("alice").await, node.register("bob").await);
    let since = sync(&node, &bob, "").await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = node
        .put(
            &format!("{V3}/sendToDevice/m.room_key_request/k1"),
            Some(&alice.token),
            json!({"messages": {bob.user_id.clone(): {bob.device_id.clone(): {"n": 1}}}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let first = sync(&node, &bob, &format!("since={since}&timeout=5000")).await;
    assert_eq!(first["to_device"]["events"][0]["content"]["n"], 1);
    assert_eq!(
        first["to_device"]["events"][0]["sender"],
        alice.user_id.as_str()
    );
    let repeated = sync(&node, &bob, &format!("since={since}")).await;
    assert_eq!(
        repeated["to_device"]["events"].as_array().unwrap().len(),
        1,
        "not acknowledged yet"
    );
    let next = first["next_batch"].as_str().unwrap();
    let acknowledged = sync(&node, &bob, &format!("since={next}")).await;
    assert_eq!(acknowledged["to_device"]["events"], json!([]));
    let remaining: i64 = node
        .database()
        .query_row("SELECT count(*) FROM to_device_messages", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(remaining, 0);
}

async fn send_content(
    node: &TestNode,
    session: &Session,
    room_id: &str,
    txn: &str,
    content: Value,
) {
    let response = node
        .put(
            &format!("{V3}/rooms/{room_id}/send/m.room.message/{txn}"),
            Some(&session.token),
            content,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

/// alice's public room, which bob joined after naming himself `display_name`.
async fn alice_and_bob_named(node: &TestNode, display_name: &str) -> (Session, Session, String) {
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let room_id = create_room(node, &alice, json!({"preset": "public_chat"})).await;
    node.put(
        &format!("{V3}/profile/{}/displayname", bob.user_id),
        Some(&bob.token),
        json!({ "displayname": display_name }),
    )
    .await;
    assert_eq!(join(node, &bob, &room_id).await.status, StatusCode::OK);
    (alice, bob, room_id)
}

#[tokio::test]
async fn unread_counts_highlight_mentions_and_skip_notices() {
    let node = TestNode::new();
    let (alice, bob, room_id) = alice_and_bob_named(&node, "Old Salt").await;
    let messages = [
        json!({"msgtype": "m.text", "body": "plain"}),
        json!({"msgtype": "m.text", "body": "Bob: the bridge"}),
        json!({"msgtype": "m.text", "body": "where is the old salt?"}),
        json!({"msgtype": "m.text", "body": "bobbing along"}),
        json!({"msgtype": "m.text", "body": "x", "m.mentions": {"user_ids": [bob.user_id]}}),
        json!({"msgtype": "m.text", "body": "bob", "m.mentions": {}}),
        json!({"msgtype": "m.notice", "body": "bob, automated"}),
    ];
    for (index, content) in messages.into_iter().enumerate() {
        send_content(&node, &alice, &room_id, &format!("m{index}"), content).await;
    }
    send_text(&node, &bob, &room_id, "own", "bob talks to himself").await;
    let response = sync(&node, &bob, "").await;
    let counts = &response["rooms"]["join"][&room_id]["unread_notifications"];
    assert_eq!(
        *counts,
        json!({"notification_count": 6, "highlight_count": 3}),
        "six messages from alice that are not notices; three mention bob"
    );
    let alices = sync(&node, &alice, "").await;
    assert_eq!(
        alices["rooms"]["join"][&room_id]["unread_notifications"],
        json!({"notification_count": 1, "highlight_count": 0})
    );
}

#[tokio::test]
async fn a_display_name_beyond_ascii_is_found_in_any_case() {
    let node = TestNode::new();
    let (alice, bob, room_id) = alice_and_bob_named(&node, "Jürgen").await;
    send_text(&node, &alice, &room_id, "m1", "JÜRGEN, ahoy").await;
    send_text(&node, &alice, &room_id, "m2", "jurgen is someone else").await;
    let response = sync(&node, &bob, "").await;
    assert_eq!(
        response["rooms"]["join"][&room_id]["unread_notifications"],
        json!({"notification_count": 2, "highlight_count": 1})
    );
}

#[tokio::test]
async fn a_forgotten_room_leaves_sync_until_the_membership_changes() {
    let node = TestNode::new();
    let (alice, bob) = (node.register("alice").await, node.register("bob").await);
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let forget = format!("{V3}/rooms/{room_id}/forget");
    let still_joined = node.post(&forget, Some(&bob.token), json!({})).await;
    assert_error(&still_joined, StatusCode::BAD_REQUEST, "M_UNKNOWN");
    let anonymous = node.post(&forget, None, json!({})).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    let since = sync(&node, &bob, "").await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let leave = node
        .post(
            &format!("{V3}/rooms/{room_id}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(leave.status, StatusCode::OK);
    let with_leaves = "filter=%7B%22room%22%3A%7B%22include_leave%22%3Atrue%7D%7D";
    let left = sync(&node, &bob, with_leaves).await;
    assert!(left["rooms"]["leave"].get(&room_id).is_some(), "{left}");

    let forgotten = node.post(&forget, Some(&bob.token), json!({})).await;
    assert_eq!(forgotten.status, StatusCode::OK, "{}", forgotten.body);
    for query in [with_leaves.to_owned(), format!("since={since}")] {
        let response = sync(&node, &bob, &query).await;
        assert!(
            response["rooms"]["leave"].get(&room_id).is_none(),
            "{response}"
        );
    }
    let never_in = create_room(&node, &alice, json!({})).await;
    let nothing = node
        .post(
            &format!("{V3}/rooms/{never_in}/forget"),
            Some(&bob.token),
            json!({}),
        )
        .await;
    assert_eq!(nothing.status, StatusCode::OK);

    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let rejoined = sync(&node, &bob, "").await;
    assert!(
        rejoined["rooms"]["join"].get(&room_id).is_some(),
        "{rejoined}"
    );
}

fn event_types(section: &Value) -> Vec<&str> {
    section["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

/// Matrix 1.16's `use_state_after`: `state_after` replaces `state` and holds every state change
/// up to the end of the timeline, those in the timeline too.
#[tokio::test]
async fn state_after_holds_the_changes_up_to_the_timelines_end() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({"name": "Mess"})).await;
    let initial = sync(&node, &alice, "use_state_after=true").await;
    let room = &initial["rooms"]["join"][&room_id];
    assert!(room.get("state").is_none(), "{room}");
    let state_after = event_types(&room["state_after"]);
    for wanted in [
        "m.room.create",
        "m.room.member",
        "m.room.power_levels",
        "m.room.name",
    ] {
        assert!(state_after.contains(&wanted), "{wanted} missing: {room}");
    }
    let since = initial["next_batch"].as_str().unwrap();
    let renamed = node
        .put(
            &format!("{V3}/rooms/{room_id}/state/m.room.name/"),
            Some(&alice.token),
            json!({"name": "Wardroom"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    send_text(&node, &alice, &room_id, "t1", "after the rename").await;
    let next = sync(
        &node,
        &alice,
        &format!("since={since}&use_state_after=true"),
    )
    .await;
    let room = &next["rooms"]["join"][&room_id];
    assert_eq!(
        event_types(&room["timeline"]),
        ["m.room.name", "m.room.message"]
    );
    let changes = room["state_after"]["events"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{room}");
    assert_eq!(changes[0]["content"]["name"], "Wardroom");
    // Without the parameter the same sync keeps the timeline's state events out of `state`.
    let classic = sync(&node, &alice, &format!("since={since}")).await;
    let room = &classic["rooms"]["join"][&room_id];
    assert_eq!(room["state"]["events"], json!([]), "{room}");
    assert!(room.get("state_after").is_none(), "{room}");
}
