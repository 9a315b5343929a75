use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, TestNode, assert_error};

const LOGIN: &str = "/_matrix/client/v3/login";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

#[tokio::test]
async fn login_flows_offer_passwords() {
    let node = TestNode::new();
    let response = node.get(LOGIN, None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({ "flows": [{ "type": "m.login.password" }] })
    );
}

#[tokio::test]
async fn login_with_identifier_legacy_user_and_full_user_id() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    for body in [
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": "alice" },
            "password": PASSWORD,
        }),
        json!({ "type": "m.login.password", "user": "alice", "password": PASSWORD }),
        json!({ "type": "m.login.password", "user": alice.user_id, "password": PASSWORD }),
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": "ALICE" },
            "password": PASSWORD,
        }),
    ] {
        let response = node.post(LOGIN, None, body.clone()).await;
        assert_eq!(response.status, StatusCode::OK, "{body}: {}", response.body);
        assert_eq!(response.body["user_id"], alice.user_id);
        assert_eq!(response.body["home_server"], node.server_name);
        let token = response.body["access_token"].as_str().unwrap();
        let whoami = node.get(WHOAMI, Some(token)).await;
        assert_eq!(whoami.body["device_id"], response.body["device_id"]);
    }
}

#[tokio::test]
async fn login_failures() {
    let node = TestNode::new();
    node.register("alice").await;
    let cases = [
        (
            json!({ "type": "m.login.password", "user": "alice", "password": "wrong" }),
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        ),
        (
            json!({ "type": "m.login.password", "user": "nobody", "password": PASSWORD }),
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        ),
        (
            json!({ "type": "m.login.password", "user": "@alice:elsewhere", "password": PASSWORD }),
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
        ),
        (
            json!({ "type": "m.login.token", "token": "x" }),
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
        ),
        (
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.thirdparty", "medium": "email", "address": "a@b" },
                "password": PASSWORD,
            }),
            StatusCode::BAD_REQUEST,
            "M_UNKNOWN",
        ),
        (
            json!({ "type": "m.login.password", "user": "alice" }),
            StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
        ),
        (
            json!({ "user": "alice" }),
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
        ),
    ];
    for (body, status, errcode) in cases {
        let response = node.post(LOGIN, None, body).await;
        assert_error(&response, status, errcode);
    }
    let response = node.raw_post(LOGIN, "password=x").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_NOT_JSON");
}

#[tokio::test]
async fn login_reuses_a_known_device_id() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let again = node.login("alice", Some(&alice.device_id)).await;
    assert_eq!(again.device_id, alice.device_id);
    assert_ne!(again.token, alice.token);
    let devices = node
        .get("/_matrix/client/v3/devices", Some(&again.token))
        .await;
    assert_eq!(devices.body["devices"].as_array().unwrap().len(), 1);
    let other = node.login("alice", None).await;
    assert_ne!(other.device_id, alice.device_id);
}

#[tokio::test]
async fn whoami_by_header_or_query_parameter() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let response = node.get(WHOAMI, Some(&alice.token)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({ "user_id": alice.user_id, "device_id": alice.device_id, "is_guest": false })
    );
    let response = node
        .get(&format!("{WHOAMI}?access_token={}&x=y", alice.token), None)
        .await;
    assert_eq!(response.body["user_id"], alice.user_id);
    let response = node
        .get(
            &format!(
                "/_matrix/client/r0/account/whoami?access_token={}",
                alice.token
            ),
            None,
        )
        .await;
    assert_eq!(response.body["user_id"], alice.user_id);
}

#[tokio::test]
async fn missing_unknown_and_malformed_tokens() {
    let node = TestNode::new();
    let response = node.get(WHOAMI, None).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    let response = node.get(WHOAMI, Some("flo_not_a_token")).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    assert_eq!(response.body["soft_logout"], false);
    let response = node
        .get(&format!("{WHOAMI}?access_token=bogus"), None)
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    let request = Request::get(WHOAMI)
        .header("authorization", "Basic YWxpY2U6cHc=")
        .body(Body::empty())
        .unwrap();
    let response = node.send(request).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn logout_answers_empty_and_kills_only_that_token() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let second = node.login("alice", None).await;
    let response = node
        .call(
            axum::http::Method::POST,
            "/_matrix/client/v3/logout",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({}));
    let response = node.get(WHOAMI, Some(&alice.token)).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    let response = node.get(WHOAMI, Some(&second.token)).await;
    assert_eq!(response.status, StatusCode::OK);
    let devices = node
        .get("/_matrix/client/v3/devices", Some(&second.token))
        .await;
    let devices = devices.body["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 1, "logout deletes the device");
    assert_eq!(devices[0]["device_id"], second.device_id);
}

#[tokio::test]
async fn logout_all_kills_every_token() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let second = node.login("alice", None).await;
    let bob = node.register("bob").await;
    let response = node
        .post(
            "/_matrix/client/r0/logout/all",
            Some(&second.token),
            json!({}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({}));
    for token in [&alice.token, &second.token] {
        let response = node.get(WHOAMI, Some(token)).await;
        assert_error(&response, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    }
    let response = node.get(WHOAMI, Some(&bob.token)).await;
    assert_eq!(response.status, StatusCode::OK);
    let response = node
        .post("/_matrix/client/v3/logout", None, json!({}))
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn openid_tokens_are_issued_only_for_oneself() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let path = format!(
        "/_matrix/client/v3/user/{}/openid/request_token",
        alice.user_id
    );
    let response = node.post(&path, Some(&alice.token), json!({})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(response.body["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(response.body["token_type"], "Bearer");
    assert_eq!(
        response.body["matrix_server_name"],
        node.server_name.as_str()
    );
    assert_eq!(response.body["expires_in"], 3600);
    let bob = node.register("bob").await;
    let other = node.post(&path, Some(&bob.token), json!({})).await;
    assert_error(&other, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let anonymous = node.post(&path, None, json!({})).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}
