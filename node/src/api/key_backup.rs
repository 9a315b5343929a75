//! Server-side key backup (`/room_keys/…`): a user's clients keep their encrypted megolm
//! session keys on the node, so a new device (or a reinstalled one, far from any other) can
//! read the history of encrypted rooms. The node stores what it is given and never decrypts it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath, MatrixQuery};
use super::state::AppState;
use crate::store::StoreError;
use crate::store::key_backup::{self, BackupVersion, KeyScope, SessionKey};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/room_keys/version",
            get(get_current_version).post(create_version),
        )
        .route(
            "/room_keys/version/{version}",
            get(get_version).put(update_version).delete(delete_version),
        )
        .route(
            "/room_keys/keys",
            get(get_all_keys).put(put_all_keys).delete(delete_all_keys),
        )
        .route(
            "/room_keys/keys/{room_id}",
            get(get_room_keys)
                .put(put_room_keys)
                .delete(delete_room_keys),
        )
        .route(
            "/room_keys/keys/{room_id}/{session_id}",
            get(get_session_key)
                .put(put_session_key)
                .delete(delete_session_key),
        )
}

#[derive(Deserialize)]
struct NewVersion {
    algorithm: String,
    auth_data: Map<String, Value>,
    version: Option<String>,
}

async fn create_version(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<NewVersion>,
) -> ApiResult<Json<Value>> {
    if body.algorithm.is_empty() {
        return Err(MatrixError::invalid_param("The algorithm is empty"));
    }
    let user_id = auth.user_id.clone();
    let auth_data = Value::Object(body.auth_data).to_string();
    let version = state
        .store
        .call(move |connection| {
            key_backup::create_version(connection, &user_id, &body.algorithm, &auth_data)
        })
        .await?;
    Ok(Json(json!({ "version": version.to_string() })))
}

async fn get_current_version(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    in_store(&state, move |connection| {
        let found = key_backup::current_version(connection, &user_id)?
            .ok_or_else(|| MatrixError::not_found("No current backup version"))?;
        describe(connection, &user_id, found)
    })
    .await
}

async fn get_version(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(version): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    in_store(&state, move |connection| {
        let found = existing_version(connection, &user_id, &version)?;
        describe(connection, &user_id, found)
    })
    .await
}

async fn update_version(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(version): MatrixPath<String>,
    JsonBody(body): JsonBody<NewVersion>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    in_store(&state, move |connection| {
        let found = existing_version(connection, &user_id, &version)?;
        if body.version.is_some_and(|named| named != version) {
            return Err(MatrixError::invalid_param(
                "The version in the body does not match the path",
            ));
        }
        if body.algorithm != found.algorithm {
            return Err(MatrixError::invalid_param("Algorithm does not match"));
        }
        let auth_data = Value::Object(body.auth_data).to_string();
        key_backup::update_auth_data(connection, &user_id, found.version, &auth_data)?;
        Ok(Json(json!({})))
    })
    .await
}

async fn delete_version(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(version): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    in_store(&state, move |connection| {
        // Deleting a deleted version succeeds, as the spec asks; one never made does not.
        let existed = parse_version(&version)
            .map(|number| key_backup::delete_version(connection, &user_id, number))
            .transpose()?
            .unwrap_or(false);
        match existed {
            true => Ok(Json(json!({}))),
            false => Err(unknown_version()),
        }
    })
    .await
}

#[derive(Deserialize)]
struct VersionQuery {
    version: String,
}

#[derive(Deserialize)]
struct RoomKeys {
    sessions: BTreeMap<String, SessionKey>,
}

#[derive(Deserialize)]
struct AllKeys {
    rooms: BTreeMap<String, RoomKeys>,
}

async fn put_all_keys(
    State(state): State<AppState>,
    auth: Auth,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
    JsonBody(body): JsonBody<AllKeys>,
) -> ApiResult<Json<Value>> {
    let keys = body
        .rooms
        .into_iter()
        .flat_map(|(room_id, room)| {
            room.sessions
                .into_iter()
                .map(move |(session_id, key)| (room_id.clone(), session_id, key))
        })
        .collect();
    store_keys(&state, &auth, query.version, keys).await
}

async fn put_room_keys(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
    JsonBody(body): JsonBody<RoomKeys>,
) -> ApiResult<Json<Value>> {
    let keys = body
        .sessions
        .into_iter()
        .map(|(session_id, key)| (room_id.clone(), session_id, key))
        .collect();
    store_keys(&state, &auth, query.version, keys).await
}

async fn put_session_key(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, session_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
    JsonBody(key): JsonBody<SessionKey>,
) -> ApiResult<Json<Value>> {
    store_keys(
        &state,
        &auth,
        query.version,
        vec![(room_id, session_id, key)],
    )
    .await
}

async fn get_all_keys(
    State(state): State<AppState>,
    auth: Auth,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    let keys = read_keys(&state, &auth, query.version, None, None).await?;
    let mut rooms = Map::new();
    for (room_id, session_id, key) in keys {
        let room = rooms
            .entry(room_id)
            .or_insert_with(|| json!({ "sessions": {} }));
        room["sessions"][session_id] = json!(key);
    }
    Ok(Json(json!({ "rooms": rooms })))
}

