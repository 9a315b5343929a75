use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::support::{TestNode, assert_error};

#[tokio::test]
async fn versions_with_and_without_a_token() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    for token in [None, Some(alice.token.as_str())] {
        let response = node.get("/_matrix/client/versions", token).await;
        assert_eq!(response.status, StatusCode::OK);
        let versions = response.body["versions"].as_array().unwrap();
        assert!(versions.contains(&json!("v1.1")));
        assert!(versions.contains(&json!("v1.12")));
        assert!(versions.contains(&json!("r0.6.1")));
    }
}

#[tokio::test]
async fn unknown_endpoints_and_methods_are_unrecognized_with_cors() {
    let node = TestNode::new();
    let response = node.get("/_matrix/client/v3/no/such/thing", None).await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_UNRECOGNIZED");
    assert_eq!(response.headers["access-control-allow-origin"], "*");
    let response = node.get("/", None).await;
    assert_error(&response, StatusCode::NOT_FOUND, "M_UNRECOGNIZED");
    let response = node
        .call(Method::DELETE, "/_matrix/client/versions", None, None)
        .await;
    assert_error(&response, StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn preflight_requests_are_answered() {
    let node = TestNode::new();
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/_matrix/client/v3/login")
        .header("origin", "https://app.element.io")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .unwrap();
    let response = node.send(request).await;
    assert_eq!(response.status, StatusCode::OK);
    let headers = &response.headers;
    assert_eq!(headers["access-control-allow-origin"], "*");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
}

#[tokio::test]
async fn cors_headers_on_success_and_error_responses() {
    let node = TestNode::new();
    let request = |path: &str| {
        Request::get(path)
            .header("origin", "https://hydrogen.example")
            .body(Body::empty())
            .unwrap()
    };
    for path in [
        "/_matrix/client/versions",
        "/_matrix/client/v3/account/whoami",
    ] {
        let response = node.send(request(path)).await;
        assert_eq!(
            response.headers["access-control-allow-origin"], "*",
            "{path}"
        );
    }
}

#[tokio::test]
async fn capabilities_list_room_versions_with_the_configured_default() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let response = node
        .get("/_matrix/client/v3/capabilities", Some(&alice.token))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let versions = &response.body["capabilities"]["m.room_versions"];
    assert_eq!(versions["default"], "12");
    for version in ["10", "11", "12"] {
        assert_eq!(versions["available"][version], "stable");
    }
    assert_eq!(
        response.body["capabilities"]["m.change_password"]["enabled"],
        false
    );

    let node = TestNode::with_config(|config| {
        config.default_room_version = dag::RoomVersion::V11;
    });
    let alice = node.register("alice").await;
    let response = node
        .get("/_matrix/client/r0/capabilities", Some(&alice.token))
        .await;
    assert_eq!(
        response.body["capabilities"]["m.room_versions"]["default"],
        "11"
    );
    let response = node.get("/_matrix/client/v3/capabilities", None).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn startup_lookups_answer_empty_objects() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    for path in [
        "/_matrix/client/v3/voip/turnServer",
        "/_matrix/client/v3/thirdparty/protocols",
        "/_matrix/client/r0/voip/turnServer",
    ] {
        let response = node.get(path, Some(&alice.token)).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.body, json!({}), "{path}");
        let response = node.get(path, None).await;
        assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    }
}

#[tokio::test]
async fn default_push_rules_for_the_user() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let response = node
        .get("/_matrix/client/v3/pushrules/", Some(&alice.token))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let global = &response.body["global"];
    let ids = |kind: &str| -> Vec<String> {
        global[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["rule_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let overrides = ids("override");
    assert_eq!(overrides[0], ".m.rule.master");
    assert_eq!(global["override"][0]["enabled"], false);
    for expected in [
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.is_room_mention",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ] {
        assert!(overrides.contains(&expected.to_owned()), "{expected}");
    }
    let invite = global["override"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["rule_id"] == ".m.rule.invite_for_me")
        .unwrap();
    assert!(invite["conditions"].to_string().contains(&alice.user_id));
    assert_eq!(global["content"][0]["pattern"], "alice");
    assert_eq!(
        ids("underride"),
        [
            ".m.rule.call",
            ".m.rule.encrypted_room_one_to_one",
            ".m.rule.room_one_to_one",
            ".m.rule.message",
            ".m.rule.encrypted"
        ]
    );
    assert_eq!(global["room"], json!([]));
    assert_eq!(global["sender"], json!([]));

    let response = node
        .get("/_matrix/client/v3/pushrules/global/", Some(&alice.token))
        .await;
    assert_eq!(&response.body, global);
    let response = node.get("/_matrix/client/v3/pushrules/", None).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let node = TestNode::with_config(|config| {
        config.rate_limits.client_burst = 3;
        config.rate_limits.client_per_second = 0.5;
    });
    let alice = node.register("alice").await;
    for _ in 0..3 {
        let response = node
            .get("/_matrix/client/v3/account/whoami", Some(&alice.token))
            .await;
        assert_eq!(response.status, StatusCode::OK);
    }
    let response = node
        .get("/_matrix/client/v3/account/whoami", Some(&alice.token))
        .await;
    assert_error(&response, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    let retry = response.body["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 2000, "{retry}");

    let bob = node.register("bob").await;
    let response = node
        .get("/_matrix/client/v3/account/whoami", Some(&bob.token))
        .await;
    assert_eq!(response.status, StatusCode::OK, "limits are per user");
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() {
    let node = TestNode::with_config(|config| {
        config.rate_limits.auth_burst = 2;
        config.rate_limits.auth_per_second = 0.1;
    });
    let attempt = json!({ "type": "m.login.password", "user": "nobody", "password": "x" });
    for _ in 0..2 {
        let response = node
            .post("/_matrix/client/v3/login", None, attempt.clone())
            .await;
        assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    }
    let response = node.post("/_matrix/client/v3/login", None, attempt).await;
    assert_error(&response, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");

    let unlimited = TestNode::with_config(|config| {
        config.rate_limits.enabled = false;
        config.rate_limits.auth_burst = 1;
    });
    for _ in 0..5 {
        let response = unlimited
            .post(
                "/_matrix/client/v3/login",
                None,
                json!({ "type": "m.login.password", "user": "nobody", "password": "x" }),
            )
            .await;
        assert_error(&response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    }
}

#[tokio::test]
async fn internal_errors_do_not_leak_details() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    node.database()
        .execute_batch("DROP TABLE filters;")
        .unwrap();
    let response = node
        .post(
            &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_error(&response, StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN");
    let text = response.body.to_string();
    assert!(
        !text.contains("filters") && !text.contains("table"),
        "{text}"
    );
}

/// A node's server name is its key in hex, not a DNS name a client could look up, so there is
/// no well-known document to serve.
#[tokio::test]
async fn there_is_no_well_known_client_document() {
    let node = TestNode::new();
    let response = node.get("/.well-known/matrix/client", None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}
