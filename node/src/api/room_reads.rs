//! Room reads: `/rooms/{roomId}/event`, `/state`, `/members`, `/joined_members`, `/messages`,
//! `/context`, and `/joined_rooms`. History visibility decides what each reader sees.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, MatrixPath, MatrixQuery};
use super::state::AppState;
use crate::rooms::timeline::{EventFilter, MessagesRequest, Reader};
use crate::store::timeline::Direction;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rooms/{room_id}/event/{event_id}", get(event))
        .route("/rooms/{room_id}/state", get(state_events))
        .route("/rooms/{room_id}/members", get(members))
        .route("/rooms/{room_id}/joined_members", get(joined_members))
        .route("/rooms/{room_id}/messages", get(messages))
        .route("/rooms/{room_id}/context/{event_id}", get(context))
        .route("/joined_rooms", get(joined_rooms))
}

fn reader(auth: Auth) -> Reader {
    Reader {
        user_id: auth.user_id,
        device_id: auth.device_id,
    }
}

/// A `filter` query parameter: a JSON `RoomEventFilter`.
pub fn parse_event_filter(filter: Option<&str>) -> Result<EventFilter, MatrixError> {
    match filter {
        None => Ok(EventFilter::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|error| MatrixError::bad_json(format!("Invalid filter: {error}"))),
    }
}

async fn event(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_id)): MatrixPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        state.rooms.event(reader(auth), room_id, event_id).await?,
    ))
}

async fn state_events(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(
        state.rooms.state(reader(auth), room_id).await?,
    )))
}

#[derive(Deserialize)]
struct MembersQuery {
    membership: Option<String>,
    not_membership: Option<String>,
}

async fn members(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    MatrixQuery(query): MatrixQuery<MembersQuery>,
) -> ApiResult<Json<Value>> {
    let chunk = state
        .rooms
        .members(
            reader(auth),
            room_id,
            query.membership,
            query.not_membership,
        )
        .await?;
    Ok(Json(json!({ "chunk": chunk })))
}

async fn joined_members(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    let members = state
        .rooms
        .members(reader(auth), room_id, Some("join".into()), None)
        .await?;
    let joined: Map<String, Value> = members
        .iter()
        .filter_map(|event| {
            let user_id = event["state_key"].as_str()?.to_owned();
            let content = &event["content"];
            let profile = json!({
                "display_name": content.get("displayname"),
                "avatar_url": content.get("avatar_url"),
            });
            Some((user_id, profile))
        })
        .collect();
    Ok(Json(json!({ "joined": joined })))
}

#[derive(Deserialize)]
struct MessagesQuery {
    from: Option<String>,
    to: Option<String>,
    dir: Option<String>,
    limit: Option<usize>,
    filter: Option<String>,
}

async fn messages(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    MatrixQuery(query): MatrixQuery<MessagesQuery>,
) -> ApiResult<Json<Value>> {
    let direction = match query.dir.as_deref() {
        None | Some("b") => Direction::Backward,
        Some("f") => Direction::Forward,
        Some(other) => {
            return Err(MatrixError::invalid_param(format!("Invalid dir {other:?}")));
        }
    };
    let filter = parse_event_filter(query.filter.as_deref())?;
    let limit = query
        .limit
        .or(filter.limit.and_then(|l| usize::try_from(l).ok()))
        .unwrap_or(10);
    let request = MessagesRequest {
        from: query.from,
        to: query.to,
        direction,
        limit,
        filter,
    };
    Ok(Json(
        state.rooms.messages(reader(auth), room_id, request).await?,
    ))
}

#[derive(Deserialize)]
struct ContextQuery {
    limit: Option<usize>,
    filter: Option<String>,
}

async fn context(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, event_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<ContextQuery>,
) -> ApiResult<Json<Value>> {
    let filter = parse_event_filter(query.filter.as_deref())?;
    let limit = query.limit.unwrap_or(10);
    Ok(Json(
        state
            .rooms
            .context(reader(auth), room_id, event_id, limit, filter)
            .await?,
    ))
}

async fn joined_rooms(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let rooms = state.rooms.joined_rooms(auth.user_id).await?;
    Ok(Json(json!({ "joined_rooms": rooms })))
}
