//! Account data, profiles, devices and filters.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, TestNode, assert_error};

#[tokio::test]
async fn global_account_data_round_trips() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let path = format!(
        "/_matrix/client/v3/user/{}/account_data/m.direct",
        alice.user_id
    );
    let response = node.get(&path, Some(&alice.token)).await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let content = json!({ "@bob:x": ["!room:x"] });
    let response = node.put(&path, Some(&alice.token), content.clone()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({}));
    let response = node.get(&path, Some(&alice.token)).await;
    assert_eq!(response.body, content);
    let replaced = json!({});
    node.put(&path, Some(&alice.token), replaced.clone()).await;
    assert_eq!(node.get(&path, Some(&alice.token)).await.body, replaced);
    let encoded = path.replace('@', "%40").replace(':', "%3A");
    assert_eq!(node.get(&encoded, Some(&alice.token)).await.body, replaced);
}

#[tokio::test]
async fn room_account_data_round_trips() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let path = format!(
        "/_matrix/client/v3/user/{}/rooms/!abc:x/account_data/m.tag",
        alice.user_id
    );
    let content = json!({ "tags": { "u.work": { "order": 0.5 } } });
    let response = node.put(&path, Some(&alice.token), content.clone()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(node.get(&path, Some(&alice.token)).await.body, content);
    let global = format!(
        "/_matrix/client/v3/user/{}/account_data/m.tag",
        alice.user_id
    );
    assert_error(
        &node.get(&global, Some(&alice.token)).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let bad_room = format!(
        "/_matrix/client/v3/user/{}/rooms/not-a-room/account_data/m.tag",
        alice.user_id
    );
    let response = node.put(&bad_room, Some(&alice.token), json!({})).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
}

#[tokio::test]
async fn account_data_errors() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let alices = format!("/_matrix/client/v3/user/{}/account_data/x.y", alice.user_id);
    let response = node.put(&alices, Some(&bob.token), json!({})).await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let response = node.get(&alices, Some(&bob.token)).await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let response = node.put(&alices, None, json!({})).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    let response = node.put(&alices, Some(&alice.token), json!([1])).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let managed = format!(
        "/_matrix/client/v3/user/{}/account_data/m.push_rules",
        alice.user_id
    );
    let response = node.put(&managed, Some(&alice.token), json!({})).await;
    assert_error(&response, StatusCode::METHOD_NOT_ALLOWED, "M_BAD_JSON");
}

