//! Account registration: `/register` with interactive auth, `/register/available`, and the
//! registration-token validity check.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{ClientIp, JsonBody, MatrixQuery};
use super::state::AppState;
use super::uia::{self, AuthData};
use crate::config::RegistrationPolicy;
use crate::credentials;
use crate::store::{StoreError, accounts};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/register/available", get(available))
}

/// Endpoints the spec only defines under `/v1`.
pub fn v1_routes() -> Router<AppState> {
    Router::new().route(
        "/_matrix/client/v1/register/m.login.registration_token/validity",
        get(token_validity),
    )
}

#[derive(Deserialize)]
struct RegisterQuery {
    kind: Option<String>,
}

#[derive(Deserialize)]
struct RegisterRequest {
    auth: Option<AuthData>,
    username: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
    #[serde(default)]
    inhibit_login: bool,
}

async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    MatrixQuery(query): MatrixQuery<RegisterQuery>,
    JsonBody(mut request): JsonBody<RegisterRequest>,
) -> ApiResult<Json<Value>> {
    ip.check_auth_limit(&state)?;
    match query.kind.as_deref() {
        None | Some("user") => {}
        Some("guest") => return Err(MatrixError::forbidden("Guest access is disabled")),
        Some(other) => {
            return Err(MatrixError::invalid_param(format!(
                "Unknown account kind {other:?}"
            )));
        }
    }
    let stage = match state.config.registration_policy() {
        RegistrationPolicy::Open => uia::DUMMY,
        RegistrationPolicy::TokenRequired => uia::REGISTRATION_TOKEN,
        RegistrationPolicy::Closed => {
            return Err(MatrixError::forbidden("Registration is disabled"));
        }
    };
    // Checked before interactive auth, so the client learns early that the name is taken.
    if let Some(username) = &request.username {
        check_available(&state, username).await?;
    }
    complete_stage(&state, stage, request.auth.take())?;
    create_account(state, ip, request).await.map(Json)
}

/// Fails with the challenge (or the reason the attempt failed) unless `auth` completes `stage`.
fn complete_stage(state: &AppState, stage: &str, auth: Option<AuthData>) -> ApiResult<()> {
    let Some(auth) = auth else {
        return Err(uia::challenge(stage, None, None));
    };
    if auth.kind.as_deref() != Some(stage) {
        return Err(uia::challenge(
            stage,
            auth.session,
            Some(("M_FORBIDDEN", "This authentication stage is not offered")),
        ));
    }
    if stage == uia::REGISTRATION_TOKEN
        && !auth
            .token
            .as_ref()
            .is_some_and(|token| state.config.registration.tokens.contains(token))
    {
        return Err(uia::challenge(
            stage,
            auth.session,
            Some(("M_FORBIDDEN", "Invalid registration token")),
        ));
    }
    Ok(())
}

async fn create_account(
    state: AppState,
    ip: ClientIp,
    request: RegisterRequest,
) -> ApiResult<Value> {
    let localpart = match request.username {
        Some(username) => username,
        None => credentials::new_localpart().map_err(MatrixError::internal)?,
    };
    let user_id = state.local_user_id(&localpart);
    let password_hash = match request.password {
        Some(password) => Some(
            tokio::task::spawn_blocking(move || credentials::hash_password(&password))
                .await
                .map_err(MatrixError::internal)?
                .map_err(MatrixError::internal)?,
        ),
        None => None,
    };
    let login = if request.inhibit_login {
        None
    } else {
        let device_id = match request.device_id {
            Some(device_id) => device_id,
            None => credentials::new_device_id().map_err(MatrixError::internal)?,
        };
        let token = credentials::new_access_token().map_err(MatrixError::internal)?;
        Some((device_id, token))
    };
    let session = login.clone();
    let new_user_id = user_id.clone();
    let display_name = request.initial_device_display_name;
    let result = state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            accounts::create_user(
                &transaction,
                &accounts::NewUser {
                    user_id: &new_user_id,
                    localpart: &localpart,
                    password_hash: password_hash.as_deref(),
                    is_admin: false,
                },
            )?;
            if let Some((device_id, token)) = &session {
                accounts::start_session(
                    &transaction,
                    &new_user_id,
                    device_id,
                    display_name.as_deref(),
                    ip.as_string().as_deref(),
                    token,
                )?;
            }
            transaction.commit()?;
            Ok(())
        })
        .await;
    match result {
        Ok(()) => {}
        Err(StoreError::UserExists) => return Err(MatrixError::user_in_use()),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(user_id, "registered a new user");
    Ok(match login {
        Some((device_id, access_token)) => json!({
            "user_id": user_id,
            "device_id": device_id,
            "access_token": access_token,
            "home_server": state.server_name(),
        }),
        None => json!({ "user_id": user_id }),
    })
}

/// `M_INVALID_USERNAME` or `M_USER_IN_USE` unless the localpart can be registered.
async fn check_available(state: &AppState, localpart: &str) -> ApiResult<()> {
    credentials::check_localpart(localpart).map_err(MatrixError::invalid_username)?;
    let user_id = state.local_user_id(localpart);
    let taken = state
        .store
        .call(move |connection| accounts::user_exists(connection, &user_id))
        .await?;
    if taken {
        return Err(MatrixError::user_in_use());
    }
    Ok(())
}

#[derive(Deserialize)]
struct AvailableQuery {
    username: Option<String>,
}

async fn available(
    State(state): State<AppState>,
    ip: ClientIp,
    MatrixQuery(query): MatrixQuery<AvailableQuery>,
) -> ApiResult<Json<Value>> {
    ip.check_auth_limit(&state)?;
    let username = query
        .username
        .ok_or_else(|| MatrixError::missing_param("Missing username"))?;
    check_available(&state, &username).await?;
    Ok(Json(json!({ "available": true })))
}

#[derive(Deserialize)]
struct TokenValidityQuery {
    token: Option<String>,
}

async fn token_validity(
    State(state): State<AppState>,
    ip: ClientIp,
    MatrixQuery(query): MatrixQuery<TokenValidityQuery>,
) -> ApiResult<Json<Value>> {
    ip.check_auth_limit(&state)?;
    if state.config.registration_policy() != RegistrationPolicy::TokenRequired {
        return Err(MatrixError::forbidden(
            "Registration tokens are not enabled",
        ));
    }
    let token = query
        .token
        .ok_or_else(|| MatrixError::missing_param("Missing token"))?;
    let valid = state.config.registration.tokens.contains(&token);
    Ok(Json(json!({ "valid": valid })))
}
