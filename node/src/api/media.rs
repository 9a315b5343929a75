//! The media repository: `POST /_matrix/media/v3/upload`, and downloads, thumbnails and the
//! upload limit both at the authenticated paths of v1.11 (`/_matrix/client/v1/media/…`) and
//! at the older `/_matrix/media/v3/…` (and `r0`) paths, which need no token. The older paths
//! are not frozen: Hydrogen and older matrix-nio use them, and knowing a media ID is already
//! the capability (IDs are 192 random bits), as the spec's security section says.
//!
//! Media is local to this node: an `mxc://` URI of another server is unknown here.
//! Thumbnails are the original image: clients reach their own node over a LAN or loopback, so
//! resizing would save little and cost an image decoder (build time, and an attack surface
//! for crafted images) on every node.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderName,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::io::ReaderStream;

use super::error::{ApiResult, MatrixError, error_chain};
use super::extract::{Auth, ClientIp, MatrixPath, MatrixQuery};
use super::ratelimit::LimitClass;
use super::state::AppState;
use crate::media::{UploadError, is_valid_media_id};
use crate::store::media::{MediaRecord, insert_media, media};
use crate::store::now_ms;

const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// The spec's recommended policy for served content.
const SANDBOX_POLICY: &str = "sandbox; default-src 'none'; script-src 'none'; \
     plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";
/// Types that cannot run script when shown inline (the spec's "Serving inline content").
const INLINE_SAFE_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// `/_matrix/media/v3`, `/_matrix/media/r0` and `/_matrix/client/v1/media`.
pub fn routes() -> Router<AppState> {
    let legacy = Router::new()
        .route("/upload", post(upload))
        .route("/config", get(config))
        .route("/download/{server_name}/{media_id}", get(legacy_download))
        .route(
            "/download/{server_name}/{media_id}/{file_name}",
            get(legacy_download_as),
        )
        .route("/thumbnail/{server_name}/{media_id}", get(legacy_thumbnail));
    let authenticated = Router::new()
        .route("/config", get(config))
        .route("/download/{server_name}/{media_id}", get(download))
        .route(
            "/download/{server_name}/{media_id}/{file_name}",
            get(download_as),
        )
        .route("/thumbnail/{server_name}/{media_id}", get(thumbnail));
    Router::new()
        .nest("/_matrix/media/v3", legacy.clone())
        .nest("/_matrix/media/r0", legacy)
        .nest("/_matrix/client/v1/media", authenticated)
}

async fn config(State(state): State<AppState>, _auth: Auth) -> Json<Value> {
    Json(json!({ "m.upload.size": state.config.max_upload_bytes }))
}

#[derive(Deserialize)]
struct UploadQuery {
    filename: Option<String>,
}

async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    MatrixQuery(query): MatrixQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let limit = state.config.max_upload_bytes;
    if declared_length(&headers).is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_CONTENT_TYPE)
        .to_owned();
    let received = state
        .media
        .receive(body, limit)
        .await
        .map_err(|error| match error {
            UploadError::TooLarge { limit } => too_large(limit),
            UploadError::Body => MatrixError::unknown("Could not read the upload"),
            UploadError::Io(error) => MatrixError::internal(error_chain(&error)),
        })?;
    let media_id = crate::credentials::new_media_id().map_err(MatrixError::internal)?;
    let record = MediaRecord {
        media_id: media_id.clone(),
        content_type,
        file_name: query.filename.filter(|name| !name.is_empty()),
        size: received.size,
        uploader: auth.user_id,
        created_ts: now_ms(),
        sha256: received.sha256.clone(),
    };
    state
        .media
        .commit(received, &media_id)
        .await
        .map_err(|error| MatrixError::internal(error_chain(&error)))?;
    // The file is durable first, so a row never lacks its file.
    state
        .store
        .call(move |connection| insert_media(connection, &record))
        .await?;
    let content_uri = format!("mxc://{}/{media_id}", state.server_name());
    Ok(Json(json!({ "content_uri": content_uri })))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn too_large(limit: u64) -> MatrixError {
    MatrixError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "M_TOO_LARGE",
        format!("Uploads are limited to {limit} bytes"),
    )
}

/// Unauthenticated downloads count against the client's address, at the rate of a user.
fn check_address_limit(state: &AppState, ip: &ClientIp) -> Result<(), MatrixError> {
    let key = ip.as_string().unwrap_or_else(|| "unknown".to_owned());
    state.rate_limiter.check(LimitClass::Client, &key)
}

async fn legacy_download(
    State(state): State<AppState>,
    ip: ClientIp,
    MatrixPath((server_name, media_id)): MatrixPath<(String, String)>,
) -> ApiResult<Response> {
    check_address_limit(&state, &ip)?;
    serve(&state, &server_name, &media_id, None).await
}

async fn legacy_download_as(
    State(state): State<AppState>,
    ip: ClientIp,
    MatrixPath((server_name, media_id, file_name)): MatrixPath<(String, String, String)>,
) -> ApiResult<Response> {
    check_address_limit(&state, &ip)?;
    serve(&state, &server_name, &media_id, Some(file_name)).await
}

async fn download(
    State(state): State<AppState>,
    _auth: Auth,
    MatrixPath((server_name, media_id)): MatrixPath<(String, String)>,
) -> ApiResult<Response> {
    serve(&state, &server_name, &media_id, None).await
}

