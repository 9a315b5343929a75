//! The room directory's aliases: `PUT`/`GET`/`DELETE /directory/room/{roomAlias}` and
//! `GET /rooms/{roomId}/aliases`, and a room's directory visibility (`GET
//! /directory/list/room/{roomId}`; the node publishes no directory, so it has no `PUT`). Looking
//! an alias or a visibility up needs no access token. The public room list is therefore always
//! empty.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiResult;
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/directory/room/{room_alias}",
            get(resolve).put(add).delete(remove),
        )
        .route("/rooms/{room_id}/aliases", get(room_aliases))
        .route("/directory/list/room/{room_id}", get(visibility))
        .route("/publicRooms", get(public_rooms).post(search_public_rooms))
}

async fn resolve(
    State(state): State<AppState>,
    MatrixPath(alias): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let room_id = state.rooms.resolve_alias(alias).await?;
    // Only this node is asked: the alias is its own, and any node holding the room can serve it.
    let servers = [state.rooms.server_name()];
    Ok(Json(json!({ "room_id": room_id, "servers": servers })))
}

#[derive(Deserialize)]
struct AddAliasBody {
    room_id: String,
}

async fn add(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(alias): MatrixPath<String>,
    JsonBody(body): JsonBody<AddAliasBody>,
) -> ApiResult<Json<Value>> {
    state
        .rooms
        .add_alias(auth.user_id, auth.is_admin, alias, body.room_id)
        .await?;
    Ok(Json(json!({})))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(alias): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    state
        .rooms
        .remove_alias(auth.user_id, auth.is_admin, alias)
        .await?;
    Ok(Json(json!({})))
}

async fn room_aliases(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let aliases = state.rooms.room_aliases(auth.user_id, room_id).await?;
    Ok(Json(json!({ "aliases": aliases })))
}

async fn visibility(
    State(state): State<AppState>,
    MatrixPath(room_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let visibility = state.rooms.directory_visibility(room_id).await?;
    Ok(Json(json!({ "visibility": visibility })))
}

/// No room is published, so the list is empty; like Synapse, listing needs no token.
async fn public_rooms() -> Json<Value> {
    Json(empty_room_list())
}

async fn search_public_rooms(_auth: Auth) -> Json<Value> {
    Json(empty_room_list())
}

fn empty_room_list() -> Value {
    json!({ "chunk": [], "total_room_count_estimate": 0 })
}
