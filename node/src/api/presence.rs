//! `GET`/`PUT /presence/{userId}/status`. A user sets only their own presence and reads their
//! own or that of someone they share a room with.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::rooms::presence::{MAX_STATUS_MSG_BYTES, PresenceState};
use crate::store::now_ms;
use crate::store::presence::save_presence;
use crate::store::timeline::users_sharing_rooms;

pub fn routes() -> Router<AppState> {
    Router::new().route("/presence/{user_id}/status", get(read).put(set))
}

/// The `presence` of a request: one of the spec's three states.
pub fn parse_presence(text: &str) -> Result<PresenceState, MatrixError> {
    PresenceState::parse(text)
        .ok_or_else(|| MatrixError::invalid_param(format!("Unknown presence {text:?}")))
}

#[derive(Deserialize)]
struct SetPresenceBody {
    presence: String,
    status_msg: Option<String>,
}

async fn set(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(user_id): MatrixPath<String>,
    JsonBody(body): JsonBody<SetPresenceBody>,
) -> ApiResult<Json<Value>> {
    if user_id != auth.user_id {
        return Err(MatrixError::forbidden("You may only set your own presence"));
    }
    let presence = parse_presence(&body.presence)?;
    if body
        .status_msg
        .as_ref()
        .is_some_and(|message| message.len() > MAX_STATUS_MSG_BYTES)
    {
        return Err(MatrixError::invalid_param(format!(
            "status_msg is longer than {MAX_STATUS_MSG_BYTES} bytes"
        )));
    }
    let presence_table = &state.rooms.presence;
    if presence_table.set(&user_id, presence, Some(body.status_msg), now_ms()) {
        state.rooms.notify_changed();
    }
    // A status message is chosen by the user, so it outlives a restart.
    if let Some(saved) = presence_table.saved(&user_id) {
        state
            .store
            .call(move |connection| save_presence(connection, &[saved]))
            .await?;
    }
    Ok(Json(json!({})))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(user_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    dag::ids::validate_user_id(&user_id)
        .map_err(|_| MatrixError::invalid_param(format!("Invalid user ID {user_id:?}")))?;
    if user_id != auth.user_id {
        let reader = auth.user_id.clone();
        let sharing = state
            .store
            .call(move |connection| users_sharing_rooms(connection, &reader))
            .await?;
        if !sharing.contains(&user_id) {
            return Err(MatrixError::forbidden("You share no room with this user"));
        }
    }
    Ok(Json(state.rooms.presence.content(&user_id, now_ms())))
}
