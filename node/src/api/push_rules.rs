//! The push rules API: read the user's ruleset, add, change, move and delete their own rules,
//! and enable, disable or change the actions of any rule. Every change is saved as the
//! user's `m.push_rules` account data, which `/sync` then delivers (see [`crate::push`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixPath, MatrixQuery};
use super::state::AppState;
use crate::push::{self, NewRule, Placement, PushRule, RuleEditError, RuleKind, Ruleset};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pushrules/", get(all_rules))
        .route("/pushrules/{scope}", get(scope_rules))
        .route("/pushrules/{scope}/", get(scope_rules))
        .route("/pushrules/{scope}/{kind}/", get(kind_rules))
        .route(
            "/pushrules/{scope}/{kind}/{rule_id}",
            get(get_rule).put(put_rule).delete(delete_rule),
        )
        .route(
            "/pushrules/{scope}/{kind}/{rule_id}/enabled",
            get(get_enabled).put(put_enabled),
        )
        .route(
            "/pushrules/{scope}/{kind}/{rule_id}/actions",
            get(get_actions).put(put_actions),
        )
}

async fn all_rules(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    let ruleset = load(&state, &auth).await?;
    Ok(Json(push::account_data_content(&ruleset)))
}

async fn scope_rules(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(scope): MatrixPath<String>,
) -> ApiResult<Json<Value>> {
    check_scope(&scope)?;
    Ok(Json(json!(load(&state, &auth).await?)))
}

async fn kind_rules(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath((scope, kind)): MatrixPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_scope(&scope)?;
    let kind = parse_kind(&kind)?;
    Ok(Json(json!(load(&state, &auth).await?.rules(kind))))
}

async fn get_rule(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(find_rule(&state, &auth, path).await?)))
}

async fn get_enabled(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
) -> ApiResult<Json<Value>> {
    let rule = find_rule(&state, &auth, path).await?;
    Ok(Json(json!({ "enabled": rule.enabled })))
}

async fn get_actions(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
) -> ApiResult<Json<Value>> {
    let rule = find_rule(&state, &auth, path).await?;
    Ok(Json(json!({ "actions": rule.actions })))
}

/// The rule the path names in the user's ruleset, or `M_NOT_FOUND`.
async fn find_rule(state: &AppState, auth: &Auth, path: RulePath) -> ApiResult<PushRule> {
    let (kind, rule_id) = path.parse()?;
    let ruleset = load(state, auth).await?;
    ruleset
        .find(kind, &rule_id)
        .cloned()
        .ok_or_else(|| MatrixError::not_found("The push rule was not found"))
}

#[derive(Deserialize)]
struct PlacementQuery {
    before: Option<String>,
    after: Option<String>,
}

async fn put_rule(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
    MatrixQuery(query): MatrixQuery<PlacementQuery>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let (kind, rule_id) = path.parse()?;
    if !body.contains_key("actions") {
        return Err(MatrixError::missing_param("Missing field \"actions\""));
    }
    let rule: NewRule = serde_json::from_value(Value::Object(body))
        .map_err(|error| MatrixError::bad_json(format!("Malformed push rule: {error}")))?;
    edit(&state, &auth, move |ruleset| {
        let placement = Placement {
            before: query.before.as_deref(),
            after: query.after.as_deref(),
        };
        ruleset.put(kind, &rule_id, rule, placement)
    })
    .await
}

async fn delete_rule(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
) -> ApiResult<Json<Value>> {
    let (kind, rule_id) = path.parse()?;
    edit(&state, &auth, move |ruleset| ruleset.delete(kind, &rule_id)).await
}

#[derive(Deserialize)]
struct EnabledBody {
    enabled: bool,
}

async fn put_enabled(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
    JsonBody(body): JsonBody<EnabledBody>,
) -> ApiResult<Json<Value>> {
    let (kind, rule_id) = path.parse()?;
    edit(&state, &auth, move |ruleset| {
        ruleset.set_enabled(kind, &rule_id, body.enabled)
    })
    .await
}

#[derive(Deserialize)]
struct ActionsBody {
    actions: Vec<Value>,
}

async fn put_actions(
    State(state): State<AppState>,
    auth: Auth,
    MatrixPath(path): MatrixPath<RulePath>,
    JsonBody(body): JsonBody<ActionsBody>,
) -> ApiResult<Json<Value>> {
    let (kind, rule_id) = path.parse()?;
    edit(&state, &auth, move |ruleset| {
        ruleset.set_actions(kind, &rule_id, body.actions)
    })
    .await
}

#[derive(Deserialize)]
struct RulePath {
    scope: String,
    kind: String,
    rule_id: String,
}

impl RulePath {
    fn parse(self) -> ApiResult<(RuleKind, String)> {
        check_scope(&self.scope)?;
        Ok((parse_kind(&self.kind)?, self.rule_id))
    }
}

/// Only the `global` scope exists; per-device rules left the spec long ago.
fn check_scope(scope: &str) -> ApiResult<()> {
    match scope {
        "global" => Ok(()),
        _ => Err(MatrixError::invalid_param(format!(
            "Unknown push rule scope {scope:?}"
        ))),
    }
}

fn parse_kind(kind: &str) -> ApiResult<RuleKind> {
    RuleKind::parse(kind)
        .ok_or_else(|| MatrixError::invalid_param(format!("Unknown push rule kind {kind:?}")))
}

async fn load(state: &AppState, auth: &Auth) -> ApiResult<Ruleset> {
    let user_id = auth.user_id.clone();
    Ok(state
        .store
        .call(move |connection| push::load(connection, &user_id))
        .await?)
}

/// Applies `change` to the user's ruleset and saves it. The store runs one call at a time,
/// so two edits never interleave.
async fn edit(
    state: &AppState,
    auth: &Auth,
    change: impl FnOnce(&mut Ruleset) -> Result<(), RuleEditError> + Send + 'static,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id.clone();
    state
        .store
        .call(move |connection| {
            let mut ruleset = push::load(connection, &user_id)?;
            if let Err(refused) = change(&mut ruleset) {
                return Ok(Err(refused));
            }
            push::save(connection, &user_id, &ruleset).map(Ok)
        })
        .await?
        .map_err(edit_error)?;
    state.rooms.notify_changed();
    Ok(Json(json!({})))
}

fn edit_error(error: RuleEditError) -> MatrixError {
    let message = error.to_string();
    match error {
        RuleEditError::NotFound => MatrixError::not_found(message),
        RuleEditError::AnchorNotFound(_) => {
            MatrixError::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", message)
        }
        RuleEditError::ServerDefault | RuleEditError::Invalid(_) => {
            MatrixError::invalid_param(message)
        }
        RuleEditError::Missing(_) => MatrixError::missing_param(message),
    }
}
