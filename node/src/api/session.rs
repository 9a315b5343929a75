//! Logging in and out, and asking who a token belongs to.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, ClientIp, JsonBody, MatrixPath};
use super::state::AppState;
use super::uia::{self, Identifier};
use crate::credentials;
use crate::store::accounts;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_flows).post(login))
        .route("/account/whoami", get(whoami))
        .route("/logout", post(logout))
        .route("/logout/all", post(logout_all))
        .route("/user/{user_id}/openid/request_token", post(openid_token))
}

async fn login_flows() -> Json<Value> {
    Json(json!({ "flows": [{ "type": uia::PASSWORD }] }))
}

#[derive(Deserialize)]
struct LoginRequest {
    #[serde(rename = "type")]
    kind: String,
    identifier: Option<Identifier>,
    user: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonBody(request): JsonBody<LoginRequest>,
) -> ApiResult<Json<Value>> {
    ip.check_auth_limit(&state)?;
    if request.kind != uia::PASSWORD {
        return Err(MatrixError::unknown(format!(
            "Unsupported login type {:?}",
            request.kind
        )));
    }
    let password = request
        .password
        .ok_or_else(|| MatrixError::missing_param("Missing password"))?;
    let invalid = || MatrixError::forbidden("Invalid username or password");
    let user_id = uia::resolve_user(&state, request.identifier.as_ref(), request.user.as_deref())?
        .ok_or_else(invalid)?;
    if !uia::password_matches(&state, &user_id, password).await? {
        return Err(invalid());
    }
    let device_id = match request.device_id {
        Some(device_id) if !device_id.is_empty() => device_id,
        _ => credentials::new_device_id().map_err(MatrixError::internal)?,
    };
    let access_token = credentials::new_access_token().map_err(MatrixError::internal)?;
    let (session_user, session_device, session_token) =
        (user_id.clone(), device_id.clone(), access_token.clone());
    let display_name = request.initial_device_display_name;
    state
        .store
        .call(move |connection| {
            accounts::start_session(
                connection,
                &session_user,
                &session_device,
                display_name.as_deref(),
                ip.as_string().as_deref(),
                &session_token,
            )
        })
        .await?;
    Ok(Json(json!({
        "user_id": user_id,
        "access_token": access_token,
        "device_id": device_id,
        "home_server": state.server_name(),
    })))
}

async fn whoami(auth: Auth) -> Json<Value> {
    Json(json!({
        "user_id": auth.user_id,
        "device_id": auth.device_id,
        "is_guest": false,
    }))
}

/// Ends the session: the spec deletes the token's device, and with it the device's keys.
async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    state
        .store
        .call(move |connection| accounts::delete_device(connection, &auth.user_id, &auth.device_id))
        .await?;
    Ok(Json(json!({})))
}

async fn logout_all(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    state
        .store
        .call(move |connection| accounts::delete_all_devices(connection, &auth.user_id))
        .await?;
    Ok(Json(json!({})))
}

/// How long an OpenID token is said to be valid.
const OPENID_TOKEN_LIFETIME_S: u64 = 3600;

/// An OpenID token for a third party to verify the user's identity. Verifying one needs the
/// federation API, which a node does not serve, so nothing is stored: the token is opaque and
/// proves nothing to anyone, but clients that ask for one (widgets, integrations) get an answer.
async fn openid_token(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(user_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    auth.require_self(&user_id)?;
    let token = credentials::new_access_token().map_err(MatrixError::internal)?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "matrix_server_name": state.server_name(),
        "expires_in": OPENID_TOKEN_LIFETIME_S,
    })))
}
