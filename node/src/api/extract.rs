//! Request extractors that fail with Matrix errors instead of axum's plain-text rejections.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::MatrixError;
use super::ratelimit::LimitClass;
use super::state::AppState;
use crate::store::accounts;

/// A path extractor whose failures are `M_INVALID_PARAM`.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(MatrixError))]
pub struct MatrixPath<T>(pub T);

/// A query extractor whose failures are `M_INVALID_PARAM`; unknown parameters are ignored.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(MatrixError))]
pub struct MatrixQuery<T>(pub T);

/// A JSON object request body. Too large → `M_TOO_LARGE`; not JSON → `M_NOT_JSON`; JSON of
/// the wrong shape → `M_BAD_JSON`. An empty body counts as `{}`, since several endpoints
/// (join, logout) are called with none. The content type is not checked: clients differ.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = MatrixError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_request_bytes;
        check_declared_length(request.headers(), limit)?;
        let value = read_json_object(request.into_body(), limit).await?;
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|error| MatrixError::bad_json(format!("Malformed request body: {error}")))
    }
}

async fn read_json_object(body: Body, limit: usize) -> Result<Value, MatrixError> {
    let bytes = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error.downcast_ref::<LengthLimitError>().is_some() {
                MatrixError::too_large(limit)
            } else {
                MatrixError::bad_json("Could not read the request body")
            }
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| MatrixError::not_json("Request body is not valid JSON"))?;
    if !value.is_object() {
        return Err(MatrixError::bad_json("Request body must be a JSON object"));
    }
    Ok(value)
}

/// Rejects a request whose declared `Content-Length` exceeds the limit before reading it.
fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), MatrixError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(MatrixError::too_large(limit)),
        _ => Ok(()),
    }
}

/// The authenticated requester: a valid access token from the `Authorization: Bearer` header
/// or the `access_token` query parameter. Each request counts against the user's rate limit.
#[derive(Debug, Clone)]
pub struct Auth {
    pub user_id: String,
    pub device_id: String,
    pub is_admin: bool,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = MatrixError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = access_token(parts)?.ok_or_else(MatrixError::missing_token)?;
        let owner = state
            .store
            .call(move |connection| accounts::token_owner(connection, &token))
            .await?
            .ok_or_else(MatrixError::unknown_token)?;
        state
            .rate_limiter
            .check(LimitClass::Client, &owner.user_id)?;
        Ok(Auth {
            user_id: owner.user_id,
            device_id: owner.device_id,
            is_admin: owner.is_admin,
        })
    }
}

fn access_token(parts: &Parts) -> Result<Option<String>, MatrixError> {
    if let Some(header) = parts.headers.get(AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                MatrixError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "M_MISSING_TOKEN",
                    "Authorization header is not a Bearer token",
                )
            })?;
        return Ok(Some(token.to_owned()));
    }
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        access_token: Option<String>,
    }
    // A query string that does not parse cannot carry a token either.
    Ok(Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|Query(query)| query.access_token)
        .filter(|token| !token.is_empty()))
}

/// The peer address of the connection, when the server recorded it.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

impl ClientIp {
    /// Counts an unauthenticated login or registration attempt against this address.
    pub fn check_auth_limit(&self, state: &AppState) -> Result<(), MatrixError> {
        let key = self
            .0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        state.rate_limiter.check(LimitClass::Auth, &key)
    }

    pub fn as_string(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl Auth {
    /// `M_FORBIDDEN` unless `user_id` is the requester: nobody edits another user's data.
    pub fn require_self(&self, user_id: &str) -> Result<(), MatrixError> {
        if self.user_id == user_id {
            Ok(())
        } else {
            Err(MatrixError::forbidden(
                "Cannot act on behalf of another user",
            ))
        }
    }
}
