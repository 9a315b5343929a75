//! Lazy-loaded members: `lazy_load_members` in /sync and /messages filters, and the room
//! summary of /sync.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::rooms::{create_room, join, send_text};
use crate::support::{Session, TestNode};
use crate::sync::sync;

const V3: &str = "/_matrix/client/v3";

fn encoded(filter: &Value) -> String {
    filter
        .to_string()
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The state keys of the member events among `events`.
fn members_in(events: &Value) -> BTreeSet<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"] == "m.room.member")
        .map(|event| event["state_key"].as_str().unwrap().to_owned())
        .collect()
}

fn users(sessions: &[&Session]) -> BTreeSet<String> {
    sessions.iter().map(|s| s.user_id.clone()).collect()
}

/// alice's public room "Deck" that bob and carol joined, where bob spoke last.
async fn room_where_bob_spoke(node: &TestNode) -> (Session, Session, Session, String) {
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let carol = node.register("carol").await;
    let room_id = create_room(
        node,
        &alice,
        json!({"preset": "public_chat", "name": "Deck"}),
    )
    .await;
    for session in [&bob, &carol] {
        assert_eq!(join(node, session, &room_id).await.status, StatusCode::OK);
    }
    send_text(node, &bob, &room_id, "t1", "ahoy").await;
    (alice, bob, carol, room_id)
}

#[tokio::test]
async fn sync_sends_only_the_members_of_senders_and_the_user() {
    let node = TestNode::new();
    let (alice, bob, carol, room_id) = room_where_bob_spoke(&node).await;
    let filter = json!({"room": {"state": {"lazy_load_members": true}, "timeline": {"limit": 1}}});
    let lazy = sync(&node, &carol, &format!("filter={}", encoded(&filter))).await;
    let room = &lazy["rooms"]["join"][&room_id];
    assert_eq!(members_in(&room["state"]["events"]), users(&[&bob, &carol]));
    let types: BTreeSet<&str> = room["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    assert!(
        types.contains("m.room.name") && types.contains("m.room.create"),
        "{types:?}"
    );
    assert_eq!(
        room["summary"],
        json!({"m.joined_member_count": 3, "m.invited_member_count": 0})
    );

    let eager_filter = json!({"room": {"timeline": {"limit": 1}}});
    let eager = sync(&node, &carol, &format!("filter={}", encoded(&eager_filter))).await;
    let state = &eager["rooms"]["join"][&room_id]["state"]["events"];
    assert_eq!(members_in(state), users(&[&alice, &bob, &carol]));

    // Incremental: the new sender's member event comes with their message, nothing else.
    let since = lazy["next_batch"].as_str().unwrap();
    send_text(&node, &alice, &room_id, "t2", "welcome").await;
    let next = sync(
        &node,
        &carol,
        &format!("since={since}&filter={}", encoded(&filter)),
    )
    .await;
    let room = &next["rooms"]["join"][&room_id];
    assert_eq!(members_in(&room["state"]["events"]), users(&[&alice]));
    assert_eq!(room["timeline"]["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unnamed_room_names_its_heroes_and_sends_their_members() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let room_id = create_room(&node, &alice, json!({"invite": [bob.user_id]})).await;
    let filter = json!({"room": {"state": {"lazy_load_members": true}, "timeline": {"limit": 1}}});
    let synced = sync(&node, &alice, &format!("filter={}", encoded(&filter))).await;
    let room = &synced["rooms"]["join"][&room_id];
    assert_eq!(
        room["summary"],
        json!({
            "m.heroes": [bob.user_id],
            "m.joined_member_count": 1,
            "m.invited_member_count": 1,
        })
    );
    let in_state = members_in(&room["state"]["events"]);
    let in_timeline = members_in(&room["timeline"]["events"]);
    let sent: BTreeSet<String> = in_state.union(&in_timeline).cloned().collect();
    assert_eq!(sent, users(&[&alice, &bob]));
}

#[tokio::test]
async fn messages_come_with_their_senders_members() {
    let node = TestNode::new();
    let (_alice, bob, carol, room_id) = room_where_bob_spoke(&node).await;
    let filter = json!({"lazy_load_members": true});
    let path = format!(
        "{V3}/rooms/{room_id}/messages?dir=b&limit=1&filter={}",
        encoded(&filter)
    );
    let page = node.get(&path, Some(&carol.token)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["chunk"][0]["content"]["body"], "ahoy");
    assert_eq!(members_in(&page.body["state"]), users(&[&bob]));

    let plain = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?dir=b&limit=1"),
            Some(&carol.token),
        )
        .await;
    assert!(plain.body.get("state").is_none(), "{}", plain.body);
    let bad = node
        .get(
            &format!("{V3}/rooms/{room_id}/messages?filter=%7B%22lazy_load_members%22%3A1%7D"),
            Some(&carol.token),
        )
        .await;
    crate::support::assert_error(&bad, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}
