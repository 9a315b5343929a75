//! Room writes: `createRoom`, membership (invite, join, leave, kick, ban, unban), state
//! events, messages and redactions. Every event goes through `dag::room::send`, so the
//! authorization rules decide (`M_FORBIDDEN` with the rule that failed).

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use dag::room::NewEvent;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::rooms::create::{CreateRoomRequest, Profile, requested_version};
use crate::rooms::timeline::Reader;
use crate::store::media::forget_room;
use crate::store::rooms::LocalOrigin;
use crate::store::{accounts, timeline};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/createRoom", post(create_room))
        .route("/join/{room_id_or_alias}", post(join))
        .route("/rooms/{room_id}/join", post(join))
        .route("/rooms/{room_id}/invite", post(invite))
        .route("/rooms/{room_id}/leave", post(leave))
        .route("/rooms/{room_id}/forget", post(forget))
        .route("/rooms/{room_id}/kick", post(kick))
        .route("/rooms/{room_id}/ban", post(ban))
        .route("/rooms/{room_id}/unban", post(unban))
        .route("/rooms/{room_id}/send/{event_type}/{txn_id}", put(send))
        .route("/rooms/{room_id}/redact/{event_id}/{txn_id}", put(redact))
        .route(
            "/rooms/{room_id}/state/{event_type}",
            get(get_state_event_empty_key).put(put_state_event_empty_key),
        )
        .route(
            "/rooms/{room_id}/state/{event_type}/",
            get(get_state_event_empty_key).put(put_state_event_empty_key),
        )
        .route(
            "/rooms/{room_id}/state/{event_type}/{state_key}",
            get(get_state_event).put(put_state_event),
        )
}

fn check_room_id(room_id: &str) -> Result<(), MatrixError> {
    if room_id.starts_with('!') {
        Ok(())
    } else {
        Err(MatrixError::invalid_param(format!(
            "Invalid room ID {room_id:?}"
        )))
    }
}

async fn profile_of(state: &AppState, user_id: &str) -> ApiResult<Profile> {
    let user_id = user_id.to_owned();
    let user = state
        .store
        .call(move |connection| accounts::get_user(connection, &user_id))
        .await?;
    Ok(user
        .map(|user| Profile {
            displayname: user.displayname,
            avatar_url: user.avatar_url,
        })
        .unwrap_or_default())
}

async fn create_room(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<CreateRoomRequest>,
) -> ApiResult<Json<Value>> {
    let version = requested_version(
        request.room_version.as_deref(),
        state.config.default_room_version,
    )?;
    let profile = profile_of(&state, &auth.user_id).await?;
    let room_id = state
        .rooms
        .create_room(auth.user_id, profile, request, version)
        .await?;
    Ok(Json(json!({ "room_id": room_id })))
}

#[derive(Deserialize)]
struct ReasonBody {
    reason: Option<String>,
}

#[derive(Deserialize)]
struct TargetBody {
    user_id: String,
    reason: Option<String>,
}

/// Sends the membership event that sets `target`'s membership in the room.
async fn set_membership(
    state: &AppState,
    auth: &Auth,
    room_id: String,
    target: &str,
    mut content: Value,
    reason: Option<String>,
) -> ApiResult<String> {
    check_room_id(&room_id)?;
    dag::ids::validate_user_id(target)
        .map_err(|_| MatrixError::invalid_param(format!("Invalid user ID {target:?}")))?;
    if let Some(reason) = reason {
        content["reason"] = json!(reason);
    }
    let new = NewEvent {
        event_type: "m.room.member".into(),
        state_key: Some(target.to_owned()),
        sender: auth.user_id.clone(),
        content,
    };
    state.rooms.send(room_id, new, None).await
}

