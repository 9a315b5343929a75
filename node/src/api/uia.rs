//! User-interactive authentication. Every flow the node offers has a single stage, which the
//! request carrying the `auth` object completes, so no server-side session state is needed:
//! the session ID only lets the client correlate its retry with the challenge.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::state::AppState;
use crate::credentials;
use crate::store::accounts;

pub const DUMMY: &str = "m.login.dummy";
pub const PASSWORD: &str = "m.login.password";
pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// The `auth` object of a request; which fields matter depends on `type`.
#[derive(Debug, Default, Deserialize)]
pub struct AuthData {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub session: Option<String>,
    /// matrix-nio documents `registration_token` for the spec's `token`; both are accepted.
    #[serde(alias = "registration_token")]
    pub token: Option<String>,
    pub password: Option<String>,
    pub identifier: Option<Identifier>,
    /// The legacy way to name the user, before `identifier`.
    pub user: Option<String>,
}

/// `{"type": "m.id.user", "user": "..."}`; other identifier types are not supported.
#[derive(Debug, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<String>,
}

/// The 401 that tells the client which stage to complete. `failure` is set when the client
/// tried and failed, and becomes the body's `errcode` and `error`.
pub fn challenge(
    stage: &str,
    session: Option<String>,
    failure: Option<(&'static str, &str)>,
) -> MatrixError {
    let session = match session {
        Some(session) => session,
        None => match credentials::new_session_id() {
            Ok(session) => session,
            Err(error) => return MatrixError::internal(error),
        },
    };
    let mut body = Map::new();
    body.insert("flows".into(), json!([{ "stages": [stage] }]));
    body.insert("params".into(), json!({}));
    body.insert("session".into(), Value::from(session));
    if let Some((errcode, message)) = failure {
        body.insert("completed".into(), json!([]));
        body.insert("errcode".into(), Value::from(errcode));
        body.insert("error".into(), Value::from(message));
    }
    MatrixError::bare(StatusCode::UNAUTHORIZED, body)
}

/// The user ID an `m.id.user` identifier (or a legacy `user` field) names on this node: a
/// full user ID or a bare localpart, matched case-insensitively like other servers do.
/// `None` when it names nobody this node could have.
pub fn resolve_user(
    state: &AppState,
    identifier: Option<&Identifier>,
    legacy_user: Option<&str>,
) -> ApiResult<Option<String>> {
    let user = match identifier {
        Some(identifier) if identifier.kind != "m.id.user" => {
            return Err(MatrixError::unknown(format!(
                "Unsupported identifier type {:?}",
                identifier.kind
            )));
        }
        Some(identifier) => identifier.user.as_deref(),
        None => legacy_user,
    }
    .ok_or_else(|| MatrixError::missing_param("No user given"))?;
    let localpart = if user.starts_with('@') {
        match state.local_part(user) {
            Some(localpart) => localpart,
            None => return Ok(None),
        }
    } else {
        user
    };
    Ok(Some(state.local_user_id(&localpart.to_lowercase())))
}

/// Whether `password` is the password of `user_id`; false for unknown users and for users
/// without a password.
pub async fn password_matches(
    state: &AppState,
    user_id: &str,
    password: String,
) -> ApiResult<bool> {
    let user_id = user_id.to_owned();
    let user = state
        .store
        .call(move |connection| accounts::get_user(connection, &user_id))
        .await?;
    let Some(hash) = user.and_then(|user| user.password_hash) else {
        return Ok(false);
    };
    tokio::task::spawn_blocking(move || credentials::verify_password(&password, &hash))
        .await
        .map_err(MatrixError::internal)
}

/// Re-authenticates the requester before a sensitive action such as deleting devices: with
/// their password, or with `m.login.dummy` for an account that has none.
pub async fn require_reauthentication(
    state: &AppState,
    user_id: &str,
    auth: Option<AuthData>,
) -> ApiResult<()> {
    let user_id_owned = user_id.to_owned();
    let has_password = state
        .store
        .call(move |connection| accounts::get_user(connection, &user_id_owned))
        .await?
        .is_some_and(|user| user.password_hash.is_some());
    let stage = if has_password { PASSWORD } else { DUMMY };
    let Some(auth) = auth else {
        return Err(challenge(stage, None, None));
    };
    if auth.kind.as_deref() != Some(stage) {
        return Err(challenge(
            stage,
            auth.session,
            Some(("M_FORBIDDEN", "This authentication stage is not offered")),
        ));
    }
    if stage == DUMMY {
        return Ok(());
    }
    let named = resolve_user(state, auth.identifier.as_ref(), auth.user.as_deref())
        .ok()
        .flatten();
    if named.is_some_and(|named| named != user_id) {
        return Err(challenge(
            stage,
            auth.session,
            Some(("M_FORBIDDEN", "You can only authenticate as yourself")),
        ));
    }
    let password = auth.password.unwrap_or_default();
    if !password_matches(state, user_id, password).await? {
        return Err(challenge(
            stage,
            auth.session,
            Some(("M_FORBIDDEN", "Invalid password")),
        ));
    }
    Ok(())
}
