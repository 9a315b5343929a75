//! Cross-signing: a user's master, self-signing and user-signing keys
//! (`/keys/device_signing/upload`) and the signatures made with them (`/keys/signatures/upload`).
//! The node checks every signature it stores, so `/keys/query` never serves a forged one; what
//! the keys mean (who trusts whom) is the clients' business.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use dag::signing::{verify_json, verifying_key_from_base64};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiResult, MatrixError};
use super::extract::{Auth, JsonBody};
use super::state::AppState;
use super::uia::{self, AuthData};
use crate::store::cross_signing::{self, KeyUsage};
use crate::store::{StoreError, e2ee};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys/device_signing/upload", post(upload_keys))
        .route("/keys/signatures/upload", post(upload_signatures))
}

#[derive(Deserialize)]
struct UploadKeysRequest {
    master_key: Option<Map<String, Value>>,
    self_signing_key: Option<Map<String, Value>>,
    user_signing_key: Option<Map<String, Value>>,
    auth: Option<AuthData>,
}

/// A cross-signing key object that names its owner, its usage and exactly one ed25519 key;
/// returns that key's unpadded base64 public part.
fn checked_key(
    object: &Map<String, Value>,
    user_id: &str,
    usage: KeyUsage,
) -> Result<String, MatrixError> {
    let invalid =
        |what: &str| MatrixError::invalid_param(format!("The {} key {what}", usage.as_str()));
    if object.get("user_id").and_then(Value::as_str) != Some(user_id) {
        return Err(invalid("must name the uploading user"));
    }
    let usages = object.get("usage").and_then(Value::as_array);
    if !usages.is_some_and(|usages| usages.iter().any(|u| u == usage.as_str())) {
        return Err(invalid("does not list that usage"));
    }
    let keys: Vec<_> = object
        .get("keys")
        .and_then(Value::as_object)
        .map(|keys| keys.iter().collect())
        .unwrap_or_default();
    let [(key_id, public)] = keys[..] else {
        return Err(invalid("must hold exactly one key"));
    };
    let public = public.as_str().unwrap_or_default();
    if key_id.strip_prefix("ed25519:") != Some(public) || verifying_key_from_base64(public).is_err()
    {
        return Err(invalid("is not an ed25519 key named after itself"));
    }
    Ok(public.to_owned())
}

/// Whether `signer` signed `object` with the ed25519 key `public` (unpadded base64) under the
/// key ID `ed25519:<key_name>`.
fn signed_by(object: &Map<String, Value>, signer: &str, key_name: &str, public: &str) -> bool {
    verifying_key_from_base64(public)
        .is_ok_and(|key| verify_json(object, signer, &format!("ed25519:{key_name}"), &key).is_ok())
}

