//! The requester's devices: list, inspect, rename, and delete (after re-authentication).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use super::uia::{self, AuthData};
use crate::store::accounts::{self, Device};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list))
        .route(
            "/devices/{device_id}",
            get(get_one).put(rename).delete(delete_one),
        )
        .route("/delete_devices", post(delete_many))
}

fn device_json(user_id: &str, device: &Device) -> Value {
    json!({
        "user_id": user_id,
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
    })
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    let devices = state
        .store
        .call(move |connection| accounts::list_devices(connection, &user_id))
        .await?;
    let devices: Vec<Value> = devices
        .iter()
        .map(|device| device_json(&auth.user_id, device))
        .collect();
    Ok(Json(json!({ "devices": devices })))
}

async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(device_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    let device = state
        .store
        .call(move |connection| accounts::get_device(connection, &user_id, &device_id))
        .await?
        .ok_or_else(|| MatrixError::not_found("Device not found"))?;
    Ok(Json(device_json(&auth.user_id, &device)))
}

#[derive(Deserialize)]
struct RenameRequest {
    display_name: Option<String>,
}

async fn rename(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(device_id): MatrixPath<String>,
    JsonBody(request): JsonBody<RenameRequest>,
) -> ApiResult<Json<Value>> {
    let renamed = state
        .store
        .call(move |connection| {
            accounts::set_device_display_name(
                connection,
                &auth.user_id,
                &device_id,
                request.display_name.as_deref(),
            )
        })
        .await?;
    if !renamed {
        return Err(MatrixError::not_found("Device not found"));
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct DeleteRequest {
    auth: Option<AuthData>,
}

async fn delete_one(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(device_id): MatrixPath<String>,
    JsonBody(request): JsonBody<DeleteRequest>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    let lookup = device_id.clone();
    let exists = state
        .store
        .call(move |connection| accounts::get_device(connection, &user_id, &lookup))
        .await?
        .is_some();
    if !exists {
        return Err(MatrixError::not_found("Device not found"));
    }
    uia::require_reauthentication(&state, &auth.user_id, request.auth).await?;
    delete_devices(&state, auth.user_id, vec![device_id]).await
}

#[derive(Deserialize)]
struct DeleteManyRequest {
    devices: Vec<String>,
    auth: Option<AuthData>,
}

/// Devices the user does not have are skipped, as the spec allows.
async fn delete_many(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<DeleteManyRequest>,
) -> ApiResult<Json<Value>> {
    uia::require_reauthentication(&state, &auth.user_id, request.auth).await?;
    delete_devices(&state, auth.user_id, request.devices).await
}

async fn delete_devices(
    state: &AppState,
    user_id: String,
    device_ids: Vec<String>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            for device_id in &device_ids {
                accounts::delete_device(&transaction, &user_id, device_id)?;
            }
            transaction.commit()?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}