async fn get_room_keys(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    let keys = read_keys(&state, &auth, query.version, Some(room_id), None).await?;
    let sessions: Map<String, Value> = keys
        .into_iter()
        .map(|(_, session_id, key)| (session_id, json!(key)))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn get_session_key(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, session_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    let keys = read_keys(
        &state,
        &auth,
        query.version,
        Some(room_id),
        Some(session_id),
    )
    .await?;
    let (_, _, key) = keys
        .into_iter()
        .next()
        .ok_or_else(|| MatrixError::not_found("No room key found for this session"))?;
    Ok(Json(json!(key)))
}

async fn delete_all_keys(
    State(state): State<AppState>,
    auth: Auth,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    remove_keys(&state, &auth, query.version, None, None).await
}

async fn delete_room_keys(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    remove_keys(&state, &auth, query.version, Some(room_id), None).await
}

async fn delete_session_key(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, session_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    remove_keys(
        &state,
        &auth,
        query.version,
        Some(room_id),
        Some(session_id),
    )
    .await
}

/// Stores keys in the current version, keeping the better copy of each session's key.
async fn store_keys(
    state: &AppState,
    auth: &Auth,
    version: String,
    keys: Vec<(String, String, SessionKey)>,
) -> ApiResult<Json<Value>> {
    if let Some((room_id, _, _)) = keys
        .iter()
        .find(|(room_id, _, _)| !room_id.starts_with('!'))
    {
        return Err(MatrixError::invalid_param(format!(
            "{room_id:?} is not a room ID"
        )));
    }
    let user_id = auth.user_id.clone();
    in_store(state, move |connection| {
        let current = writable_version(connection, &user_id, &version)?;
        // One transaction: a client backing up thousands of keys waits for one fsync.
        let transaction = connection
            .unchecked_transaction()
            .map_err(StoreError::from)?;
        let mut changed = false;
        for (room_id, session_id, key) in &keys {
            let session = (room_id.as_str(), session_id.as_str());
            changed |= key_backup::put_key(&transaction, &user_id, current.version, session, key)?;
        }
        let answer = keys_changed(&transaction, &user_id, current, changed)?;
        transaction.commit().map_err(StoreError::from)?;
        Ok(answer)
    })
    .await
}

async fn read_keys(
    state: &AppState,
    auth: &Auth,
    version: String,
    room_id: Option<String>,
    session_id: Option<String>,
) -> ApiResult<Vec<(String, String, SessionKey)>> {
    let user_id = auth.user_id.clone();
    in_store(state, move |connection| {
        let found = existing_version(connection, &user_id, &version)?;
        let scope = KeyScope {
            room_id: room_id.as_deref(),
            session_id: session_id.as_deref(),
        };
        Ok(key_backup::keys(
            connection,
            &user_id,
            found.version,
            scope,
        )?)
    })
    .await
}

async fn remove_keys(
    state: &AppState,
    auth: &Auth,
    version: String,
    room_id: Option<String>,
    session_id: Option<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    in_store(state, move |connection| {
        let found = existing_version(connection, &user_id, &version)?;
        let scope = KeyScope {
            room_id: room_id.as_deref(),
            session_id: session_id.as_deref(),
        };
        let removed = key_backup::delete_keys(connection, &user_id, found.version, scope)?;
        keys_changed(connection, &user_id, found, removed > 0)
    })
    .await
}

/// The `{etag, count}` answer to a change of keys; the etag moves only if a key did.
fn keys_changed(
    connection: &Connection,
    user_id: &str,
    version: BackupVersion,
    changed: bool,
) -> ApiResult<Json<Value>> {
    let etag = match changed {
        true => key_backup::bump_etag(connection, user_id, version.version)?,
        false => version.etag,
    };
    let count = key_backup::key_count(connection, user_id, version.version)?;
    Ok(Json(json!({ "etag": etag.to_string(), "count": count })))
}

fn describe(
    connection: &Connection,
    user_id: &str,
    found: BackupVersion,
) -> ApiResult<Json<Value>> {
    let count = key_backup::key_count(connection, user_id, found.version)?;
    let auth_data: Value = serde_json::from_str(&found.auth_data_json).unwrap_or_default();
    Ok(Json(json!({
        "algorithm": found.algorithm,
        "auth_data": auth_data,
        "count": count,
        "etag": found.etag.to_string(),
        "version": found.version.to_string(),
    })))
}

/// Versions are the decimal numbers this node hands out; anything else names none.
fn parse_version(version: &str) -> Option<i64> {
    version.parse().ok().filter(|number| *number > 0)
}

fn existing_version(
    connection: &Connection,
    user_id: &str,
    version: &str,
) -> ApiResult<BackupVersion> {
    let Some(number) = parse_version(version) else {
        return Err(unknown_version());
    };
    key_backup::version(connection, user_id, number)?.ok_or_else(unknown_version)
}

/// Keys may be added to the current version only; a client that names another learns which
/// version is current.
fn writable_version(
    connection: &Connection,
    user_id: &str,
    version: &str,
) -> ApiResult<BackupVersion> {
    let current = key_backup::current_version(connection, user_id)?.ok_or_else(unknown_version)?;
    if parse_version(version) != Some(current.version) {
        return Err(MatrixError::new(
            StatusCode::FORBIDDEN,
            "M_WRONG_ROOM_KEYS_VERSION",
            "Wrong backup version",
        )
        .with_field("current_version", json!(current.version.to_string())));
    }
    Ok(current)
}

fn unknown_version() -> MatrixError {
    MatrixError::not_found("Unknown backup version")
}

/// Runs `work` on the database thread, where one call at a time keeps a read and the write
/// that depends on it together.
async fn in_store<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    state
        .store
        .call(move |connection| Ok(work(connection)))
        .await?
}
