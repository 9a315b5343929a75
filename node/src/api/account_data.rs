//! Global and per-room account data. Room existence is not checked yet: rooms arrive with
//! the room service (#4).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::store::client_data;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/user/{user_id}/account_data/{data_type}",
            get(get_global).put(put_global),
        )
        .route(
            "/user/{user_id}/rooms/{room_id}/account_data/{data_type}",
            get(get_room).put(put_room),
        )
}

/// Types the server manages through their own endpoints.
const SERVER_MANAGED_TYPES: &[&str] = &["m.fully_read", "m.push_rules"];

async fn get_global(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((user_id, data_type)): MatrixPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    read(&state, &auth, &user_id, None, data_type).await
}

async fn put_global(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((user_id, data_type)): MatrixPath<(String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    write(&state, &auth, &user_id, None, data_type, content).await
}

async fn get_room(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((user_id, room_id, data_type)): MatrixPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    check_room_id(&room_id)?;
    read(&state, &auth, &user_id, Some(room_id), data_type).await
}

async fn put_room(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((user_id, room_id, data_type)): MatrixPath<(String, String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_room_id(&room_id)?;
    write(&state, &auth, &user_id, Some(room_id), data_type, content).await
}

fn check_room_id(room_id: &str) -> ApiResult<()> {
    if room_id.starts_with('!') {
        Ok(())
    } else {
        Err(MatrixError::invalid_param(format!(
            "{room_id:?} is not a room ID"
        )))
    }
}

async fn read(
    state: &AppState,
    auth: &Auth,
    user_id: &str,
    room_id: Option<String>,
    data_type: String,
) -> ApiResult<Json<Value>> {
    auth.require_self(user_id)?;
    let user_id = user_id.to_owned();
    let stored = state
        .store
        .call(move |connection| {
            client_data::get_account_data(connection, &user_id, room_id.as_deref(), &data_type)
        })
        .await?
        .ok_or_else(|| MatrixError::not_found("Account data not found"))?;
    serde_json::from_str(&stored)
        .map(Json)
        .map_err(MatrixError::internal)
}

async fn write(
    state: &AppState,
    auth: &Auth,
    user_id: &str,
    room_id: Option<String>,
    data_type: String,
    content: Map<String, Value>,
) -> ApiResult<Json<Value>> {
    auth.require_self(user_id)?;
    if SERVER_MANAGED_TYPES.contains(&data_type.as_str()) {
        return Err(MatrixError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "M_BAD_JSON",
            format!("Cannot set {data_type} through this API"),
        ));
    }
    let user_id = user_id.to_owned();
    let content_json = Value::Object(content).to_string();
    state
        .store
        .call(move |connection| {
            client_data::put_account_data(
                connection,
                &user_id,
                room_id.as_deref(),
                &data_type,
                &content_json,
            )
        })
        .await?;
    state.rooms.notify_changed();
    Ok(Json(Value::Object(Map::new())))
}