async fn join(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> ApiResult<Json<Value>> {
    let room_id = match room_id.starts_with('#') {
        true => state.rooms.resolve_alias(room_id).await?,
        false => room_id,
    };
    let content = profile_of(&state, &auth.user_id)
        .await?
        .member_content("join");
    let target = auth.user_id.clone();
    set_membership(
        &state,
        &auth,
        room_id.clone(),
        &target,
        content,
        body.reason,
    )
    .await?;
    Ok(Json(json!({ "room_id": room_id })))
}

async fn leave(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> ApiResult<Json<Value>> {
    let target = auth.user_id.clone();
    let content = json!({"membership": "leave"});
    set_membership(&state, &auth, room_id, &target, content, body.reason).await?;
    Ok(Json(json!({})))
}

/// Hides a room the user has left from their `/sync` and room lists, until their membership
/// changes again. A room the user never was in has nothing to forget.
async fn forget(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id;
    let still_in = state
        .store
        .call(move |connection| {
            let Some(membership) = timeline::membership(connection, &room_id, &user_id)? else {
                return Ok(false);
            };
            if !matches!(membership.membership.as_str(), "leave" | "ban") {
                return Ok(true);
            }
            forget_room(connection, &user_id, &room_id, &membership.event_id)?;
            Ok(false)
        })
        .await?;
    if still_in {
        return Err(MatrixError::unknown("The user has not left the room"));
    }
    Ok(Json(json!({})))
}

async fn invite(
    state: State<AppState>,
    auth: Auth,
    room_id: MatrixPath<String>,
    body: JsonBody<TargetBody>,
) -> ApiResult<Json<Value>> {
    act_on(state, auth, room_id, body, "invite").await
}

async fn kick(
    state: State<AppState>,
    auth: Auth,
    room_id: MatrixPath<String>,
    body: JsonBody<TargetBody>,
) -> ApiResult<Json<Value>> {
    act_on(state, auth, room_id, body, "leave").await
}

async fn ban(
    state: State<AppState>,
    auth: Auth,
    room_id: MatrixPath<String>,
    body: JsonBody<TargetBody>,
) -> ApiResult<Json<Value>> {
    act_on(state, auth, room_id, body, "ban").await
}

/// Unbanning sets the membership to `leave`; the rules require the target to be banned.
async fn unban(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    JsonBody(body): JsonBody<TargetBody>,
) -> ApiResult<Json<Value>> {
    let current = state
        .rooms
        .membership(room_id.clone(), body.user_id.clone())
        .await?;
    if current.is_none_or(|m| m.membership != "ban") {
        return Err(MatrixError::forbidden("The user is not banned"));
    }
    let content = json!({"membership": "leave"});
    set_membership(&state, &auth, room_id, &body.user_id, content, body.reason).await?;
    Ok(Json(json!({})))
}

/// Invite, kick or ban `body.user_id`: a membership event about another user.
async fn act_on(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    JsonBody(body): JsonBody<TargetBody>,
    membership: &str,
) -> ApiResult<Json<Value>> {
    if membership == "leave" {
        let current = state
            .rooms
            .membership(room_id.clone(), body.user_id.clone())
            .await?;
        if current.is_none_or(|m| !matches!(m.membership.as_str(), "join" | "invite")) {
            return Err(MatrixError::forbidden("The user is not in the room"));
        }
    }
    let content = json!({ "membership": membership });
    set_membership(&state, &auth, room_id, &body.user_id, content, body.reason).await?;
    Ok(Json(json!({})))
}

async fn send(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_type, txn_id)): MatrixPath<(String, String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    check_room_id(&room_id)?;
    let origin = LocalOrigin {
        user_id: auth.user_id.clone(),
        device_id: auth.device_id.clone(),
        scope: format!("send/{room_id}"),
        txn_id,
    };
    let new = NewEvent {
        event_type,
        state_key: None,
        sender: auth.user_id,
        content: Value::Object(content),
    };
    let event_id = state.rooms.send(room_id, new, Some(origin)).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn redact(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_id, txn_id)): MatrixPath<(String, String, String)>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> ApiResult<Json<Value>> {
    check_room_id(&room_id)?;
    let mut content = json!({ "redacts": event_id });
    if let Some(reason) = body.reason {
        content["reason"] = json!(reason);
    }
    let origin = LocalOrigin {
        user_id: auth.user_id.clone(),
        device_id: auth.device_id.clone(),
        scope: format!("redact/{room_id}"),
        txn_id,
    };
    let new = NewEvent {
        event_type: "m.room.redaction".into(),
        state_key: None,
        sender: auth.user_id,
        content,
    };
    let event_id = state.rooms.send(room_id, new, Some(origin)).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn put_state_event(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_type, state_key)): MatrixPath<(String, String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    send_state(&state, auth, room_id, event_type, state_key, content).await
}

async fn put_state_event_empty_key(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_type)): MatrixPath<(String, String)>,
    JsonBody(content): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    send_state(&state, auth, room_id, event_type, String::new(), content).await
}

async fn send_state(
    state: &AppState,
    auth: Auth,
    room_id: String,
    event_type: String,
    state_key: String,
    content: Map<String, Value>,
) -> ApiResult<Json<Value>> {
    check_room_id(&room_id)?;
    if event_type == "m.room.canonical_alias" {
        let content = Value::Object(content.clone());
        state
            .rooms
            .check_canonical_alias(room_id.clone(), content)
            .await?;
    }
    let new = NewEvent {
        event_type,
        state_key: Some(state_key),
        sender: auth.user_id,
        content: Value::Object(content),
    };
    let event_id = state.rooms.send(room_id, new, None).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn get_state_event(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_type, state_key)): MatrixPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    state_content(&state, auth, room_id, event_type, state_key).await
}

async fn get_state_event_empty_key(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_type)): MatrixPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    state_content(&state, auth, room_id, event_type, String::new()).await
}

async fn state_content(
    state: &AppState,
    auth: Auth,
    room_id: String,
    event_type: String,
    state_key: String,
) -> ApiResult<Json<Value>> {
    check_room_id(&room_id)?;
    let reader = Reader {
        user_id: auth.user_id,
        device_id: auth.device_id,
    };
    let events = state.rooms.state(reader, room_id).await?;
    events
        .into_iter()
        .find(|event| {
            event["type"] == event_type.as_str() && event["state_key"] == state_key.as_str()
        })
        .map(|event| Json(event["content"].clone()))
        .ok_or_else(|| MatrixError::not_found("No such state event"))
}