async fn download_as(
    State(state): State<AppState>,
    _auth: Auth,
    MatrixPath((server_name, media_id, file_name)): MatrixPath<(String, String, String)>,
) -> ApiResult<Response> {
    serve(&state, &server_name, &media_id, Some(file_name)).await
}

/// The spec's thumbnail parameters; `width` and `height` are required.
#[derive(Deserialize)]
struct ThumbnailQuery {
    width: u32,
    height: u32,
    method: Option<String>,
}

async fn legacy_thumbnail(
    State(state): State<AppState>,
    ip: ClientIp,
    MatrixPath((server_name, media_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<ThumbnailQuery>,
) -> ApiResult<Response> {
    check_address_limit(&state, &ip)?;
    serve_thumbnail(&state, &server_name, &media_id, &query).await
}

async fn thumbnail(
    State(state): State<AppState>,
    _auth: Auth,
    MatrixPath((server_name, media_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<ThumbnailQuery>,
) -> ApiResult<Response> {
    serve_thumbnail(&state, &server_name, &media_id, &query).await
}

/// The original, if it is an image a browser shows safely; other media has no thumbnail.
async fn serve_thumbnail(
    state: &AppState,
    server_name: &str,
    media_id: &str,
    query: &ThumbnailQuery,
) -> ApiResult<Response> {
    if query.width == 0 || query.height == 0 {
        return Err(MatrixError::invalid_param(
            "width and height must be positive",
        ));
    }
    if let Some(method) = query
        .method
        .as_deref()
        .filter(|m| !["crop", "scale"].contains(m))
    {
        return Err(MatrixError::invalid_param(format!(
            "Unknown thumbnail method {method:?}"
        )));
    }
    let record = find(state, server_name, media_id).await?;
    let essence = type_essence(&record.content_type);
    if !(essence.starts_with("image/") && is_inline_safe(&essence)) {
        return Err(MatrixError::unknown("This media has no thumbnail"));
    }
    respond_with_file(state, record, None).await
}

async fn serve(
    state: &AppState,
    server_name: &str,
    media_id: &str,
    file_name: Option<String>,
) -> ApiResult<Response> {
    let record = find(state, server_name, media_id).await?;
    respond_with_file(state, record, file_name).await
}

/// The record of a media ID of this node; anything else is `M_NOT_FOUND`.
async fn find(state: &AppState, server_name: &str, media_id: &str) -> ApiResult<MediaRecord> {
    if server_name != state.server_name() || !is_valid_media_id(media_id) {
        return Err(not_found());
    }
    let media_id = media_id.to_owned();
    state
        .store
        .call(move |connection| media(connection, &media_id))
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> MatrixError {
    MatrixError::not_found("Media not found")
}

async fn respond_with_file(
    state: &AppState,
    record: MediaRecord,
    file_name: Option<String>,
) -> ApiResult<Response> {
    let file = state.media.open(&record.media_id).await.map_err(|error| {
        MatrixError::internal(format!("media file {}: {error}", record.media_id))
    })?;
    let file_name = file_name.or(record.file_name);
    let content_type = HeaderValue::from_str(&record.content_type)
        .unwrap_or(HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    let disposition = content_disposition(&record.content_type, file_name.as_deref());
    let headers = [
        (CONTENT_TYPE, content_type),
        (CONTENT_LENGTH, HeaderValue::from(record.size)),
        (CONTENT_DISPOSITION, disposition),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX_POLICY),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    Ok((headers, Body::from_stream(ReaderStream::new(file))).into_response())
}

/// `text/plain; charset=utf-8` → `text/plain`.
fn type_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_inline_safe(essence: &str) -> bool {
    INLINE_SAFE_TYPES.contains(&essence)
}

/// `inline` only for the safe types, `attachment` otherwise, with the file name if known:
/// quoted when it is plain printable ASCII, else percent-encoded UTF-8 (RFC 6266 `filename*`).
fn content_disposition(content_type: &str, file_name: Option<&str>) -> HeaderValue {
    let kind = if is_inline_safe(&type_essence(content_type)) {
        "inline"
    } else {
        "attachment"
    };
    let value = match file_name {
        None => kind.to_owned(),
        Some(name) if name.bytes().all(is_quotable) => format!("{kind}; filename=\"{name}\""),
        Some(name) => format!("{kind}; filename*=utf-8''{}", percent_encode(name)),
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

fn is_quotable(byte: u8) -> bool {
    (b' '..=b'~').contains(&byte) && byte != b'"' && byte != b'\\'
}

/// Every byte but RFC 5987's `attr-char` as `%XX`.
fn percent_encode(text: &str) -> String {
    const KEPT: &[u8] = b"!#$&+-.^_`|~";
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || KEPT.contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_is_inline_only_for_safe_types() {
        let header = |content_type, name| content_disposition(content_type, name);
        assert_eq!(header("image/png", None), "inline");
        assert_eq!(header("Text/Plain; charset=utf-8", None), "inline");
        assert_eq!(header("text/html", None), "attachment");
        assert_eq!(header("image/svg+xml", None), "attachment");
        assert_eq!(
            header("image/jpeg", Some("deck photo.jpg")),
            "inline; filename=\"deck photo.jpg\""
        );
        assert_eq!(
            header("text/html", Some("a\"b\r\n.html")),
            "attachment; filename*=utf-8''a%22b%0D%0A.html"
        );
        assert_eq!(
            header("application/pdf", Some("Überfahrt.pdf")),
            "attachment; filename*=utf-8''%C3%9Cberfahrt.pdf"
        );
    }
}
