//! `/sync`: initial and incremental, long-polling up to `timeout` ms for something to report.
//! An initial sync (no `since`) answers at once. Syncing marks the user online, or with
//! `set_presence` unavailable; `set_presence=offline` leaves their presence as it is. With
//! `use_state_after=true` (Matrix 1.16) rooms carry `state_after` in place of `state`.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, MatrixQuery};
use super::presence::parse_presence;
use super::state::AppState;
use crate::rooms::presence::PresenceState;
use crate::rooms::sync::{SyncFilter, SyncRequest, SyncToken};
use crate::store::client_data;

/// The longest a request is held open, whatever the client asks.
pub const MAX_SYNC_TIMEOUT: Duration = Duration::from_secs(120);

pub fn routes() -> Router<AppState> {
    Router::new().route("/sync", get(sync))
}

#[derive(Deserialize)]
struct SyncQuery {
    since: Option<String>,
    timeout: Option<u64>,
    #[serde(default)]
    full_state: bool,
    #[serde(default)]
    use_state_after: bool,
    filter: Option<String>,
    set_presence: Option<String>,
}

async fn sync(
    State(state): State<AppState>,
    auth: Auth,
    MatrixQuery(query): MatrixQuery<SyncQuery>,
) -> ApiResult<Json<Value>> {
    let since = query.since.as_deref().map(SyncToken::parse).transpose()?;
    let filter = load_filter(&state, &auth.user_id, query.filter).await?;
    let presence = match query.set_presence.as_deref() {
        None => PresenceState::Online,
        Some(text) => parse_presence(text)?,
    };
    if presence != PresenceState::Offline
        && state
            .rooms
            .presence
            .set(&auth.user_id, presence, None, crate::store::now_ms())
    {
        state.rooms.notify_changed();
    }
    let timeout = Duration::from_millis(query.timeout.unwrap_or(0)).min(MAX_SYNC_TIMEOUT);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = state.rooms.watch_changes();
    loop {
        changes.borrow_and_update();
        let request = SyncRequest {
            user_id: auth.user_id.clone(),
            device_id: auth.device_id.clone(),
            since,
            full_state: query.full_state,
            use_state_after: query.use_state_after,
            filter: filter.clone(),
        };
        let response = state.rooms.sync_once(request).await?;
        let wait_more = since.is_some() && response.is_empty && !query.full_state;
        if !wait_more || tokio::time::Instant::now() >= deadline {
            return Ok(Json(response.body));
        }
        if !matches!(
            tokio::time::timeout_at(deadline, changes.changed()).await,
            Ok(Ok(()))
        ) {
            return Ok(Json(response.body));
        }
    }
}

/// The `filter` parameter: inline JSON, or the ID of a filter the user stored.
async fn load_filter(
    state: &AppState,
    user_id: &str,
    filter: Option<String>,
) -> ApiResult<SyncFilter> {
    let Some(filter) = filter else {
        return Ok(SyncFilter::default());
    };
    if filter.trim_start().starts_with('{') {
        return serde_json::from_str(&filter)
            .map_err(|error| MatrixError::bad_json(format!("Invalid filter: {error}")));
    }
    let filter_id: i64 = filter
        .parse()
        .map_err(|_| MatrixError::invalid_param("Unknown filter"))?;
    let user_id = user_id.to_owned();
    let stored = state
        .store
        .call(move |connection| client_data::get_filter(connection, &user_id, filter_id))
        .await?
        .ok_or_else(|| MatrixError::invalid_param("Unknown filter"))?;
    // A stored filter with parts this server does not read still applies what it can.
    Ok(serde_json::from_str(&stored).unwrap_or_default())
}