#[tokio::test]
async fn profiles_are_read_by_anyone_and_written_by_their_owner() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let profile = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    assert_eq!(node.get(&profile, None).await.body, json!({}));
    let response = node
        .put(
            &format!("{profile}/displayname"),
            Some(&alice.token),
            json!({ "displayname": "Alice of the Dauntless" }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({}));
    node.put(
        &format!("{profile}/avatar_url"),
        Some(&alice.token),
        json!({ "avatar_url": "mxc://dauntless/alice" }),
    )
    .await;
    assert_eq!(
        node.get(&profile, Some(&bob.token)).await.body,
        json!({ "displayname": "Alice of the Dauntless", "avatar_url": "mxc://dauntless/alice" })
    );
    assert_eq!(
        node.get(&format!("{profile}/displayname"), None).await.body,
        json!({ "displayname": "Alice of the Dauntless" })
    );
    assert_eq!(
        node.get(&format!("{profile}/avatar_url"), None).await.body,
        json!({ "avatar_url": "mxc://dauntless/alice" })
    );

    let response = node
        .put(
            &format!("{profile}/displayname"),
            Some(&bob.token),
            json!({ "displayname": "Mallory" }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let response = node
        .put(
            &format!("{profile}/displayname"),
            Some(&alice.token),
            json!({ "displayname": "x".repeat(2000) }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    node.put(
        &format!("{profile}/displayname"),
        Some(&alice.token),
        json!({ "displayname": null }),
    )
    .await;
    assert_eq!(
        node.get(&profile, None).await.body,
        json!({ "avatar_url": "mxc://dauntless/alice" })
    );
    let response = node
        .get(
            &format!("/_matrix/client/v3/profile/@nobody:{}", node.server_name),
            None,
        )
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

#[tokio::test]
async fn devices_are_listed_read_and_renamed() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let laptop = node.login("alice", Some("LAPTOP")).await;
    let response = node
        .get("/_matrix/client/v3/devices", Some(&alice.token))
        .await;
    let devices = response.body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(|device| device["device_id"] == "LAPTOP"));
    let path = "/_matrix/client/v3/devices/LAPTOP";
    let response = node
        .put(
            path,
            Some(&alice.token),
            json!({ "display_name": "Chart room" }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({}));
    let response = node.get(path, Some(&laptop.token)).await;
    assert_eq!(response.body["display_name"], "Chart room");
    assert_eq!(response.body["device_id"], "LAPTOP");
    // Without `display_name` (matrix-commander sends `device_name`) the name is kept.
    let unnamed = node
        .put(path, Some(&alice.token), json!({ "device_name": "x" }))
        .await;
    assert_eq!(unnamed.status, StatusCode::OK);
    let response = node.get(path, Some(&laptop.token)).await;
    assert_eq!(response.body["display_name"], "Chart room");
    let missing = "/_matrix/client/v3/devices/NOPE";
    assert_error(
        &node.get(missing, Some(&alice.token)).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    for body in [json!({ "display_name": "x" }), json!({})] {
        assert_error(
            &node.put(missing, Some(&alice.token), body).await,
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
        );
    }
    let bob = node.register("bob").await;
    assert_error(
        &node.get(path, Some(&bob.token)).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn deleting_a_device_needs_the_password() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let laptop = node.login("alice", Some("LAPTOP")).await;
    let path = "/_matrix/client/v3/devices/LAPTOP";
    let response = node
        .call(Method::DELETE, path, Some(&alice.token), None)
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.body["flows"],
        json!([{ "stages": ["m.login.password"] }])
    );
    let session = response.body["session"].as_str().unwrap().to_owned();
    let wrong = json!({ "auth": {
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": alice.user_id },
        "password": "wrong",
        "session": session,
    }});
    let response = node
        .call(Method::DELETE, path, Some(&alice.token), Some(wrong))
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_FORBIDDEN");
    assert_eq!(response.body["session"], session.as_str());
    let right = json!({ "auth": {
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": "alice" },
        "password": PASSWORD,
        "session": session,
    }});
    let response = node
        .call(Method::DELETE, path, Some(&alice.token), Some(right))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body, json!({}));
    let response = node
        .get("/_matrix/client/v3/account/whoami", Some(&laptop.token))
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    let response = node
        .call(Method::DELETE, path, Some(&alice.token), None)
        .await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

#[tokio::test]
async fn delete_devices_in_bulk() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    node.login("alice", Some("ONE")).await;
    node.login("alice", Some("TWO")).await;
    let path = "/_matrix/client/v3/delete_devices";
    let response = node
        .post(
            path,
            Some(&alice.token),
            json!({ "devices": ["ONE", "TWO"] }),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let response = node
        .post(
            path,
            Some(&alice.token),
            json!({
                "devices": ["ONE", "TWO", "UNKNOWN"],
                "auth": { "type": "m.login.password", "user": "alice", "password": PASSWORD },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let devices = node
        .get("/_matrix/client/v3/devices", Some(&alice.token))
        .await;
    assert_eq!(devices.body["devices"].as_array().unwrap().len(), 1);
    let response = node.post(path, Some(&alice.token), json!({})).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn passwordless_accounts_reauthenticate_with_dummy() {
    let node = TestNode::new();
    let response = node
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "bot", "auth": { "type": "m.login.dummy" } }),
        )
        .await;
    let token = response.body["access_token"].as_str().unwrap().to_owned();
    let device = response.body["device_id"].as_str().unwrap().to_owned();
    let path = format!("/_matrix/client/v3/devices/{device}");
    let response = node.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(
        response.body["flows"],
        json!([{ "stages": ["m.login.dummy"] }])
    );
    let response = node
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({ "auth": { "type": "m.login.dummy" } })),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn filters_are_stored_per_user() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let create = format!("/_matrix/client/v3/user/{}/filter", alice.user_id);
    let filter = json!({ "room": { "timeline": { "limit": 10 } }, "presence": { "types": [] } });
    let response = node.post(&create, Some(&alice.token), filter.clone()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({ "filter_id": "0" }));
    let response = node.post(&create, Some(&alice.token), json!({})).await;
    assert_eq!(response.body, json!({ "filter_id": "1" }));
    let response = node.get(&format!("{create}/0"), Some(&alice.token)).await;
    assert_eq!(response.body, filter);
    for missing in ["7", "abc"] {
        let response = node
            .get(&format!("{create}/{missing}"), Some(&alice.token))
            .await;
        assert_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    }
    assert_error(
        &node.post(&create, Some(&bob.token), json!({})).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &node.get(&format!("{create}/0"), Some(&bob.token)).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    assert_error(
        &node.raw_post(&create, "{").await,
        StatusCode::UNAUTHORIZED,
        "M_MISSING_TOKEN",
    );
}