async fn upload_keys(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<UploadKeysRequest>,
) -> ApiResult<Json<Value>> {
    let user_id = auth.user_id;
    let uploaded: Vec<(KeyUsage, Map<String, Value>)> = [
        (KeyUsage::Master, request.master_key),
        (KeyUsage::SelfSigning, request.self_signing_key),
        (KeyUsage::UserSigning, request.user_signing_key),
    ]
    .into_iter()
    .filter_map(|(usage, key)| Some((usage, key?)))
    .collect();
    let owner = user_id.clone();
    let stored = state
        .store
        .call(move |connection| cross_signing::cross_signing_keys(connection, &owner))
        .await?;
    check_upload(&uploaded, &stored, &user_id)?;
    if replaces_keys(&uploaded, &stored) {
        uia::require_reauthentication(&state, &user_id, request.auth).await?;
    }
    state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            for (usage, key) in uploaded {
                let json = Value::Object(key).to_string();
                cross_signing::put_cross_signing_key(&transaction, &user_id, usage, &json)?;
            }
            transaction.commit()?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

/// Every uploaded key is well formed, and each one other than the master key is signed by
/// the master key (the uploaded one, else the stored one).
fn check_upload(
    uploaded: &[(KeyUsage, Map<String, Value>)],
    stored: &BTreeMap<KeyUsage, String>,
    user_id: &str,
) -> Result<(), MatrixError> {
    let master = match uploaded
        .iter()
        .find(|(usage, _)| *usage == KeyUsage::Master)
    {
        Some((_, key)) => Some(key.clone()),
        None => stored_object(stored.get(&KeyUsage::Master).cloned()),
    };
    let master_public = match &master {
        Some(master) => Some(checked_key(master, user_id, KeyUsage::Master)?),
        None => None,
    };
    for (usage, key) in uploaded {
        checked_key(key, user_id, *usage)?;
        if *usage == KeyUsage::Master {
            continue;
        }
        let Some(master_public) = &master_public else {
            return Err(MatrixError::invalid_param(
                "Upload a master key before the keys it signs",
            ));
        };
        if !signed_by(key, user_id, master_public, master_public) {
            return Err(MatrixError::new(
                StatusCode::BAD_REQUEST,
                "M_INVALID_SIGNATURE",
                format!("The {} key is not signed by the master key", usage.as_str()),
            ));
        }
    }
    Ok(())
}

/// Whether the upload replaces a key the user has, which needs re-authentication. A first
/// upload needs none, nor does one that changes nothing (a client retrying), as the spec has it.
fn replaces_keys(
    uploaded: &[(KeyUsage, Map<String, Value>)],
    stored: &BTreeMap<KeyUsage, String>,
) -> bool {
    stored.contains_key(&KeyUsage::Master)
        && uploaded
            .iter()
            .any(|(usage, key)| stored_object(stored.get(usage).cloned()).as_ref() != Some(key))
}

/// `{user_id: {key_id: signed object}}`, where the key ID is a device ID or the base64 public
/// part of a master key.
type SignatureUpload = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

async fn upload_signatures(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(upload): JsonBody<SignatureUpload>,
) -> ApiResult<Json<Value>> {
    let (local, remote): (Vec<_>, Vec<_>) = upload
        .into_iter()
        .partition(|(user_id, _)| state.local_part(user_id).is_some());
    // Keys of users on other nodes do not travel over the mesh yet (#4), so neither do
    // signatures on them.
    let mut failures = Map::new();
    for (user_id, objects) in remote {
        let keys: Map<String, Value> = objects
            .into_keys()
            .map(|key_id| {
                let failure = json!({"errcode": "M_NOT_FOUND", "error": "Not a user of this node"});
                (key_id, failure)
            })
            .collect();
        failures.insert(user_id, Value::Object(keys));
    }
    let signer = auth.user_id;
    let failures = state
        .store
        .call(move |connection| {
            let transaction = connection.transaction()?;
            for (user_id, objects) in local {
                for (key_id, object) in objects {
                    let outcome = add_signature(&transaction, &signer, &user_id, &key_id, object)?;
                    if let Err((errcode, message)) = outcome {
                        let entry = failures.entry(user_id.clone()).or_insert_with(|| json!({}));
                        entry[&key_id] = json!({"errcode": errcode, "error": message});
                    }
                }
            }
            transaction.commit()?;
            Ok(failures)
        })
        .await?;
    Ok(Json(json!({ "failures": failures })))
}

/// What a signature upload did to one key: `Err((errcode, message))` is reported under
/// `failures` and leaves the key as it was.
type SignatureOutcome = Result<(), (&'static str, String)>;

/// The key `key_id` of `user_id` that a signature upload may add to: one of their devices, or
/// their master key.
enum Target {
    Device(String),
    Master,
}

/// Checks and stores the signatures `signer` made on one of `user_id`'s keys: their own
/// devices with their self-signing key, their own master key with one of their devices, or
/// another user's master key with their user-signing key.
fn add_signature(
    connection: &rusqlite::Connection,
    signer: &str,
    user_id: &str,
    key_id: &str,
    uploaded: Map<String, Value>,
) -> Result<SignatureOutcome, StoreError> {
    let master = stored_object(cross_signing::cross_signing_key(
        connection,
        user_id,
        KeyUsage::Master,
    )?);
    let is_master = master
        .as_ref()
        .is_some_and(|master| master["keys"].get(format!("ed25519:{key_id}")).is_some());
    let device = e2ee::query_device_keys(connection, user_id, &[key_id.to_owned()])?
        .pop()
        .and_then(|keys| stored_object(Some(keys.keys_json)));
    let (target, stored) = match (is_master, master, device) {
        (true, Some(master), _) => (Target::Master, master),
        (false, _, Some(device)) => (Target::Device(key_id.to_owned()), device),
        _ => {
            return Ok(Err((
                "M_NOT_FOUND",
                format!("No key {key_id} of {user_id}"),
            )));
        }
    };
    if without_signatures(&stored) != without_signatures(&uploaded) {
        return Ok(Err((
            "M_INVALID_PARAM",
            "The signed object differs from the published key".to_owned(),
        )));
    }
    let candidates = signing_keys(connection, signer, user_id, &target)?;
    if candidates.is_empty() {
        return Ok(Err((
            "M_INVALID_SIGNATURE",
            "The signer has no key that may sign this".to_owned(),
        )));
    }
    let Some((key_name, _)) = candidates
        .into_iter()
        .find(|(key_name, public)| signed_by(&uploaded, signer, key_name, public))
    else {
        return Ok(Err((
            "M_INVALID_SIGNATURE",
            format!("No valid signature by {signer} with a key that may sign this"),
        )));
    };
    let signature = uploaded["signatures"][signer][format!("ed25519:{key_name}")].clone();
    let mut stored = stored;
    let signatures = stored
        .entry("signatures")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(signatures) = signatures {
        let by_signer = signatures.entry(signer).or_insert_with(|| json!({}));
        by_signer[format!("ed25519:{key_name}")] = signature;
    }
    let json = Value::Object(stored).to_string();
    match target {
        Target::Master => {
            cross_signing::put_cross_signing_key(connection, user_id, KeyUsage::Master, &json)?
        }
        Target::Device(device_id) => e2ee::put_device_keys(connection, user_id, &device_id, &json)?,
    }
    Ok(Ok(()))
}

/// The keys, as `(key name, public key)`, one of which `signer` must have signed `target`
/// with: their self-signing key for their own devices, one of their devices for their own
/// master key, and their user-signing key for someone else's master key.
fn signing_keys(
    connection: &rusqlite::Connection,
    signer: &str,
    user_id: &str,
    target: &Target,
) -> Result<Vec<(String, String)>, StoreError> {
    let own = signer == user_id;
    let usage = match target {
        Target::Device(_) if own => KeyUsage::SelfSigning,
        Target::Master if !own => KeyUsage::UserSigning,
        Target::Master => return device_keys_of(connection, signer),
        Target::Device(_) => return Ok(Vec::new()),
    };
    let key = stored_object(cross_signing::cross_signing_key(connection, signer, usage)?);
    let public = key.and_then(|key| {
        let (key_id, _) = key.get("keys")?.as_object()?.iter().next()?;
        Some(key_id.strip_prefix("ed25519:")?.to_owned())
    });
    Ok(public
        .into_iter()
        .map(|public| (public.clone(), public))
        .collect())
}

/// The ed25519 key of each of the user's devices, named by the device ID.
fn device_keys_of(
    connection: &rusqlite::Connection,
    user_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let devices = e2ee::query_device_keys(connection, user_id, &[])?;
    Ok(devices
        .into_iter()
        .filter_map(|keys| {
            let object = stored_object(Some(keys.keys_json))?;
            let public = object["keys"][format!("ed25519:{}", keys.device_id)].as_str()?;
            Some((keys.device_id, public.to_owned()))
        })
        .collect())
}

fn stored_object(json: Option<String>) -> Option<Map<String, Value>> {
    match serde_json::from_str(&json?) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

fn without_signatures(object: &Map<String, Value>) -> Map<String, Value> {
    let mut object = object.clone();
    object.remove("signatures");
    object.remove("unsigned");
    object
}
