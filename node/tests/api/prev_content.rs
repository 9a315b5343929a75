//! `unsigned.replaces_state`, `prev_content` and `prev_sender` on state events, wherever
//! clients get events: /sync, /messages, /event, /state and /context.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::rooms::{create_room, join};
use crate::support::{Session, TestNode};
use crate::sync::sync;

const V3: &str = "/_matrix/client/v3";

async fn put_name(node: &TestNode, session: &Session, room_id: &str, name: &str) -> String {
    let response = node
        .put(
            &format!("{V3}/rooms/{room_id}/state/m.room.name"),
            Some(&session.token),
            json!({ "name": name }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["event_id"].as_str().unwrap().to_owned()
}

async fn get_ok(node: &TestNode, session: &Session, path: &str) -> Value {
    let response = node.get(path, Some(&session.token)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

fn find<'a>(events: &'a Value, event_id: &str) -> &'a Value {
    events
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["event_id"] == event_id)
        .unwrap_or_else(|| panic!("no {event_id} in {events}"))
}

#[track_caller]
fn assert_replaces(event: &Value, replaced_id: &str, prev_content: Value, prev_sender: &str) {
    let unsigned = &event["unsigned"];
    assert_eq!(unsigned["replaces_state"], replaced_id, "{event}");
    assert_eq!(unsigned["prev_content"], prev_content, "{event}");
    assert_eq!(unsigned["prev_sender"], prev_sender, "{event}");
}

#[tokio::test]
async fn state_events_carry_what_they_replaced_everywhere() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let first = put_name(&node, &alice, &room_id, "Chart room").await;
    let second = put_name(&node, &alice, &room_id, "Map room").await;
    let expected = json!({ "name": "Chart room" });

    let event = get_ok(
        &node,
        &alice,
        &format!("{V3}/rooms/{room_id}/event/{second}"),
    )
    .await;
    assert_replaces(&event, &first, expected.clone(), &alice.user_id);
    let event = get_ok(
        &node,
        &alice,
        &format!("{V3}/rooms/{room_id}/event/{first}"),
    )
    .await;
    assert!(event["unsigned"].get("prev_content").is_none(), "{event}");
    assert!(event["unsigned"].get("replaces_state").is_none(), "{event}");

    let state = get_ok(&node, &alice, &format!("{V3}/rooms/{room_id}/state")).await;
    assert_replaces(
        find(&state, &second),
        &first,
        expected.clone(),
        &alice.user_id,
    );

    let messages = get_ok(
        &node,
        &alice,
        &format!("{V3}/rooms/{room_id}/messages?dir=b&limit=5"),
    )
    .await;
    assert_replaces(
        find(&messages["chunk"], &second),
        &first,
        expected.clone(),
        &alice.user_id,
    );

    let context = get_ok(
        &node,
        &alice,
        &format!("{V3}/rooms/{room_id}/context/{second}?limit=2"),
    )
    .await;
    assert_replaces(&context["event"], &first, expected.clone(), &alice.user_id);

    let synced = sync(&node, &alice, "").await;
    let timeline = &synced["rooms"]["join"][&room_id]["timeline"]["events"];
    assert_replaces(find(timeline, &second), &first, expected, &alice.user_id);
}

#[tokio::test]
async fn a_join_after_an_invite_shows_the_invite_and_its_sender() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let room_id = create_room(&node, &alice, json!({ "invite": [bob.user_id] })).await;
    let joined = join(&node, &bob, &room_id).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let synced = sync(&node, &bob, "").await;
    let timeline = synced["rooms"]["join"][&room_id]["timeline"]["events"]
        .as_array()
        .unwrap();
    let join_event = timeline
        .iter()
        .rev()
        .find(|event| event["type"] == "m.room.member" && event["state_key"] == bob.user_id)
        .unwrap();
    let unsigned = &join_event["unsigned"];
    assert_eq!(unsigned["prev_content"]["membership"], "invite");
    assert_eq!(unsigned["prev_sender"], alice.user_id.as_str());
}

#[tokio::test]
async fn a_redacted_predecessor_is_shown_redacted() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let first = put_name(&node, &alice, &room_id, "Secret name").await;
    let redacted = node
        .put(
            &format!("{V3}/rooms/{room_id}/redact/{first}/r1"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(redacted.status, StatusCode::OK, "{}", redacted.body);
    let second = put_name(&node, &alice, &room_id, "Public name").await;
    let event = get_ok(
        &node,
        &alice,
        &format!("{V3}/rooms/{room_id}/event/{second}"),
    )
    .await;
    assert_replaces(&event, &first, json!({}), &alice.user_id);
}
