//! Fixtures of the HTTP tests: a broker state built from YAML, requests sent
//! to `app(state)` without a socket, and replies read as JSON-RPC.

use super::*;

mod mcp_endpoint;
mod modern_era;
mod session_api;
mod status;

use std::path::Path;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use mcp_protocol::headers::SESSION_ID;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::GatewayConfig;
use crate::session_token::SessionSigner;

/// Long enough for anything that is going to happen; a test that waits this
/// long has failed.
const PATIENCE: Duration = Duration::from_secs(10);

/// A broker with no upstream servers.
const NO_SERVERS: &str = "listen: 127.0.0.1:8090\n";

/// The test brokers' signer (the key of [`broker`]).
fn signer() -> SessionSigner {
    SessionSigner::new(b"http tests key".to_vec(), Duration::from_secs(3600))
}

/// The gateway token the test brokers expect, as Envoy would add it.
const GATEWAY_TOKEN: &str = "test-gateway-token";

/// A broker state for the configuration `yaml`, plus the test gateway
/// token and session key. Nothing runs: no discovery, no publisher; tests
/// drive the catalog themselves.
fn broker(yaml: &str) -> Arc<AppState> {
    let yaml = format!(
        "{yaml}\nrouterAuthentication: {{ token: {{ value: {GATEWAY_TOKEN} }} }}\nsessionKey: {{ value: \"http tests key\" }}\n"
    );
    let config = GatewayConfig::parse(&yaml, Path::new("gateway.yaml"), Path::new("/"))
        .expect("the test configuration parses");
    let runtime = crate::supervisor::resolve(config, None).expect("the test credentials resolve");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    Arc::new(AppState::new(runtime, http))
}

/// What came back, body read in full.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a JSON-RPC error reply: HTTP status, code and id.
    fn assert_rpc_error(&self, status: StatusCode, code: i64, id: Value) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["jsonrpc"], "2.0", "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["id"], id, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

/// Sends `request` to the broker and returns the response head, body unread
/// (streams never end).
async fn open(state: &Arc<AppState>, request: Request<Body>) -> axum::response::Response {
    tokio::time::timeout(PATIENCE, app(state.clone()).oneshot(request))
        .await
        .expect("the broker answers in time")
        .expect("the router is infallible")
}

/// Sends `request` to the broker and reads the whole reply.
async fn send(state: &Arc<AppState>, request: Request<Body>) -> Reply {
    let (parts, body) = open(state, request).await.into_parts();
    let body = tokio::time::timeout(PATIENCE, body.collect())
        .await
        .expect("the body ends in time")
        .expect("the body can be read")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A request to the MCP endpoint, with the headers a client sends.
fn mcp(method: Method) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(mcp_protocol::headers::X_MCP_GATEWAY_TOKEN, GATEWAY_TOKEN)
        .header(header::HOST, "127.0.0.1:8080")
}

/// A POST of `body` to the MCP endpoint within `session`.
fn post(session: Option<&str>, body: impl Into<String>) -> Request<Body> {
    let mut request = mcp(Method::POST);
    if let Some(session) = session {
        request = request.header(SESSION_ID, session);
    }
    request
        .body(Body::from(body.into()))
        .expect("a valid request")
}

/// A JSON-RPC request text.
fn call(id: Value, method: &str) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": method }).to_string()
}

fn initialize_body(version: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "test-client", "version": "1" }
        }
    })
    .to_string()
}

/// Starts a gateway session asking for `version`; its id.
async fn start_session(state: &Arc<AppState>, version: &str) -> String {
    let reply = send(state, post(None, initialize_body(version))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply
        .header(SESSION_ID)
        .expect("initialize returns a session id")
        .to_owned()
}
