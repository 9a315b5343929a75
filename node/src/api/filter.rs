//! Sync filters, stored as the client sent them; `/sync` applies them (#4).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::store::client_data;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/{user_id}/filter", post(create))
        .route("/user/{user_id}/filter/{filter_id}", get(fetch))
}

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(user_id): MatrixPath<String>,
    JsonBody(filter): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    auth.require_self(&user_id)?;
    let filter_json = Value::Object(filter).to_string();
    let filter_id = state
        .store
        .call(move |connection| client_data::create_filter(connection, &user_id, &filter_json))
        .await?;
    Ok(Json(json!({ "filter_id": filter_id.to_string() })))
}

async fn fetch(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((user_id, filter_id)): MatrixPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_self(&user_id)?;
    let not_found = || MatrixError::not_found("No such filter");
    let filter_id: i64 = filter_id.parse().map_err(|_| not_found())?;
    let stored = state
        .store
        .call(move |connection| client_data::get_filter(connection, &user_id, filter_id))
        .await?
        .ok_or_else(not_found)?;
    serde_json::from_str(&stored)
        .map(Json)
        .map_err(MatrixError::internal)
}
