//! Display names and avatars of local users. Propagating a change into the user's room
//! member events is the room service's job (#4).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::store::accounts;

/// The longest display name or avatar URL accepted, in bytes.
const MAX_FIELD_LEN: usize = 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile/{user_id}", get(get_profile))
        .route(
            "/profile/{user_id}/displayname",
            get(get_displayname).put(put_displayname),
        )
        .route(
            "/profile/{user_id}/avatar_url",
            get(get_avatar_url).put(put_avatar_url),
        )
}

async fn load_user(state: &AppState, user_id: String) -> ApiResult<accounts::User> {
    state
        .store
        .call(move |connection| accounts::get_user(connection, &user_id))
        .await?
        .ok_or_else(|| MatrixError::not_found("Profile not found"))
}

fn profile_fields(user: &accounts::User, displayname: bool, avatar_url: bool) -> Value {
    let mut fields = Map::new();
    if let (true, Some(name)) = (displayname, &user.displayname) {
        fields.insert("displayname".into(), Value::from(name.as_str()));
    }
    if let (true, Some(url)) = (avatar_url, &user.avatar_url) {
        fields.insert("avatar_url".into(), Value::from(url.as_str()));
    }
    Value::Object(fields)
}

async fn get_profile(
    State(state): State<AppState>,
    MatrixPath(user_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user = load_user(&state, user_id).await?;
    Ok(Json(profile_fields(&user, true, true)))
}

async fn get_displayname(
    State(state): State<AppState>,
    MatrixPath(user_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user = load_user(&state, user_id).await?;
    Ok(Json(profile_fields(&user, true, false)))
}

async fn get_avatar_url(
    State(state): State<AppState>,
    MatrixPath(user_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user = load_user(&state, user_id).await?;
    Ok(Json(profile_fields(&user, false, true)))
}

#[derive(Deserialize)]
struct DisplaynameRequest {
    displayname: Option<String>,
}

#[derive(Deserialize)]
struct AvatarUrlRequest {
    avatar_url: Option<String>,
}

fn check_length(value: &Option<String>) -> ApiResult<()> {
    match value {
        Some(value) if value.len() > MAX_FIELD_LEN => Err(MatrixError::invalid_param(format!(
            "Profile fields are limited to {MAX_FIELD_LEN} bytes"
        ))),
        _ => Ok(()),
    }
}

async fn put_displayname(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(user_id): MatrixPath<String>,
    JsonBody(request): JsonBody<DisplaynameRequest>,
) -> ApiResult<Json<Value>> {
    auth.require_self(&user_id)?;
    check_length(&request.displayname)?;
    let displayname = request.displayname.filter(|name| !name.is_empty());
    state
        .store
        .call(move |connection| {
            accounts::set_displayname(connection, &user_id, displayname.as_deref())
        })
        .await?;
    Ok(Json(json!({})))
}

async fn put_avatar_url(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(user_id): MatrixPath<String>,
    JsonBody(request): JsonBody<AvatarUrlRequest>,
) -> ApiResult<Json<Value>> {
    auth.require_self(&user_id)?;
    check_length(&request.avatar_url)?;
    let avatar_url = request.avatar_url.filter(|url| !url.is_empty());
    state
        .store
        .call(move |connection| {
            accounts::set_avatar_url(connection, &user_id, avatar_url.as_deref())
        })
        .await?;
    Ok(Json(json!({})))
}
