//! Device keys, one-time keys and to-device messages.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Session, TestNode, assert_error};

pub fn device_keys(session: &Session) -> Value {
    json!({
        "user_id": session.user_id,
        "device_id": session.device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{}", session.device_id): "curve",
            format!("ed25519:{}", session.device_id): "edkey",
        },
        "signatures": { session.user_id.clone(): { format!("ed25519:{}", session.device_id): "sig" } },
    })
}

#[tokio::test]
async fn upload_counts_one_time_keys() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let upload = "/_matrix/client/v3/keys/upload";
    let response = node.post(upload, Some(&alice.token), json!({})).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({ "one_time_key_counts": { "signed_curve25519": 0 } })
    );
    let response = node
        .post(
            upload,
            Some(&alice.token),
            json!({
                "device_keys": device_keys(&alice),
                "one_time_keys": {
                    "signed_curve25519:AAAAAQ": { "key": "k1", "signatures": {} },
                    "signed_curve25519:AAAAAg": { "key": "k2", "signatures": {} },
                },
                "fallback_keys": {
                    "signed_curve25519:AAAAAw": { "key": "fb", "fallback": true, "signatures": {} },
                },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["one_time_key_counts"]["signed_curve25519"], 2);
}

#[tokio::test]
async fn upload_refuses_keys_of_another_device() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let response = node
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.token),
            json!({ "device_keys": device_keys(&bob) }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.token),
            json!({ "one_time_keys": [1, 2] }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn query_returns_device_keys_with_display_names() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    node.put(
        &format!("/_matrix/client/v3/devices/{}", alice.device_id),
        Some(&alice.token),
        json!({ "display_name": "Bridge" }),
    )
    .await;
    node.post(
        "/_matrix/client/v3/keys/upload",
        Some(&alice.token),
        json!({ "device_keys": device_keys(&alice) }),
    )
    .await;
    let response = node
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.token),
            json!({
                "device_keys": {
                    alice.user_id.clone(): [],
                    bob.user_id.clone(): [],
                    "@carol:other-node": [],
                },
                "timeout": 10000,
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let alices = &response.body["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(alices["keys"], device_keys(&alice)["keys"]);
    assert_eq!(alices["unsigned"]["device_display_name"], "Bridge");
    assert_eq!(response.body["device_keys"][&bob.user_id], json!({}));
    assert!(response.body["failures"].get("other-node").is_some());
    let response = node
        .post(
            "/_matrix/client/v3/keys/query",
            Some(&bob.token),
            json!({ "device_keys": { alice.user_id.clone(): ["OTHER"] } }),
        )
        .await;
    assert_eq!(response.body["device_keys"][&alice.user_id], json!({}));
    let response = node
        .post(
            "/_matrix/client/v3/keys/query",
            None,
            json!({ "device_keys": {} }),
        )
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn claim_hands_out_each_key_once_then_the_fallback() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    node.post(
        "/_matrix/client/v3/keys/upload",
        Some(&alice.token),
        json!({
            "one_time_keys": { "signed_curve25519:AAAAAQ": { "key": "k1" } },
            "fallback_keys": { "signed_curve25519:AAAAFB": { "key": "fb", "fallback": true } },
        }),
    )
    .await;
    let claim = json!({
        "one_time_keys": { alice.user_id.clone(): { alice.device_id.clone(): "signed_curve25519" } },
        "timeout": 10000,
    });
    let first = node
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&bob.token),
            claim.clone(),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        first.body["one_time_keys"][&alice.user_id][&alice.device_id],
        json!({ "signed_curve25519:AAAAAQ": { "key": "k1" } })
    );
    let second = node
        .post("/_matrix/client/v3/keys/claim", Some(&bob.token), claim)
        .await;
    assert_eq!(
        second.body["one_time_keys"][&alice.user_id][&alice.device_id],
        json!({ "signed_curve25519:AAAAFB": { "key": "fb", "fallback": true } })
    );
    let counts = node
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(counts.body["one_time_key_counts"]["signed_curve25519"], 0);
    let none = node
        .post(
            "/_matrix/client/v3/keys/claim",
            Some(&bob.token),
            json!({ "one_time_keys": { bob.user_id.clone(): { bob.device_id.clone(): "signed_curve25519" } } }),
        )
        .await;
    assert_eq!(none.body["one_time_keys"], json!({}));
}

fn queued_messages(node: &TestNode, user_id: &str, device_id: &str) -> Vec<(String, Value)> {
    node::store::e2ee::to_device_messages(&node.database(), user_id, device_id, 0, 100)
        .unwrap()
        .into_iter()
        .map(|message| {
            (
                message.event_type,
                serde_json::from_str(&message.content_json).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn to_device_messages_are_queued_once_per_transaction() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let bob_laptop = node.login("bob", Some("LAPTOP")).await;
    let body = json!({
        "messages": {
            bob.user_id.clone(): { "*": { "ping": 1 } },
            alice.user_id.clone(): { alice.device_id.clone(): { "ping": 2 } },
            "@carol:other-node": { "X": { "ping": 3 } },
        }
    });
    let path = "/_matrix/client/v3/sendToDevice/m.test.ping/txn1";
    for _ in 0..2 {
        let response = node.put(path, Some(&alice.token), body.clone()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body, json!({}));
    }
    for device in [&bob.device_id, &bob_laptop.device_id] {
        assert_eq!(
            queued_messages(&node, &bob.user_id, device),
            vec![("m.test.ping".to_owned(), json!({ "ping": 1 }))]
        );
    }
    assert_eq!(
        queued_messages(&node, &alice.user_id, &alice.device_id).len(),
        1
    );

    let response = node
        .put(
            "/_matrix/client/v3/sendToDevice/m.test.ping/txn2",
            Some(&alice.token),
            body,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        queued_messages(&node, &bob.user_id, &bob.device_id).len(),
        2
    );

    let response = node
        .put(
            "/_matrix/client/v3/sendToDevice/m.test.ping/txn3",
            Some(&alice.token),
            json!({ "messages": "no" }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node
        .put(
            "/_matrix/client/v3/sendToDevice/m.test.ping/txn4",
            None,
            json!({ "messages": {} }),
        )
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}
