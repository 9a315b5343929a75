//! Push rules: the API that reads and edits a user's ruleset, its delivery as `m.push_rules`
//! account data in `/sync`, and its effect on unread counts.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::rooms::{create_room, join, send_text};
use crate::support::{Session, TestNode, assert_error};
use crate::sync::sync;

const RULES: &str = "/_matrix/client/v3/pushrules/global";

fn rule_ids(ruleset: &Value, kind: &str) -> Vec<String> {
    ruleset[kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["rule_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn put_rule(node: &TestNode, session: &Session, path: &str, body: Value) -> StatusCode {
    let response = node
        .put(&format!("{RULES}/{path}"), Some(&session.token), body)
        .await;
    response.status
}

async fn global(node: &TestNode, session: &Session) -> Value {
    let response = node.get(&format!("{RULES}/"), Some(&session.token)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

fn push_rules_in(sync: &Value) -> Option<Value> {
    sync["account_data"]["events"]
        .as_array()?
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .map(|event| event["content"]["global"].clone())
}

#[tokio::test]
async fn rules_are_added_read_moved_changed_and_deleted() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let cake = json!({"pattern": "cake", "actions": ["notify"]});
    assert_eq!(
        put_rule(&node, &alice, "content/cake", cake).await,
        StatusCode::OK
    );
    let pie = json!({"pattern": "pie", "actions": []});
    let status = put_rule(&node, &alice, "content/pie?after=cake", pie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rule_ids(&global(&node, &alice).await, "content"),
        ["cake", "pie", ".m.rule.contains_user_name"]
    );

    let response = node
        .get(&format!("{RULES}/content/pie"), Some(&alice.token))
        .await;
    assert_eq!(
        response.body,
        json!({"rule_id": "pie", "default": false, "enabled": true, "pattern": "pie",
            "actions": []})
    );
    let response = node
        .get(&format!("{RULES}/content/"), Some(&alice.token))
        .await;
    assert_eq!(response.body.as_array().unwrap().len(), 3);

    let path = format!("{RULES}/content/pie/enabled");
    let response = node
        .put(&path, Some(&alice.token), json!({"enabled": false}))
        .await;
    assert_eq!(response.body, json!({}));
    assert_eq!(
        node.get(&path, Some(&alice.token)).await.body,
        json!({"enabled": false})
    );
    let path = format!("{RULES}/override/.m.rule.master/actions");
    let actions = json!({"actions": ["notify", {"set_tweak": "sound", "value": "bell"}]});
    assert_eq!(
        node.put(&path, Some(&alice.token), actions.clone())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(node.get(&path, Some(&alice.token)).await.body, actions);

    let response = node
        .call(
            Method::DELETE,
            &format!("{RULES}/content/cake"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(response.body, json!({}));
    assert_eq!(
        rule_ids(&global(&node, &alice).await, "content"),
        ["pie", ".m.rule.contains_user_name"]
    );
    let whole = node
        .get("/_matrix/client/v3/pushrules/", Some(&alice.token))
        .await;
    assert_eq!(whole.body["global"], global(&node, &alice).await);

    let bob = node.register("bob").await;
    assert_eq!(
        rule_ids(&global(&node, &bob).await, "content"),
        [".m.rule.contains_user_name"],
        "rules are per user"
    );
}

#[tokio::test]
async fn bad_push_rule_requests_are_matrix_errors() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let token = Some(alice.token.as_str());
    let actions = json!({"actions": []});
    for (path, status, errcode) in [
        ("override/.mine", StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
        (
            "room/not-a-room",
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        ),
        ("sideways/x", StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
        ("content/cake", StatusCode::BAD_REQUEST, "M_MISSING_PARAM"),
        (
            "override/x?before=nothing",
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
        ),
        (
            "override/x?after=.m.rule.master",
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
        ),
    ] {
        let response = node
            .put(&format!("{RULES}/{path}"), token, actions.clone())
            .await;
        assert_error(&response, status, errcode);
    }
    let response = node
        .put(&format!("{RULES}/override/x"), token, json!({}))
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let response = node
        .put(
            &format!("{RULES}/override/x"),
            token,
            json!({"actions": ["explode"]}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .put(
            &format!("{RULES}/override/x"),
            token,
            json!({"actions": "notify"}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node
        .put(
            &format!("{RULES}/override/x/enabled"),
            token,
            json!({"enabled": true}),
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let response = node
        .put(
            &format!("{RULES}/override/.m.rule.master/enabled"),
            token,
            json!({"on": 1}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node.get(&format!("{RULES}/underride/missing"), token).await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let response = node
        .call(
            Method::DELETE,
            &format!("{RULES}/underride/.m.rule.message"),
            token,
            None,
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .get("/_matrix/client/v3/pushrules/device/", token)
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node.get(&format!("{RULES}/"), None).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    let response = node
        .put(
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.push_rules",
                alice.user_id
            ),
            token,
            json!({}),
        )
        .await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn sync_delivers_the_rules_and_each_change() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let initial = sync(&node, &alice, "").await;
    let rules = push_rules_in(&initial).expect("an initial sync carries the push rules");
    assert_eq!(rules, global(&node, &alice).await);
    let since = initial["next_batch"].as_str().unwrap().to_owned();

    let mute = json!({"actions": []});
    assert_eq!(
        put_rule(&node, &alice, "sender/@spam:elsewhere", mute).await,
        StatusCode::OK
    );
    let next = sync(&node, &alice, &format!("since={since}&timeout=0")).await;
    let rules = push_rules_in(&next).expect("an incremental sync carries the change");
    assert_eq!(rule_ids(&rules, "sender"), ["@spam:elsewhere"]);
    let since = next["next_batch"].as_str().unwrap().to_owned();
    let quiet = sync(&node, &alice, &format!("since={since}&timeout=0")).await;
    assert!(push_rules_in(&quiet).is_none(), "and then nothing: {quiet}");
    let again = sync(&node, &alice, "").await;
    assert_eq!(
        push_rules_in(&again),
        Some(rules),
        "an initial sync, once saved"
    );
}

#[tokio::test]
async fn unread_counts_follow_the_users_rules() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let carol = node.register("carol").await;
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    for member in [&bob, &carol] {
        assert_eq!(join(&node, member, &room_id).await.status, StatusCode::OK);
    }
    send_text(&node, &alice, &room_id, "a1", "all hands").await;
    send_text(&node, &carol, &room_id, "c1", "bob, the galley needs you").await;
    send_text(&node, &carol, &room_id, "c2", "stew is ready").await;
    let counts =
        |response: &Value| response["rooms"]["join"][&room_id]["unread_notifications"].clone();
    assert_eq!(
        counts(&sync(&node, &bob, "").await),
        json!({"notification_count": 3, "highlight_count": 1})
    );

    let sender = format!("sender/{}", carol.user_id);
    assert_eq!(
        put_rule(&node, &bob, &sender, json!({"actions": []})).await,
        StatusCode::OK
    );
    assert_eq!(
        counts(&sync(&node, &bob, "").await),
        json!({"notification_count": 2, "highlight_count": 1}),
        "carol muted; content rules (her mention of bob) rank above sender rules"
    );
    let keyword = json!({"pattern": "hands", "actions": ["notify", {"set_tweak": "highlight"}]});
    assert_eq!(
        put_rule(&node, &bob, "content/hands", keyword).await,
        StatusCode::OK
    );
    assert_eq!(
        counts(&sync(&node, &bob, "").await),
        json!({"notification_count": 2, "highlight_count": 2})
    );
    let master = format!("{RULES}/override/.m.rule.master/enabled");
    node.put(&master, Some(&bob.token), json!({"enabled": true}))
        .await;
    assert_eq!(
        counts(&sync(&node, &bob, "").await),
        json!({"notification_count": 0, "highlight_count": 0})
    );
    assert_eq!(
        counts(&sync(&node, &carol, "").await),
        json!({"notification_count": 1, "highlight_count": 0}),
        "bob's rules are his alone"
    );
}
