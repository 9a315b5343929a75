use axum::http::StatusCode;
use node::config::RegistrationMode;
use serde_json::json;

use crate::support::{PASSWORD, TestNode, assert_error};

const REGISTER: &str = "/_matrix/client/v3/register";

#[tokio::test]
async fn first_call_without_auth_gets_the_flows() {
    let node = TestNode::new();
    let response = node
        .post(
            REGISTER,
            None,
            json!({ "username": "alice", "password": "pw" }),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.body["flows"],
        json!([{ "stages": ["m.login.dummy"] }])
    );
    assert_eq!(response.body["params"], json!({}));
    let session = response.body["session"].as_str().unwrap();
    assert!(!session.is_empty());
    assert!(response.body.get("errcode").is_none());

    let response = node
        .post(
            REGISTER,
            None,
            json!({
                "username": "alice",
                "password": "pw",
                "auth": { "type": "m.login.dummy", "session": session },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["user_id"], node.user_id("alice"));
    assert!(response.body["access_token"].as_str().unwrap().len() > 20);
    assert!(!response.body["device_id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn one_shot_dummy_auth_with_absent_or_null_session() {
    let node = TestNode::new();
    for (name, auth) in [
        ("nosession", json!({ "type": "m.login.dummy" })),
        (
            "nullsession",
            json!({ "type": "m.login.dummy", "session": null }),
        ),
    ] {
        let response = node
            .post(
                REGISTER,
                None,
                json!({ "username": name, "password": "pw", "auth": auth }),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let token = response.body["access_token"].as_str().unwrap();
        let whoami = node
            .get("/_matrix/client/v3/account/whoami", Some(token))
            .await;
        assert_eq!(whoami.body["user_id"], node.user_id(name));
    }
}

#[tokio::test]
async fn chosen_device_id_and_display_name_are_kept() {
    let node = TestNode::new();
    let response = node
        .post(
            "/_matrix/client/r0/register",
            None,
            json!({
                "username": "alice",
                "password": "pw",
                "device_id": "MYPHONE",
                "initial_device_display_name": "Bridge phone",
                "auth": { "type": "m.login.dummy" },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["device_id"], "MYPHONE");
    let token = response.body["access_token"].as_str().unwrap();
    let device = node
        .get("/_matrix/client/v3/devices/MYPHONE", Some(token))
        .await;
    assert_eq!(device.body["display_name"], "Bridge phone");
}

#[tokio::test]
async fn inhibit_login_returns_only_the_user_id() {
    let node = TestNode::new();
    let response = node
        .post(
            REGISTER,
            None,
            json!({
                "username": "alice",
                "password": PASSWORD,
                "inhibit_login": true,
                "auth": { "type": "m.login.dummy" },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({ "user_id": node.user_id("alice") }));
    node.login("alice", None).await;
}

#[tokio::test]
async fn without_a_username_one_is_generated() {
    let node = TestNode::new();
    let response = node
        .post(
            REGISTER,
            None,
            json!({ "auth": { "type": "m.login.dummy" } }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let user_id = response.body["user_id"].as_str().unwrap();
    assert!(user_id.starts_with('@') && user_id.ends_with(&node.server_name));
}

#[tokio::test]
async fn guests_are_refused_and_unknown_kinds_are_invalid() {
    let node = TestNode::new();
    let body = json!({ "auth": { "type": "m.login.dummy" } });
    let response = node
        .post(&format!("{REGISTER}?kind=guest"), None, body.clone())
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let response = node
        .post(&format!("{REGISTER}?kind=robot"), None, body.clone())
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let response = node
        .post(&format!("{REGISTER}?kind=user&whatever=1"), None, body)
        .await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "unknown parameters are ignored"
    );
}

#[tokio::test]
async fn taken_and_invalid_usernames() {
    let node = TestNode::new();
    node.register("alice").await;
    for auth in [None, Some(json!({ "type": "m.login.dummy" }))] {
        let response = node
            .post(
                REGISTER,
                None,
                json!({ "username": "alice", "password": "pw", "auth": auth }),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "M_USER_IN_USE");
    }
    for bad in ["Alice", "a b", "a:b", "", "ünïcode"] {
        let response = node
            .post(
                REGISTER,
                None,
                json!({ "username": bad, "auth": { "type": "m.login.dummy" } }),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_USERNAME");
    }
}

#[tokio::test]
async fn a_stage_that_is_not_offered_fails_with_the_flows() {
    let node = TestNode::new();
    let response = node
        .post(
            REGISTER,
            None,
            json!({ "username": "alice", "auth": { "type": "m.login.password", "session": "s1" } }),
        )
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_FORBIDDEN");
    assert_eq!(response.body["session"], "s1");
    assert_eq!(
        response.body["flows"],
        json!([{ "stages": ["m.login.dummy"] }])
    );
}

#[tokio::test]
async fn malformed_bodies() {
    let node = TestNode::new();
    let response = node.raw_post(REGISTER, "{not json").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_NOT_JSON");
    let response = node.raw_post(REGISTER, "[1, 2]").await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node.post(REGISTER, None, json!({ "username": 42 })).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let response = node.post(REGISTER, None, json!({ "auth": "dummy" })).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn oversized_bodies_are_too_large() {
    let node = TestNode::with_config(|config| config.max_request_bytes = 100);
    let padding = "x".repeat(200);
    let response = node
        .post(REGISTER, None, json!({ "username": padding }))
        .await;
    assert_error(&response, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
    // Without a Content-Length header the limit still holds while streaming.
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok("{\"a\":\"".into()), Ok(padding), Ok("\"}".into())];
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    let response = node.raw_post(REGISTER, body).await;
    assert_error(&response, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
}

#[tokio::test]
async fn closed_registration_is_forbidden() {
    let node = TestNode::with_config(|config| {
        config.listen = "0.0.0.0:8008".parse().unwrap();
    });
    let response = node
        .post(
            REGISTER,
            None,
            json!({ "auth": { "type": "m.login.dummy" } }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let node = TestNode::with_config(|config| {
        config.registration.mode = RegistrationMode::Closed;
    });
    let response = node.post(REGISTER, None, json!({})).await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test]
async fn token_gated_registration() {
    let node = TestNode::with_config(|config| {
        config.listen = "0.0.0.0:8008".parse().unwrap();
        config.registration.tokens = vec!["fleet-secret".into()];
    });
    let response = node
        .post(REGISTER, None, json!({ "username": "alice" }))
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.body["flows"],
        json!([{ "stages": ["m.login.registration_token"] }])
    );
    let response = node
        .post(
            REGISTER,
            None,
            json!({ "username": "alice", "auth": { "type": "m.login.dummy" } }),
        )
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_FORBIDDEN");
    let response = node
        .post(
            REGISTER,
            None,
            json!({
                "username": "alice",
                "auth": { "type": "m.login.registration_token", "token": "wrong" },
            }),
        )
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_FORBIDDEN");
    let response = node
        .post(
            REGISTER,
            None,
            json!({
                "username": "alice",
                "auth": { "type": "m.login.registration_token", "token": "fleet-secret" },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);

    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity";
    let response = node
        .get(&format!("{validity}?token=fleet-secret"), None)
        .await;
    assert_eq!(response.body, json!({ "valid": true }));
    let response = node.get(&format!("{validity}?token=nope"), None).await;
    assert_eq!(response.body, json!({ "valid": false }));
    let response = node.get(validity, None).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let open = TestNode::new();
    let response = open.get(&format!("{validity}?token=x"), None).await;
    assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test]
async fn username_availability() {
    let node = TestNode::new();
    node.register("alice").await;
    let available = "/_matrix/client/v3/register/available";
    let response = node
        .get(&format!("{available}?username=bob&unknown=1"), None)
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({ "available": true }));
    let response = node.get(&format!("{available}?username=alice"), None).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_USER_IN_USE");
    let response = node
        .get(&format!("{available}?username=Bad%20Name"), None)
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_USERNAME");
    let response = node.get(available, None).await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
}
