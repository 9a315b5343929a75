//! The Matrix Client-Server API. One module per area; each returns the routes it serves
//! relative to `/_matrix/client/v3`, and [`router`] mounts them under `v3` and the `r0` alias
//! older clients use.

mod account_data;
mod cross_signing;
mod devices;
mod directory;
mod discovery;
mod ephemeral;
pub mod error;
pub mod extract;
mod filter;
mod key_backup;
mod keys;
mod media;
mod presence;
mod profile;
mod push_rules;
pub mod ratelimit;
mod register;
mod room_reads;
mod rooms;
mod session;
mod state;
mod sync;
mod to_device;
mod uia;

use axum::Router;
use axum::http::{HeaderName, Method};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};

pub use error::{ApiResult, MatrixError};
pub use state::AppState;

/// The whole HTTP API of the node, ready to serve.
pub fn router(state: AppState) -> Router {
    let client_v3 = Router::new()
        .merge(discovery::routes())
        .merge(register::routes())
        .merge(session::routes())
        .merge(account_data::routes())
        .merge(presence::routes())
        .merge(profile::routes())
        .merge(devices::routes())
        .merge(directory::routes())
        .merge(keys::routes())
        .merge(key_backup::routes())
        .merge(cross_signing::routes())
        .merge(to_device::routes())
        .merge(filter::routes())
        .merge(push_rules::routes())
        .merge(rooms::routes())
        .merge(room_reads::routes())
        .merge(ephemeral::routes())
        .merge(sync::routes());
    Router::new()
        .merge(discovery::unversioned_routes())
        .merge(register::v1_routes())
        .merge(media::routes())
        .nest("/_matrix/client/v3", client_v3.clone())
        .nest("/_matrix/client/r0", client_v3)
        .fallback(unrecognized)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors())
}

/// Browser clients (Element Web, Hydrogen) run on other origins and need CORS on every
/// response, errors included, plus answered preflights.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("authorization"),
        ])
}

async fn unrecognized() -> MatrixError {
    MatrixError::unrecognized()
}

async fn method_not_allowed() -> MatrixError {
    MatrixError::method_not_allowed()
}

fn panic_response(_panic: Box<dyn std::any::Any + Send>) -> Response {
    MatrixError::internal("a request handler panicked").into_response()
}
