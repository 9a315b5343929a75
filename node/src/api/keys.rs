//! End-to-end encryption keys of local devices: upload, query (with the users' cross-signing
//! keys, see `cross_signing`), one-time key claims, and which users' devices changed since a
//! sync token.
//! Keys of users on other nodes come with the mesh (#4); until then they are reported
//! under `failures`. Server-side key backup is in `key_backup`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody, MatrixQuery};
use super::state::AppState;
use crate::rooms::device_lists::device_list_updates;
use crate::rooms::sync::SyncToken;
use crate::store::cross_signing::{self, KeyUsage};
use crate::store::e2ee;
use crate::store::timeline::users_sharing_rooms;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys/upload", post(upload))
        .route("/keys/query", post(query))
        .route("/keys/claim", post(claim))
        .route("/keys/changes", get(changes))
}

/// Clients rely on the count of this algorithm being present even when it is zero.
const SIGNED_CURVE25519: &str = "signed_curve25519";

#[derive(Deserialize)]
struct UploadRequest {
    device_keys: Option<Map<String, Value>>,
    #[serde(default)]
    one_time_keys: BTreeMap<String, Value>,
    #[serde(default)]
    fallback_keys: BTreeMap<String, Value>,
    /// The name older clients still use for `fallback_keys`.
    #[serde(default, rename = "org.matrix.msc2732.fallback_keys")]
    unstable_fallback_keys: BTreeMap<String, Value>,
}

fn key_pairs(keys: BTreeMap<String, Value>) -> Vec<(String, String)> {
    keys.into_iter()
        .map(|(key_id, key)| (key_id, key.to_string()))
        .collect()
}

async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<UploadRequest>,
) -> ApiResult<Json<Value>> {
    if let Some(device_keys) = &request.device_keys {
        let names_requester = device_keys.get("user_id") == Some(&Value::from(&*auth.user_id))
            && device_keys.get("device_id") == Some(&Value::from(&*auth.device_id));
        if !names_requester {
            return Err(MatrixError::invalid_param(
                "device_keys must name the requesting user and device",
            ));
        }
    }
    let one_time_keys = key_pairs(request.one_time_keys);
    let mut fallback_keys = key_pairs(request.unstable_fallback_keys);
    fallback_keys.extend(key_pairs(request.fallback_keys));
    let counts = state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            let (user, device) = (&auth.user_id, &auth.device_id);
            if let Some(keys) = request.device_keys {
                let published =
                    e2ee::query_device_keys(&transaction, user, std::slice::from_ref(device))?;
                let keys = keeping_signatures(keys, published.first());
                e2ee::put_device_keys(&transaction, user, device, &keys.to_string())?;
            }
            e2ee::add_one_time_keys(&transaction, user, device, &one_time_keys)?;
            e2ee::set_fallback_keys(&transaction, user, device, &fallback_keys)?;
            let counts = e2ee::one_time_key_counts(&transaction, user, device)?;
            transaction.commit()?;
            Ok(counts)
        })
        .await?;
    let mut counts: Map<String, Value> = counts
        .into_iter()
        .map(|(algorithm, count)| (algorithm, Value::from(count)))
        .collect();
    counts
        .entry(SIGNED_CURVE25519)
        .or_insert_with(|| Value::from(0));
    Ok(Json(json!({ "one_time_key_counts": counts })))
}

/// The uploaded device keys, with the signatures others made on the same keys before (a
/// client may upload its unchanged keys again; cross-signatures must survive that).
fn keeping_signatures(
    mut uploaded: Map<String, Value>,
    published: Option<&e2ee::PublishedDeviceKeys>,
) -> Value {
    let published =
        published.and_then(
            |published| match serde_json::from_str::<Value>(&published.keys_json) {
                Ok(Value::Object(object)) => Some(object),
                _ => None,
            },
        );
    let unsigned = |object: &Map<String, Value>| {
        let mut object = object.clone();
        object.remove("signatures");
        object.remove("unsigned");
        object
    };
    if let Some(published) =
        published.filter(|published| unsigned(published) == unsigned(&uploaded))
        && let Some(Value::Object(earlier)) = published.get("signatures")
        && let Value::Object(signatures) = uploaded.entry("signatures").or_insert_with(|| json!({}))
    {
        for (signer, by_signer) in earlier {
            let (Value::Object(earlier_keys), Value::Object(keys)) = (
                by_signer,
                signatures
                    .entry(signer.clone())
                    .or_insert_with(|| json!({})),
            ) else {
                continue;
            };
            for (key_id, signature) in earlier_keys {
                keys.entry(key_id.clone())
                    .or_insert_with(|| signature.clone());
            }
        }
    }
    Value::Object(uploaded)
}

#[derive(Deserialize)]
struct QueryRequest {
    device_keys: BTreeMap<String, Vec<String>>,
}

