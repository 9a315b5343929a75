//! A node in a temporary directory and helpers to call its API.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use node::api::{AppState, router};
use node::config::Config;
use node::identity::NodeIdentity;
use node::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct TestNode {
    pub router: Router,
    pub server_name: String,
    pub dir: tempfile::TempDir,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A response kept as bytes.
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: axum::body::Bytes,
}

/// A logged-in user.
pub struct Session {
    pub user_id: String,
    pub device_id: String,
    pub token: String,
}

pub const PASSWORD: &str = "sea shanty";

impl TestNode {
    pub fn new() -> TestNode {
        TestNode::with_config(|_| {})
    }

    pub fn with_config(adjust: impl FnOnce(&mut Config)) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults(dir.path().to_path_buf());
        adjust(&mut config);
        let identity = NodeIdentity::load_or_create(dir.path()).unwrap();
        let server_name = identity.server_name().to_owned();
        // The database thread ends by itself once the router and its handles are dropped.
        let (store, _thread) = Store::open(&config.database_file()).unwrap();
        TestNode {
            router: router(AppState::new(config, identity, store)),
            server_name,
            dir,
        }
    }

    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// A second connection to the node's database, for checking what the API stored.
    pub fn database(&self) -> rusqlite::Connection {
        node::store::open_connection(&self.dir.path().join(node::store::DATABASE_FILE_NAME))
            .unwrap()
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Response {
            status,
            headers,
            body,
        }
    }

    /// A request whose answer may be anything (a downloaded file), kept as bytes.
    pub async fn send_for_bytes(&self, request: Request<Body>) -> RawResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        RawResponse {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.into_body().collect().await.unwrap().to_bytes(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
        self.send(request.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn raw_post(&self, path: &str, body: impl Into<Body>) -> Response {
        let request = Request::post(path).body(body.into()).unwrap();
        self.send(request).await
    }

    pub async fn register(&self, localpart: &str) -> Session {
        let response = self
            .post(
                "/_matrix/client/v3/register",
                None,
                json!({
                    "username": localpart,
                    "password": PASSWORD,
                    "auth": { "type": "m.login.dummy" },
                }),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        Session {
            user_id: response.body["user_id"].as_str().unwrap().to_owned(),
            device_id: response.body["device_id"].as_str().unwrap().to_owned(),
            token: response.body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login(&self, localpart: &str, device_id: Option<&str>) -> Session {
        let mut body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": localpart },
            "password": PASSWORD,
        });
        if let Some(device_id) = device_id {
            body["device_id"] = json!(device_id);
        }
        let response = self.post("/_matrix/client/v3/login", None, body).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        Session {
            user_id: response.body["user_id"].as_str().unwrap().to_owned(),
            device_id: response.body["device_id"].as_str().unwrap().to_owned(),
            token: response.body["access_token"].as_str().unwrap().to_owned(),
        }
    }
}

/// Asserts a Matrix error response with its status and code.
#[track_caller]
pub fn assert_error(response: &Response, status: StatusCode, errcode: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.body["errcode"], errcode, "{}", response.body);
    assert!(response.body["error"].is_string(), "{}", response.body);
}
