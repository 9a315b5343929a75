//! `/sendToDevice`: messages for devices of local users are queued for their next sync, which
//! wakes; relaying to devices on other nodes comes with the mesh.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::ApiResult;
use super::extract::{Auth, JsonBody, MatrixPath};
use super::state::AppState;
use crate::store::client_data::{self, TransactionStatus};
use crate::store::e2ee;

pub fn routes() -> Router<AppState> {
    Router::new().route("/sendToDevice/{event_type}/{txn_id}", put(send))
}

#[derive(Deserialize)]
struct SendRequest {
    messages: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
}

async fn send(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((event_type, txn_id)): MatrixPath<(String, String)>,
    JsonBody(request): JsonBody<SendRequest>,
) -> ApiResult<Json<Value>> {
    let local: Vec<(String, String, String)> = request
        .messages
        .into_iter()
        .filter(|(user_id, _)| state.local_part(user_id).is_some())
        .flat_map(|(user_id, devices)| {
            devices.into_iter().map(move |(device_id, content)| {
                (
                    user_id.clone(),
                    device_id,
                    Value::Object(content).to_string(),
                )
            })
        })
        .collect();
    state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            let scope = format!("sendToDevice/{event_type}");
            let status = client_data::claim_transaction_id(
                &transaction,
                &auth.user_id,
                &auth.device_id,
                &scope,
                &txn_id,
                None,
            )?;
            if status == TransactionStatus::New {
                for (user_id, device_id, content_json) in &local {
                    e2ee::queue_to_device(
                        &transaction,
                        &auth.user_id,
                        &event_type,
                        user_id,
                        device_id,
                        content_json,
                    )?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await?;
    state.rooms.notify_changed();
    Ok(Json(json!({})))
}