async fn query(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<QueryRequest>,
) -> ApiResult<Json<Value>> {
    let mut failures = Map::new();
    let mut local = Vec::new();
    for (user_id, device_ids) in request.device_keys {
        if state.local_part(&user_id).is_some() {
            local.push((user_id, device_ids));
        } else if let Some((_, server)) = user_id.split_once(':') {
            failures.insert(
                server.to_owned(),
                json!({ "error": "server not reachable" }),
            );
        }
    }
    let published = state
        .store
        .call(move |connection| {
            local
                .into_iter()
                .map(|(user_id, device_ids)| {
                    let keys = e2ee::query_device_keys(connection, &user_id, &device_ids)?;
                    let cross_signing = cross_signing::cross_signing_keys(connection, &user_id)?;
                    Ok((user_id, keys, cross_signing))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut device_keys = Map::new();
    let mut cross_signing_keys: BTreeMap<KeyUsage, Map<String, Value>> = BTreeMap::new();
    for (user_id, keys, cross_signing) in published {
        let devices: Map<String, Value> = keys
            .into_iter()
            .filter_map(|keys| Some((keys.device_id.clone(), device_keys_json(keys)?)))
            .collect();
        for (usage, key_json) in cross_signing {
            // A user-signing key says whom its owner trusts: only the owner sees it.
            if usage == KeyUsage::UserSigning && user_id != auth.user_id {
                continue;
            }
            let key = serde_json::from_str(&key_json).map_err(MatrixError::internal)?;
            cross_signing_keys
                .entry(usage)
                .or_default()
                .insert(user_id.clone(), key);
        }
        device_keys.insert(user_id, Value::Object(devices));
    }
    let mut response = json!({ "device_keys": device_keys, "failures": failures });
    for usage in KeyUsage::ALL {
        let keys = cross_signing_keys.remove(&usage).unwrap_or_default();
        response[format!("{}_keys", usage.as_str())] = Value::Object(keys);
    }
    Ok(Json(response))
}

/// The stored keys with the device's display name under `unsigned`; `None` if the stored
/// JSON is not an object (it always is: only objects are accepted on upload).
fn device_keys_json(keys: e2ee::PublishedDeviceKeys) -> Option<Value> {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(&keys.keys_json) else {
        return None;
    };
    let unsigned = object
        .entry("unsigned")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Value::Object(unsigned), Some(name)) = (unsigned, keys.display_name) {
        unsigned.insert("device_display_name".into(), Value::from(name));
    }
    Some(Value::Object(object))
}

#[derive(Deserialize)]
struct ClaimRequest {
    one_time_keys: BTreeMap<String, BTreeMap<String, String>>,
}

async fn claim(
    State(state): State<AppState>,
    _auth: Auth,
    JsonBody(request): JsonBody<ClaimRequest>,
) -> ApiResult<Json<Value>> {
    let mut failures = Map::new();
    let mut wanted = Vec::new();
    for (user_id, devices) in request.one_time_keys {
        if state.local_part(&user_id).is_some() {
            for (device_id, algorithm) in devices {
                wanted.push((user_id.clone(), device_id, algorithm));
            }
        } else if let Some((_, server)) = user_id.split_once(':') {
            failures.insert(
                server.to_owned(),
                json!({ "error": "server not reachable" }),
            );
        }
    }
    let claimed = state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            let mut claimed = Vec::new();
            for (user_id, device_id, algorithm) in wanted {
                if let Some(key) =
                    e2ee::claim_one_time_key(&transaction, &user_id, &device_id, &algorithm)?
                {
                    claimed.push((user_id, device_id, key));
                }
            }
            transaction.commit()?;
            Ok(claimed)
        })
        .await?;
    let mut one_time_keys: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (user_id, device_id, (key_id, key_json)) in claimed {
        let key: Value = serde_json::from_str(&key_json).map_err(MatrixError::internal)?;
        one_time_keys
            .entry(user_id)
            .or_default()
            .insert(device_id, json!({ key_id: key }));
    }
    Ok(Json(
        json!({ "one_time_keys": one_time_keys, "failures": failures }),
    ))
}

#[derive(Deserialize)]
struct ChangesQuery {
    from: String,
    to: String,
}

/// Users whose devices changed since the sync token `from`, as an incremental /sync's
/// `device_lists` would say: for a client that was offline and syncs afresh. Changes after
/// `to` are included too, which the spec allows and which only costs a client a key query.
async fn changes(
    State(state): State<AppState>,
    auth: Auth,
    MatrixQuery(query): MatrixQuery<ChangesQuery>,
) -> ApiResult<Json<Value>> {
    let from = SyncToken::parse(&query.from)?;
    SyncToken::parse(&query.to)?;
    let user_id = auth.user_id.clone();
    let updates = state
        .store
        .call(move |connection| {
            let sharing = users_sharing_rooms(connection, &user_id)?;
            device_list_updates(
                connection,
                &user_id,
                (from.events, from.device_lists),
                &sharing,
            )
        })
        .await?;
    Ok(Json(
        json!({ "changed": updates.changed, "left": updates.left }),
    ))
}
