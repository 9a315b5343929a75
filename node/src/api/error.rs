//! Matrix errors: a code, an HTTP status and a human-readable message, as the spec's
//! "standard error response". Internal failures are logged and answered with a generic 500
//! so nothing about the node's internals reaches a client.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct MatrixError {
    pub status: StatusCode,
    pub errcode: &'static str,
    pub message: String,
    /// More fields of the body, e.g. `retry_after_ms` or the interactive-auth flows.
    pub extra: Map<String, Value>,
}

impl MatrixError {
    pub fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        MatrixError {
            status,
            errcode,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn with_field(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn not_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", message)
    }

    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", message)
    }

    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", message)
    }

    pub fn missing_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_MISSING_PARAM", message)
    }

    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "Missing access token",
        )
    }

    pub fn unknown_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "Unknown or expired access token",
        )
        .with_field("soft_logout", Value::Bool(false))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
    }

    pub fn unrecognized() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "M_UNRECOGNIZED",
            "Unrecognized request",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "M_UNRECOGNIZED",
            "Method not allowed for this endpoint",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "M_TOO_LARGE",
            format!("Request body larger than {limit} bytes"),
        )
    }

    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "M_LIMIT_EXCEEDED",
            "Too many requests",
        )
        .with_field("retry_after_ms", json!(retry_after_ms))
    }

    pub fn user_in_use() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_USER_IN_USE",
            "User ID already taken",
        )
    }

    /// An alias that is taken: 409 when adding it to the directory, 400 from `createRoom`.
    pub fn room_in_use(status: StatusCode, alias: &str) -> Self {
        Self::new(
            status,
            "M_ROOM_IN_USE",
            format!("Room alias {alias} already exists"),
        )
    }

    /// A canonical alias that does not name the room.
    pub fn bad_alias(alias: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_BAD_ALIAS",
            format!("Room alias {alias} does not point to this room"),
        )
    }

    pub fn invalid_username(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_INVALID_USERNAME", message)
    }

    pub fn unsupported_room_version(version: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_UNSUPPORTED_ROOM_VERSION",
            format!("Unsupported room version {version:?}"),
        )
    }

    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", message)
    }

    /// A 401 whose body is exactly `body`: the interactive-auth challenge a client gets before
    /// it has tried any stage carries no `errcode`.
    pub fn bare(status: StatusCode, body: Map<String, Value>) -> Self {
        MatrixError {
            status,
            errcode: "",
            message: String::new(),
            extra: body,
        }
    }

    /// Logs `detail` and answers with a 500 that says nothing about it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error while serving a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            "Internal server error",
        )
    }
}

impl IntoResponse for MatrixError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        if !self.errcode.is_empty() {
            body.insert("errcode".into(), Value::from(self.errcode));
            body.insert("error".into(), Value::from(self.message));
        }
        (self.status, Json(Value::Object(body))).into_response()
    }
}

impl From<StoreError> for MatrixError {
    fn from(error: StoreError) -> Self {
        MatrixError::internal(error_chain(&error))
    }
}

/// `error: cause: cause …`, for logging an error whose message leaves the causes to `source()`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

impl From<PathRejection> for MatrixError {
    fn from(rejection: PathRejection) -> Self {
        MatrixError::invalid_param(format!("Invalid path parameter: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for MatrixError {
    fn from(rejection: QueryRejection) -> Self {
        MatrixError::invalid_param(format!(
            "Invalid query parameter: {}",
            rejection.body_text()
        ))
    }
}

/// The result of every handler.
pub type ApiResult<T> = Result<T, MatrixError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: MatrixError) -> (StatusCode, Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn codes_and_statuses_follow_the_spec() {
        let cases = [
            (MatrixError::not_json("x"), 400, "M_NOT_JSON"),
            (MatrixError::bad_json("x"), 400, "M_BAD_JSON"),
            (MatrixError::missing_token(), 401, "M_MISSING_TOKEN"),
            (MatrixError::unknown_token(), 401, "M_UNKNOWN_TOKEN"),
            (MatrixError::forbidden("x"), 403, "M_FORBIDDEN"),
            (MatrixError::not_found("x"), 404, "M_NOT_FOUND"),
            (MatrixError::unrecognized(), 404, "M_UNRECOGNIZED"),
            (MatrixError::too_large(10), 413, "M_TOO_LARGE"),
            (MatrixError::limit_exceeded(1500), 429, "M_LIMIT_EXCEEDED"),
            (MatrixError::user_in_use(), 400, "M_USER_IN_USE"),
            (
                MatrixError::invalid_username("x"),
                400,
                "M_INVALID_USERNAME",
            ),
            (
                MatrixError::unsupported_room_version("13"),
                400,
                "M_UNSUPPORTED_ROOM_VERSION",
            ),
            (MatrixError::internal("secret detail"), 500, "M_UNKNOWN"),
        ];
        for (error, status, errcode) in cases {
            let (actual_status, body) = body_of(error).await;
            assert_eq!(actual_status.as_u16(), status, "{errcode}");
            assert_eq!(body["errcode"], errcode);
            assert!(body["error"].is_string());
        }
    }

    #[test]
    fn store_errors_are_logged_with_their_causes() {
        let error = StoreError::Thread(std::io::Error::other("no threads left"));
        assert_eq!(
            error_chain(&error),
            "cannot start the database thread: no threads left"
        );
    }

    #[tokio::test]
    async fn extra_fields_and_hidden_internals() {
        let (_, body) = body_of(MatrixError::limit_exceeded(1500)).await;
        assert_eq!(body["retry_after_ms"], 1500);
        let (_, body) = body_of(MatrixError::internal("no such table: users")).await;
        assert_eq!(
            body,
            serde_json::json!({ "errcode": "M_UNKNOWN", "error": "Internal server error" })
        );
        let mut challenge = Map::new();
        challenge.insert("session".into(), Value::from("s"));
        let (status, body) = body_of(MatrixError::bare(StatusCode::UNAUTHORIZED, challenge)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, serde_json::json!({ "session": "s" }));
    }
}
