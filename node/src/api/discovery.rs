//! What clients ask before anything else: spec versions, capabilities, and the VoIP and
//! third-party lookups several clients make at startup.

use axum::routing::get;
use axum::{Json, Router};
use dag::RoomVersion;
use serde_json::{Map, Value, json};

use super::extract::Auth;
use super::state::AppState;

/// The Client-Server API versions the node speaks, oldest first.
pub const SPEC_VERSIONS: &[&str] = &[
    "r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8",
    "v1.9", "v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16",
];

pub fn unversioned_routes() -> Router<AppState> {
    Router::new().route("/_matrix/client/versions", get(versions))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/capabilities", get(capabilities))
        .route("/voip/turnServer", get(turn_server))
        .route("/thirdparty/protocols", get(thirdparty_protocols))
}

/// Answered with or without a token.
async fn versions() -> Json<Value> {
    Json(json!({ "versions": SPEC_VERSIONS, "unstable_features": {} }))
}

async fn capabilities(state: axum::extract::State<AppState>, _auth: Auth) -> Json<Value> {
    let available: Map<String, Value> = RoomVersion::ALL
        .iter()
        .map(|version| (version.as_str().to_owned(), Value::from("stable")))
        .collect();
    Json(json!({
        "capabilities": {
            "m.room_versions": {
                "default": state.config.default_room_version.as_str(),
                "available": available,
            },
            "m.change_password": { "enabled": false },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": false },
        }
    }))
}

/// The node has no TURN server; an empty object is what clients expect then.
async fn turn_server(_auth: Auth) -> Json<Value> {
    Json(json!({}))
}

/// No bridges to third-party networks.
async fn thirdparty_protocols(_auth: Auth) -> Json<Value> {
    Json(json!({}))
}
