//! One POST to an upstream and its answer as a stream of JSON-RPC
//! messages, whatever the upstream chose: a JSON body (one message), an
//! event stream (notifications and requests, then the response), or
//! nothing (`202` to a notification). On `reqwest` for HTTP and
//! `sse-stream` for event streams; messages are kept as the upstream wrote
//! them.
//!
//! A stateless-era request (MCP 2026-07-28) carries its metadata headers
//! (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) and no session.

use futures::StreamExt;
use futures::stream::BoxStream;
use mcp_protocol::{headers, modern};
use serde_json::value::RawValue;
use sse_stream::SseStream;

use super::UpstreamSpec;
use super::client::ClientError;

/// The request metadata headers of a stateless-era request.
#[derive(Debug, Clone, Copy)]
pub struct ModernHeaders<'a> {
    pub method: &'a str,
    /// `Mcp-Name`'s value (encoded here when it must be).
    pub name: Option<&'a str>,
}

/// What is sent.
#[derive(Debug)]
pub struct Post<'a> {
    /// The upstream session (handshake era).
    pub session: Option<&'a str>,
    /// `MCP-Protocol-Version`.
    pub version: Option<&'a str>,
    pub modern: Option<ModernHeaders<'a>>,
    pub body: Vec<u8>,
}

/// The upstream's answer.
pub struct Answer {
    pub status: u16,
    /// `Mcp-Session-Id` of the answer (an `initialize`'s).
    pub session_id: Option<String>,
    /// Its JSON-RPC messages, in order, as sent.
    pub messages: BoxStream<'static, Result<String, ClientError>>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

fn transport(error: reqwest::Error) -> ClientError {
    ClientError::Transport(error.to_string())
}

/// Sends one POST. A non-2xx answer is returned like any other (a
/// stateless-era upstream answers refusals `400`/`404` with a JSON-RPC
/// error body); only a transport failure is an error.
///
/// # Errors
/// [`ClientError::Transport`] when the upstream cannot be reached.
pub async fn send(
    http: &reqwest::Client,
    spec: &UpstreamSpec,
    post: Post<'_>,
) -> Result<Answer, ClientError> {
    let mut request = http
        .post(spec.url.as_str())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(post.body);
    if let Some(session) = post.session {
        request = request.header(headers::SESSION_ID, session);
    }
    if let Some(version) = post.version {
        request = request.header(headers::PROTOCOL_VERSION, version);
    }
    if let Some(meta) = post.modern {
        request = request.header(modern::MCP_METHOD, meta.method);
        if let Some(name) = meta.name {
            request = request.header(modern::MCP_NAME, modern::encode_header_value(name).as_ref());
        }
    }
    if let Some(authorization) = &spec.authorization {
        request = request.header(headers::AUTHORIZATION, authorization);
    }
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let session_id = response
        .headers()
        .get(headers::SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_stream = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let messages = if is_stream {
        SseStream::from_bytes_stream(response.bytes_stream())
            .filter_map(|event| {
                std::future::ready(match event {
                    Ok(event) => event.data.filter(|d| !d.trim().is_empty()).map(Ok),
                    Err(error) => Some(Err(ClientError::Transport(error.to_string()))),
                })
            })
            .boxed()
    } else {
        futures::stream::once(async move {
            let bytes = response.bytes().await.map_err(transport)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        })
        .filter(|text| std::future::ready(text.as_ref().map_or(true, |t| !t.trim().is_empty())))
        .boxed()
    };
    Ok(Answer {
        status,
        session_id,
        messages,
    })
}

/// A JSON-RPC message, read as far as routing an answer needs.
#[derive(Debug, serde::Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub id: Option<Box<RawValue>>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
    #[serde(default)]
    pub error: Option<ErrorObject>,
}

#[derive(Debug, serde::Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

impl Envelope {
    /// Reads a message; `None` when it is not a JSON-RPC object.
    pub fn read(text: &str) -> Option<Envelope> {
        serde_json::from_str(text).ok()
    }

    /// Whether it is the response to the request `id` (JSON text).
    pub fn answers(&self, id: &str) -> bool {
        self.method.is_none() && self.id.as_deref().map(RawValue::get) == Some(id)
    }
}

/// A request the gateway writes itself: `params` as given, with the
/// stateless era's `_meta` (protocol version, client capabilities, the
/// gateway as client) when `modern` is set.
pub fn message(
    id: Option<&str>,
    method: &str,
    params: &serde_json::Value,
    modern: Option<&str>,
) -> Vec<u8> {
    let mut message = serde_json::json!({ "jsonrpc": "2.0", "method": method });
    if let Some(id) = id.and_then(|id| serde_json::from_str::<serde_json::Value>(id).ok()) {
        message["id"] = id;
    }
    let mut params = params.clone();
    if let Some(version) = modern {
        if !params.is_object() {
            params = serde_json::json!({});
        }
        params["_meta"] = request_meta(version, &serde_json::json!({}));
    }
    if !params.is_null() {
        message["params"] = params;
    }
    serde_json::to_vec(&message).unwrap_or_default()
}

/// The `_meta` of a stateless-era request the gateway sends.
pub fn request_meta(version: &str, capabilities: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        modern::META_PROTOCOL_VERSION: version,
        modern::META_CLIENT_CAPABILITIES: capabilities,
        modern::META_CLIENT_INFO: {
            "name": super::handshake::CLIENT_NAME,
            "version": env!("CARGO_PKG_VERSION")
        }
    })
}
