//! The media repository: upload, download (legacy and authenticated paths), thumbnails, the
//! upload limit, and the errors of each.

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;

use crate::support::{RawResponse, Session, TestNode, assert_error};

/// The eight-byte PNG signature and a few more bytes: the node never decodes images.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image";

async fn upload(
    node: &TestNode,
    token: Option<&str>,
    content_type: Option<&str>,
    query: &str,
    body: Body,
) -> crate::support::Response {
    let mut request = Request::post(format!("/_matrix/media/v3/upload{query}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    node.send(request.body(body).unwrap()).await
}

/// Uploads and returns the media ID of the `mxc://` URI.
async fn upload_ok(node: &TestNode, session: &Session, content_type: &str, bytes: &[u8]) -> String {
    let response = upload(
        node,
        Some(&session.token),
        Some(content_type),
        "",
        Body::from(bytes.to_vec()),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    media_id_of(node, &response.body)
}

fn media_id_of(node: &TestNode, body: &Value) -> String {
    let uri = body["content_uri"].as_str().unwrap();
    let prefix = format!("mxc://{}/", node.server_name);
    uri.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{uri} is not of {prefix}"))
        .to_owned()
}

async fn get_raw(node: &TestNode, path: &str, token: Option<&str>) -> RawResponse {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    node.send_for_bytes(request.body(Body::empty()).unwrap())
        .await
}

#[track_caller]
fn assert_raw_error(response: &RawResponse, status: StatusCode, errcode: &str) {
    assert_eq!(response.status, status);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["errcode"], errcode, "{body}");
}

fn header<'a>(response: &'a RawResponse, name: &str) -> &'a str {
    response.headers[name].to_str().unwrap()
}

