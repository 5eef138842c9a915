//! Opening and closing the upstream session of one gateway session on one
//! upstream: `initialize` then `notifications/initialized` (MCP 2025-11-25,
//! "Lifecycle › Initialization"), over rmcp's Streamable HTTP client, which
//! reads both JSON and SSE answers.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpPostResponse};

use super::UpstreamSpec;

/// An upstream session, as the router uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSession {
    /// The upstream's `Mcp-Session-Id`; `None` for servers without sessions.
    pub session_id: Option<String>,
    /// The version the upstream agreed to.
    pub protocol_version: String,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("upstream {server:?} did not answer within {timeout:?}")]
    Timeout { server: String, timeout: Duration },
    #[error("upstream {server:?} failed the handshake: {detail}")]
    Failed { server: String, detail: String },
    #[error("upstream {server:?} refused initialize: {message}")]
    Refused { server: String, message: String },
}

/// Client identity sent to upstreams.
pub const CLIENT_NAME: &str = "mcp-wasm-gateway";

/// Performs the handshake, asking for `protocol_version` (the gateway
/// session's). The gateway declares no client capabilities: it does not
/// relay sampling, elicitation or roots requests.
///
/// # Errors
/// [`HandshakeError`] when the upstream cannot be reached, answers with an
/// error, or does not answer within `timeout`.
pub async fn open(
    http: &reqwest::Client,
    spec: &UpstreamSpec,
    protocol_version: &str,
    timeout: Duration,
) -> Result<UpstreamSession, HandshakeError> {
    tokio::time::timeout(timeout, open_inner(http, spec, protocol_version))
        .await
        .map_err(|_| HandshakeError::Timeout {
            server: spec.name.clone(),
            timeout,
        })?
}

async fn open_inner(
    http: &reqwest::Client,
    spec: &UpstreamSpec,
    protocol_version: &str,
) -> Result<UpstreamSession, HandshakeError> {
    let failed = |detail: String| HandshakeError::Failed {
        server: spec.name.clone(),
        detail,
    };
    let uri: Arc<str> = Arc::from(spec.url.as_str());
    let initialize = message(serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": { "name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION") }
        }
    }))
    .map_err(&failed)?;
    let response = http
        .post_message(uri.clone(), initialize, None, None, spec.headers())
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (reply, session_id) = response
        .expect_initialized::<reqwest::Error>()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let reply = serde_json::to_value(&reply).map_err(|e| failed(e.to_string()))?;
    if let Some(error) = reply.get("error") {
        return Err(HandshakeError::Refused {
            server: spec.name.clone(),
            message: error
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("no message")
                .to_owned(),
        });
    }
    let agreed = reply
        .pointer("/result/protocolVersion")
        .and_then(|v| v.as_str())
        .ok_or_else(|| failed("initialize result has no protocolVersion".to_owned()))?
        .to_owned();
    if let Some(id) = &session_id
        && !mcp_protocol::session_id::is_valid(id.as_bytes())
    {
        return Err(failed(format!("session id {id:?} is not visible ASCII")));
    }

    let initialized = message(serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/initialized"
    }))
    .map_err(&failed)?;
    let mut headers = spec.headers();
    if let Ok(value) = http::HeaderValue::from_str(&agreed) {
        headers.insert(
            http::HeaderName::from_static(mcp_protocol::headers::PROTOCOL_VERSION),
            value,
        );
    }
    http.post_message(
        uri,
        initialized,
        session_id.as_deref().map(Arc::from),
        None,
        headers,
    )
    .await
    .and_then(StreamableHttpPostResponse::expect_accepted_or_json::<reqwest::Error>)
    .map_err(|e| failed(format!("notifications/initialized: {e}")))?;
    Ok(UpstreamSession {
        session_id,
        protocol_version: agreed,
    })
}

/// Ends an upstream session (HTTP DELETE, MCP "Session Management").
/// Failures are only logged: the upstream may already have forgotten it.
pub async fn close(http: &reqwest::Client, spec: &UpstreamSpec, session_id: &str) {
    let result = http
        .delete_session(
            Arc::from(spec.url.as_str()),
            Arc::from(session_id),
            None,
            spec.headers(),
        )
        .await;
    if let Err(error) = result {
        tracing::debug!(server = %spec.name, %error, "upstream session DELETE failed");
    }
}

fn message(value: serde_json::Value) -> Result<ClientJsonRpcMessage, String> {
    serde_json::from_value(value).map_err(|e| format!("building a JSON-RPC message: {e}"))
}
