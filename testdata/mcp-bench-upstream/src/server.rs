//! The HTTP surface of one server: `/mcp` (POST, GET, DELETE), `/stats`,
//! `/admin/tools`. Replies are assembled from borrowed slices of the
//! request: the echoed text is copied as the JSON string token it arrived
//! as, never decoded and re-encoded.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::catalog::Upstream;

const SESSION_ID: &str = "mcp-session-id";
const SUPPORTED_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];
const LIST_CHANGED: &str = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;

#[derive(Debug, Clone)]
struct AppState {
    upstream: Arc<Upstream>,
    sse: bool,
}

pub fn app(upstream: Arc<Upstream>, sse: bool) -> Router {
    Router::new()
        .route("/mcp", post(mcp_post).get(mcp_get).delete(mcp_delete))
        .route("/stats", get(stats))
        .route("/admin/tools", post(add_tool))
        .with_state(AppState { upstream, sse })
}

/// The parts of a JSON-RPC message this server reads; everything else is
/// left unparsed.
#[derive(Debug, Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: Option<CallArguments<'a>>,
}

#[derive(Debug, Deserialize)]
struct CallArguments<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct InitializeParams<'a> {
    #[serde(borrow, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
}

async fn mcp_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Message<'_>>(&body) else {
        return error_reply(
            &state,
            StatusCode::BAD_REQUEST,
            "null",
            -32700,
            "Parse error",
        );
    };
    let (Some(method), Some(id)) = (message.method.as_deref(), message.id) else {
        // Notifications and responses.
        return StatusCode::ACCEPTED.into_response();
    };
    let id = id.get();
    let upstream = &state.upstream;
    if method == "initialize" {
        let requested = message
            .params
            .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok())
            .and_then(|p| p.protocol_version.map(Cow::into_owned));
        let version = requested
            .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
            .unwrap_or_else(|| "2025-06-18".to_owned());
        let session = upstream.open_session();
        let result = format!(
            r#"{{"protocolVersion":"{version}","capabilities":{{"tools":{{"listChanged":true}}}},"serverInfo":{{"name":"{}","version":"{}"}}}}"#,
            upstream.name,
            env!("CARGO_PKG_VERSION")
        );
        let mut response = reply(&state, StatusCode::OK, id, "result", result.as_bytes());
        if let Ok(value) = HeaderValue::from_str(&session) {
            response.headers_mut().insert(SESSION_ID, value);
        }
        return response;
    }
    match headers.get(SESSION_ID).and_then(|v| v.to_str().ok()) {
        None => {
            return error_reply(
                &state,
                StatusCode::BAD_REQUEST,
                id,
                -32600,
                "Bad Request: Mcp-Session-Id required",
            );
        }
        Some(session) if !upstream.has_session(session) => {
            return error_reply(
                &state,
                StatusCode::NOT_FOUND,
                id,
                -32001,
                "Session not found",
            );
        }
        Some(_) => {}
    }
    match method {
        "tools/call" => call(&state, id, message.params),
        "tools/list" => {
            upstream.tool_lists.fetch_add(1, Ordering::Relaxed);
            let tools = upstream.tools();
            reply(&state, StatusCode::OK, id, "result", &tools.list_result)
        }
        "ping" => reply(&state, StatusCode::OK, id, "result", b"{}"),
        other => error_reply(
            &state,
            StatusCode::OK,
            id,
            -32601,
            &format!("Method not found: {other}"),
        ),
    }
}

fn call(state: &AppState, id: &str, params: Option<&RawValue>) -> Response {
    let upstream = &state.upstream;
    upstream.tool_calls.fetch_add(1, Ordering::Relaxed);
    let Some(params) = params.and_then(|p| serde_json::from_str::<CallParams<'_>>(p.get()).ok())
    else {
        return error_reply(
            state,
            StatusCode::OK,
            id,
            -32602,
            "Invalid params: tools/call needs params.name",
        );
    };
    if !upstream.tools().contains(&params.name) {
        return error_reply(
            state,
            StatusCode::OK,
            id,
            -32602,
            &format!("Unknown tool: {}", params.name),
        );
    }
    let text = params
        .arguments
        .and_then(|a| a.text)
        .map(RawValue::get)
        .filter(|raw| raw.starts_with('"'))
        .unwrap_or(r#""""#);
    // The served-by block lets a benchmark check that a gateway routed the
    // call to the right server under the right (unprefixed) name.
    let served_by = serde_json::to_string(&format!("served-by {} {}", upstream.name, params.name))
        .unwrap_or_default();
    let mut result = Vec::with_capacity(text.len() + served_by.len() + 96);
    result.extend_from_slice(br#"{"content":[{"type":"text","text":"#);
    result.extend_from_slice(text.as_bytes());
    result.extend_from_slice(br#"},{"type":"text","text":"#);
    result.extend_from_slice(served_by.as_bytes());
    result.extend_from_slice(br#"}],"isError":false}"#);
    reply(state, StatusCode::OK, id, "result", &result)
}

/// `{"jsonrpc":"2.0","id":ID,"<member>":VALUE}`, as JSON or one SSE event.
fn reply(state: &AppState, status: StatusCode, id: &str, member: &str, value: &[u8]) -> Response {
    let mut body = Vec::with_capacity(value.len() + id.len() + 64);
    if state.sse {
        body.extend_from_slice(b"event: message\ndata: ");
    }
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    body.extend_from_slice(id.as_bytes());
    body.extend_from_slice(b",\"");
    body.extend_from_slice(member.as_bytes());
    body.extend_from_slice(b"\":");
    body.extend_from_slice(value);
    body.push(b'}');
    let content_type = if state.sse {
        body.extend_from_slice(b"\n\n");
        "text/event-stream"
    } else {
        "application/json"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn error_reply(
    state: &AppState,
    status: StatusCode,
    id: &str,
    code: i64,
    message: &str,
) -> Response {
    let error = serde_json::json!({ "code": code, "message": message }).to_string();
    reply(state, status, id, "error", error.as_bytes())
}

/// `GET /mcp`: the session's stream of server notifications.
async fn mcp_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = headers.get(SESSION_ID).and_then(|v| v.to_str().ok());
    if !session.is_some_and(|s| state.upstream.has_session(s)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let events = BroadcastStream::new(state.upstream.subscribe())
        .map(|_| Ok::<_, Infallible>(Event::default().event("message").data(LIST_CHANGED)));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `DELETE /mcp`: ends a session.
async fn mcp_delete(State(state): State<AppState>, headers: HeaderMap) -> StatusCode {
    let session = headers.get(SESSION_ID).and_then(|v| v.to_str().ok());
    if session.is_some_and(|s| state.upstream.close_session(s)) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn stats(State(state): State<AppState>) -> Json<crate::catalog::Stats> {
    Json(state.upstream.stats())
}

#[derive(Debug, Deserialize)]
struct AddTool {
    add: String,
}

/// `POST /admin/tools?add=NAME`: a new echo tool, announced with
/// `notifications/tools/list_changed`.
async fn add_tool(State(state): State<AppState>, Query(query): Query<AddTool>) -> StatusCode {
    state.upstream.add_tool(&query.add);
    StatusCode::NO_CONTENT
}