#[tokio::test]
async fn an_upload_downloads_at_every_path_with_safe_headers() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let response = upload(
        &node,
        Some(&alice.token),
        Some("image/png"),
        "?filename=deck%20photo.png",
        Body::from(PNG),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let media_id = media_id_of(&node, &response.body);
    assert_eq!(media_id.len(), 32, "192 random bits");
    let server = &node.server_name;
    let paths = [
        (
            format!("/_matrix/media/v3/download/{server}/{media_id}"),
            None,
        ),
        (
            format!("/_matrix/media/r0/download/{server}/{media_id}"),
            None,
        ),
        (
            format!("/_matrix/client/v1/media/download/{server}/{media_id}"),
            Some(alice.token.as_str()),
        ),
    ];
    for (path, token) in paths {
        let download = get_raw(&node, &path, token).await;
        assert_eq!(download.status, StatusCode::OK, "{path}");
        assert_eq!(download.body, Bytes::from_static(PNG));
        assert_eq!(header(&download, "content-type"), "image/png");
        assert_eq!(header(&download, "content-length"), PNG.len().to_string());
        assert_eq!(
            header(&download, "content-disposition"),
            "inline; filename=\"deck photo.png\""
        );
        assert!(header(&download, "content-security-policy").starts_with("sandbox;"));
        assert_eq!(
            header(&download, "cross-origin-resource-policy"),
            "cross-origin"
        );
        assert_eq!(header(&download, "access-control-allow-origin"), "*");
    }
    let renamed = get_raw(
        &node,
        &format!("/_matrix/client/v1/media/download/{server}/{media_id}/bow.png"),
        Some(&alice.token),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(
        header(&renamed, "content-disposition"),
        "inline; filename=\"bow.png\""
    );
    let legacy_renamed = get_raw(
        &node,
        &format!("/_matrix/media/v3/download/{server}/{media_id}/bow.png"),
        None,
    )
    .await;
    assert_eq!(legacy_renamed.body, Bytes::from_static(PNG));

    let (size, uploader, sha256): (i64, String, String) = node
        .database()
        .query_row(
            "SELECT size, uploader, sha256 FROM media WHERE media_id = ?1",
            [&media_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(size, PNG.len() as i64);
    assert_eq!(uploader, alice.user_id);
    assert_eq!(sha256.len(), 64);
    let file = node
        .dir
        .path()
        .join("media")
        .join(&media_id[..2])
        .join(&media_id[2..]);
    assert_eq!(std::fs::read(file).unwrap(), PNG);
    let partial_dir = node.dir.path().join("media/tmp");
    assert_eq!(std::fs::read_dir(partial_dir).unwrap().count(), 0);
}

#[tokio::test]
async fn unsafe_and_unknown_types_are_attachments() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let html = upload_ok(&node, &alice, "text/html", b"<script>alert(1)</script>").await;
    let untyped = upload(&node, Some(&alice.token), None, "", Body::from("x")).await;
    let untyped = media_id_of(&node, &untyped.body);
    for (media_id, content_type) in [(html, "text/html"), (untyped, "application/octet-stream")] {
        let download = get_raw(
            &node,
            &format!("/_matrix/media/v3/download/{}/{media_id}", node.server_name),
            None,
        )
        .await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(header(&download, "content-type"), content_type);
        assert_eq!(header(&download, "content-disposition"), "attachment");
        assert_eq!(header(&download, "x-content-type-options"), "nosniff");
    }
}

#[tokio::test]
async fn config_reports_the_upload_limit_and_needs_a_token() {
    let node = TestNode::with_config(|config| config.max_upload_bytes = 12_345);
    let alice = node.register("alice").await;
    for path in [
        "/_matrix/media/v3/config",
        "/_matrix/media/r0/config",
        "/_matrix/client/v1/media/config",
    ] {
        let response = node.get(path, Some(&alice.token)).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.body["m.upload.size"], 12_345);
        let anonymous = node.get(path, None).await;
        assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
        let unknown = node.get(path, Some("flo_nobody")).await;
        assert_error(&unknown, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    }
}

#[tokio::test]
async fn uploads_need_a_token_and_respect_the_limit() {
    let node = TestNode::with_config(|config| config.max_upload_bytes = 10);
    let alice = node.register("alice").await;
    let anonymous = upload(&node, None, Some("text/plain"), "", Body::from("hi")).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    let unknown = upload(
        &node,
        Some("flo_x"),
        Some("text/plain"),
        "",
        Body::from("hi"),
    )
    .await;
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
    // Declared too large: refused before reading a byte.
    let declared = Request::post("/_matrix/media/v3/upload")
        .header("authorization", format!("Bearer {}", alice.token))
        .header("content-length", "1000000")
        .body(Body::from("x"))
        .unwrap();
    let declared = node.send(declared).await;
    assert_error(&declared, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
    // Streamed without a length: refused once the limit is crossed, and nothing is kept.
    let chunks = ["six b", "ytes, more"].map(|chunk| Ok::<_, std::io::Error>(Bytes::from(chunk)));
    let streamed = upload(
        &node,
        Some(&alice.token),
        Some("text/plain"),
        "",
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_error(&streamed, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
    let rows: i64 = node
        .database()
        .query_row("SELECT count(*) FROM media", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    let partial_dir = node.dir.path().join("media/tmp");
    assert_eq!(std::fs::read_dir(partial_dir).unwrap().count(), 0);
    let exact = upload_ok(&node, &alice, "text/plain", b"ten bytes!").await;
    assert!(!exact.is_empty());
}

#[tokio::test]
async fn unknown_foreign_and_malformed_media_are_not_found() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let media_id = upload_ok(&node, &alice, "image/png", PNG).await;
    let server = node.server_name.clone();
    let other_server = "a".repeat(64);
    let missing = [
        format!("{server}/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        format!("{other_server}/{media_id}"),
        format!("{server}/..%2F..%2Fflotilla.db"),
        format!("{server}/a.b"),
    ];
    for target in &missing {
        for (prefix, token) in [
            ("/_matrix/media/v3/download", None),
            (
                "/_matrix/client/v1/media/download",
                Some(alice.token.as_str()),
            ),
            (
                "/_matrix/client/v1/media/thumbnail",
                Some(alice.token.as_str()),
            ),
        ] {
            let path = format!("{prefix}/{target}?width=32&height=32");
            let response = get_raw(&node, &path, token).await;
            assert_raw_error(&response, StatusCode::NOT_FOUND, "M_NOT_FOUND");
        }
    }
}

#[tokio::test]
async fn authenticated_downloads_need_a_valid_token() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let media_id = upload_ok(&node, &alice, "image/png", PNG).await;
    let server = &node.server_name;
    for path in [
        format!("/_matrix/client/v1/media/download/{server}/{media_id}"),
        format!("/_matrix/client/v1/media/download/{server}/{media_id}/a.png"),
        format!("/_matrix/client/v1/media/thumbnail/{server}/{media_id}?width=1&height=1"),
    ] {
        let anonymous = get_raw(&node, &path, None).await;
        assert_raw_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
        let unknown = get_raw(&node, &path, Some("flo_nobody")).await;
        assert_raw_error(&unknown, StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN");
        let by_query = get_raw(
            &node,
            &format!(
                "{path}{}access_token={}",
                if path.contains('?') { '&' } else { '?' },
                alice.token
            ),
            None,
        )
        .await;
        assert_eq!(by_query.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn thumbnails_are_the_original_image_and_only_for_images() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let image = upload_ok(&node, &alice, "image/png", PNG).await;
    let document = upload_ok(&node, &alice, "application/pdf", b"%PDF-1.7").await;
    let server = &node.server_name;
    for (prefix, token) in [
        ("/_matrix/media/v3/thumbnail", None),
        ("/_matrix/media/r0/thumbnail", None),
        (
            "/_matrix/client/v1/media/thumbnail",
            Some(alice.token.as_str()),
        ),
    ] {
        let path = format!("{prefix}/{server}/{image}?width=96&height=96&method=crop");
        let thumbnail = get_raw(&node, &path, token).await;
        assert_eq!(thumbnail.status, StatusCode::OK, "{path}");
        assert_eq!(thumbnail.body, Bytes::from_static(PNG));
        assert_eq!(header(&thumbnail, "content-type"), "image/png");
        assert_eq!(header(&thumbnail, "content-disposition"), "inline");
        for query in [
            "width=96",
            "width=0&height=5",
            "width=a&height=1",
            "width=9&height=9&method=zoom",
        ] {
            let path = format!("{prefix}/{server}/{image}?{query}");
            let bad = get_raw(&node, &path, token).await;
            assert_raw_error(&bad, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
        }
        let path = format!("{prefix}/{server}/{document}?width=96&height=96");
        let not_an_image = get_raw(&node, &path, token).await;
        assert_raw_error(&not_an_image, StatusCode::BAD_REQUEST, "M_UNKNOWN");
    }
}

#[tokio::test]
async fn unauthenticated_downloads_are_rate_limited() {
    let node = TestNode::with_config(|config| {
        config.rate_limits.client_burst = 3;
        config.rate_limits.client_per_second = 0.001;
    });
    let alice = node.register("alice").await;
    let media_id = upload_ok(&node, &alice, "image/png", PNG).await;
    let path = format!("/_matrix/media/v3/download/{}/{media_id}", node.server_name);
    for _ in 0..3 {
        assert_eq!(get_raw(&node, &path, None).await.status, StatusCode::OK);
    }
    let limited = get_raw(&node, &path, None).await;
    assert_raw_error(&limited, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn head_requests_answer_headers_only() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let media_id = upload_ok(&node, &alice, "image/png", PNG).await;
    let request = Request::builder()
        .method(Method::HEAD)
        .uri(format!(
            "/_matrix/media/v3/download/{}/{media_id}",
            node.server_name
        ))
        .body(Body::empty())
        .unwrap();
    let response = node.send_for_bytes(request).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(header(&response, "content-length"), PNG.len().to_string());
}
