//! Server-side key backup: versions, storing and reading keys at three levels, the better
//! copy of a key winning, etags and counts, and the errors the spec names.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Session, TestNode, assert_error};

const V3: &str = "/_matrix/client/v3";
const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

fn session_key(first_message_index: u32, verified: bool, marker: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": 0,
        "is_verified": verified,
        "session_data": {"ephemeral": marker, "ciphertext": "…", "mac": "…"},
    })
}

async fn create_version(node: &TestNode, session: &Session) -> String {
    let response = node
        .post(
            &format!("{V3}/room_keys/version"),
            Some(&session.token),
            json!({"algorithm": ALGORITHM, "auth_data": {"public_key": "abc"}}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["version"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_backup_keeps_keys_at_every_level_and_the_better_copy_of_each() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let token = Some(alice.token.as_str());
    assert_error(
        &node.get(&format!("{V3}/room_keys/version"), token).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let version = create_version(&node, &alice).await;
    let info = node
        .get(&format!("{V3}/room_keys/version"), token)
        .await
        .body;
    assert_eq!(info["version"], version);
    assert_eq!(info["algorithm"], ALGORITHM);
    assert_eq!(info["auth_data"], json!({"public_key": "abc"}));
    assert_eq!(info["count"], 0);
    let first_etag = info["etag"].clone();

    let keys = |path: &str| format!("{V3}/room_keys/keys{path}?version={version}");
    let body = json!({"rooms": {
        "!deck:ship": {"sessions": {"s1": session_key(3, false, "a"), "s2": session_key(0, false, "b")}},
        "!galley:ship": {"sessions": {"s3": session_key(0, true, "c")}},
    }});
    let response = node.put(&keys(""), token, body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["count"], 3);
    assert_ne!(response.body["etag"], first_etag);
    let etag = response.body["etag"].clone();

    let worse = session_key(5, false, "worse");
    let response = node.put(&keys("/!deck:ship/s1"), token, worse).await;
    assert_eq!(
        response.body,
        json!({"etag": etag, "count": 3}),
        "nothing changed"
    );
    let better = json!({"sessions": {"s1": session_key(1, false, "better")}});
    let response = node.put(&keys("/!deck:ship"), token, better).await;
    assert_ne!(response.body["etag"], etag);

    let one = node.get(&keys("/!deck:ship/s1"), token).await;
    assert_eq!(one.body, session_key(1, false, "better"));
    let room = node.get(&keys("/!deck:ship"), token).await;
    assert_eq!(room.body["sessions"].as_object().unwrap().len(), 2);
    let all = node.get(&keys(""), token).await;
    assert_eq!(
        all.body["rooms"]["!galley:ship"]["sessions"]["s3"],
        session_key(0, true, "c")
    );
    let empty = node.get(&keys("/!nowhere:ship"), token).await;
    assert_eq!(empty.body, json!({"sessions": {}}));
    assert_error(
        &node.get(&keys("/!deck:ship/none"), token).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );

    let response = node
        .call(Method::DELETE, &keys("/!deck:ship/s2"), token, None)
        .await;
    assert_eq!(response.body["count"], 2);
    let response = node
        .call(Method::DELETE, &keys("/!galley:ship"), token, None)
        .await;
    assert_eq!(response.body["count"], 1);
    let response = node.call(Method::DELETE, &keys(""), token, None).await;
    assert_eq!(response.body["count"], 0);

    let bob = node.register("bob").await;
    let response = node
        .get(&format!("{V3}/room_keys/version"), Some(&bob.token))
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

#[tokio::test]
async fn only_the_current_version_takes_keys_and_deleted_versions_are_gone() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let token = Some(alice.token.as_str());
    let key_path = |version: &str| format!("{V3}/room_keys/keys/!deck:ship/s1?version={version}");
    assert_error(
        &node
            .put(&key_path("1"), token, session_key(0, false, "x"))
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let old = create_version(&node, &alice).await;
    node.put(&key_path(&old), token, session_key(0, false, "x"))
        .await;
    let new = create_version(&node, &alice).await;
    assert_ne!(old, new);
    let response = node
        .put(&key_path(&old), token, session_key(0, false, "x"))
        .await;
    assert_error(
        &response,
        StatusCode::FORBIDDEN,
        "M_WRONG_ROOM_KEYS_VERSION",
    );
    assert_eq!(response.body["current_version"], new);
    let old_key = node.get(&key_path(&old), token).await;
    assert_eq!(old_key.status, StatusCode::OK, "old versions stay readable");

    let version_path = |version: &str| format!("{V3}/room_keys/version/{version}");
    let update = json!({"algorithm": ALGORITHM, "auth_data": {"public_key": "def"}});
    let response = node.put(&version_path(&new), token, update.clone()).await;
    assert_eq!(response.body, json!({}));
    let info = node.get(&version_path(&new), token).await.body;
    assert_eq!(info["auth_data"]["public_key"], "def");
    let other_algorithm = json!({"algorithm": "org.example.other", "auth_data": {}});
    assert_error(
        &node.put(&version_path(&new), token, other_algorithm).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let mismatched = json!({"algorithm": ALGORITHM, "auth_data": {}, "version": old});
    assert_error(
        &node.put(&version_path(&new), token, mismatched).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    for _ in 0..2 {
        let response = node
            .call(Method::DELETE, &version_path(&new), token, None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "deleting twice succeeds");
    }
    assert_error(
        &node.get(&version_path(&new), token).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let current = node.get(&format!("{V3}/room_keys/version"), token).await;
    assert_eq!(
        current.body["version"], old,
        "the newest left is current again"
    );
    assert_eq!(current.body["count"], 1);
    for missing in ["99", "x", "0"] {
        assert_error(
            &node
                .call(Method::DELETE, &version_path(missing), token, None)
                .await,
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        );
    }
}

#[tokio::test]
async fn bad_key_backup_requests_are_matrix_errors() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let token = Some(alice.token.as_str());
    let version = create_version(&node, &alice).await;
    let response = node
        .post(
            &format!("{V3}/room_keys/version"),
            token,
            json!({"algorithm": ALGORITHM}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node
        .post(
            &format!("{V3}/room_keys/version"),
            token,
            json!({"algorithm": "", "auth_data": {}}),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let key_path = format!("{V3}/room_keys/keys/!deck:ship/s1?version={version}");
    let negative = json!({"first_message_index": -1, "forwarded_count": 0, "is_verified": false,
        "session_data": {}});
    assert_error(
        &node.put(&key_path, token, negative).await,
        StatusCode::BAD_REQUEST,
        "M_BAD_JSON",
    );
    let not_a_room = format!("{V3}/room_keys/keys/deck/s1?version={version}");
    assert_error(
        &node
            .put(&not_a_room, token, session_key(0, false, "x"))
            .await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let no_version = format!("{V3}/room_keys/keys/!deck:ship/s1");
    let response = node
        .put(&no_version, token, session_key(0, false, "x"))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let response = node
        .get(&format!("{V3}/room_keys/keys?version={version}"), None)
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}
