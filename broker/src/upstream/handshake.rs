//! Opening and closing the upstream session of one gateway session on one
//! upstream: `initialize` then `notifications/initialized` (MCP 2025-11-25,
//! "Lifecycle › Initialization"), declaring what the gateway session's
//! client declared, so the upstream offers through the gateway what it
//! would offer the client directly.

use std::sync::Arc;
use std::time::Duration;

use super::client::{ClientError, Connection};
use super::{Capabilities, UpstreamSpec};

/// An upstream session, as the router uses it (and as the session store
/// keeps it, in JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpstreamSession {
    /// The upstream's `Mcp-Session-Id`; `None` for servers without sessions.
    pub session_id: Option<String>,
    /// The version the upstream agreed to.
    pub protocol_version: String,
    /// What the upstream declared in this session.
    pub capabilities: Capabilities,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("upstream {server:?} did not answer within {timeout:?}")]
    Timeout { server: String, timeout: Duration },
    #[error("upstream {server:?} failed the handshake: {source}")]
    Failed {
        server: String,
        #[source]
        source: ClientError,
    },
}

/// Client identity sent to upstreams.
pub const CLIENT_NAME: &str = "mcp-wasm-gateway";

/// How long closing an upstream session may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Performs the handshake, asking for `protocol_version` (the gateway
/// session's) and declaring `capabilities` (the gateway session's client's);
/// then, if the client set a logging level (`log_level`) and the upstream
/// offers logging, `logging/setLevel`, so the level is in force before the
/// first routed call.
///
/// # Errors
/// [`HandshakeError`] when the upstream cannot be reached, refuses, or does
/// not answer within `timeout`. A refused `logging/setLevel` is only logged.
pub async fn open(
    http: &reqwest::Client,
    spec: &Arc<UpstreamSpec>,
    protocol_version: &str,
    capabilities: serde_json::Value,
    log_level: Option<String>,
    timeout: Duration,
) -> Result<UpstreamSession, HandshakeError> {
    let opening = async {
        let connection =
            Connection::open(http, spec.clone(), protocol_version, capabilities).await?;
        let declared = Capabilities::of_initialize_result(connection.initialize_result.get());
        if let Some(level) = log_level.filter(|_| declared.logging) {
            set_log_level(&connection, &level).await;
        }
        Ok::<_, ClientError>((connection, declared))
    };
    let (opened, capabilities) = tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| HandshakeError::Timeout {
            server: spec.name.clone(),
            timeout,
        })?
        .map_err(|source| HandshakeError::Failed {
            server: spec.name.clone(),
            source,
        })?;
    Ok(UpstreamSession {
        session_id: opened.session_id,
        protocol_version: opened.protocol_version,
        capabilities,
    })
}

/// Sends `logging/setLevel` on `connection`; a refusal is only logged (the
/// level is advice to the upstream, MCP "Logging").
pub async fn set_log_level(connection: &Connection, level: &str) {
    if let Err(error) = connection
        .request(
            mcp_protocol::methods::LOGGING_SET_LEVEL,
            &serde_json::json!({ "level": level }),
        )
        .await
    {
        tracing::warn!(server = %connection.server(), %error, "logging/setLevel refused upstream");
    }
}

/// The connection of an upstream session opened by [`open`].
pub fn connection(
    http: &reqwest::Client,
    spec: &Arc<UpstreamSpec>,
    session: &UpstreamSession,
) -> Connection {
    Connection::resume(
        http,
        spec.clone(),
        session.session_id.clone(),
        session.protocol_version.clone(),
    )
}

/// Ends an upstream session (HTTP DELETE, MCP "Session Management").
/// Failures are only logged: the upstream may already have forgotten it.
pub async fn close(http: &reqwest::Client, spec: &Arc<UpstreamSpec>, session_id: &str) {
    Connection::resume(
        http,
        spec.clone(),
        Some(session_id.to_owned()),
        mcp_protocol::versions::LATEST.to_owned(),
    )
    .close(CLOSE_TIMEOUT)
    .await;
}
