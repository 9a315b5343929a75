//! Receipts, read markers and typing notifications of joined members.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::store::client_data::put_account_data;
use crate::store::now_ms;
use crate::store::timeline::put_receipt;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/rooms/{room_id}/receipt/{receipt_type}/{event_id}",
            post(receipt),
        )
        .route("/rooms/{room_id}/read_markers", post(read_markers))
        .route("/rooms/{room_id}/typing/{user_id}", put(typing))
}

const RECEIPT_TYPES: &[&str] = &["m.read", "m.read.private"];

async fn require_joined(state: &AppState, auth: &Auth, room_id: &str) -> ApiResult<()> {
    let membership = state
        .rooms
        .membership(room_id.to_owned(), auth.user_id.clone())
        .await?;
    match membership {
        Some(m) if m.membership == "join" => Ok(()),
        _ => Err(MatrixError::forbidden("You are not joined to this room")),
    }
}

#[derive(Deserialize)]
struct ReceiptBody {
    thread_id: Option<String>,
}

async fn receipt(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, receipt_type, event_id)): MatrixPath<(String, String, String)>,
    JsonBody(body): JsonBody<ReceiptBody>,
) -> ApiResult<Json<Value>> {
    require_joined(&state, &auth, &room_id).await?;
    let marker = Markers {
        fully_read: (receipt_type == "m.fully_read").then(|| event_id.clone()),
        receipts: match RECEIPT_TYPES.contains(&receipt_type.as_str()) {
            true => vec![(receipt_type.clone(), event_id)],
            false if receipt_type == "m.fully_read" => Vec::new(),
            false => {
                return Err(MatrixError::invalid_param(format!(
                    "Unknown receipt type {receipt_type:?}"
                )));
            }
        },
        thread_id: body.thread_id.unwrap_or_default(),
    };
    store_markers(&state, auth.user_id, room_id, marker).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ReadMarkersBody {
    #[serde(rename = "m.fully_read")]
    fully_read: Option<String>,
    #[serde(rename = "m.read")]
    read: Option<String>,
    #[serde(rename = "m.read.private")]
    read_private: Option<String>,
}

async fn read_markers(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(room_id): MatrixPath<String>,
    JsonBody(body): JsonBody<ReadMarkersBody>,
) -> ApiResult<Json<Value>> {
    require_joined(&state, &auth, &room_id).await?;
    let receipts = [("m.read", body.read), ("m.read.private", body.read_private)]
        .into_iter()
        .filter_map(|(kind, id)| Some((kind.to_owned(), id?)))
        .collect();
    let markers = Markers {
        fully_read: body.fully_read,
        receipts,
        thread_id: String::new(),
    };
    store_markers(&state, auth.user_id, room_id, markers).await?;
    Ok(Json(json!({})))
}

struct Markers {
    fully_read: Option<String>,
    receipts: Vec<(String, String)>,
    thread_id: String,
}

/// The fully-read marker is room account data; receipts go to the receipts stream.
async fn store_markers(
    state: &AppState,
    user_id: String,
    room_id: String,
    markers: Markers,
) -> ApiResult<()> {
    state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            if let Some(event_id) = &markers.fully_read {
                let content = json!({ "event_id": event_id }).to_string();
                put_account_data(
                    &transaction,
                    &user_id,
                    Some(&room_id),
                    "m.fully_read",
                    &content,
                )?;
            }
            for (receipt_type, event_id) in &markers.receipts {
                put_receipt(
                    &transaction,
                    &room_id,
                    receipt_type,
                    &markers.thread_id,
                    &user_id,
                    event_id,
                    now_ms(),
                )?;
            }
            transaction.commit()?;
            Ok(())
        })
        .await?;
    state.rooms.notify_changed();
    Ok(())
}

#[derive(Deserialize)]
struct TypingBody {
    typing: bool,
    timeout: Option<u64>,
}

async fn typing(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((room_id, user_id)): MatrixPath<(String, String)>,
    JsonBody(body): JsonBody<TypingBody>,
) -> ApiResult<Json<Value>> {
    auth.require_self(&user_id)?;
    require_joined(&state, &auth, &room_id).await?;
    let timeout = body
        .typing
        .then(|| Duration::from_millis(body.timeout.unwrap_or(30_000)));
    if state
        .rooms
        .typing
        .set(&room_id, &user_id, timeout, Instant::now())
    {
        state.rooms.notify_changed();
    }
    Ok(Json(json!({})))
}
