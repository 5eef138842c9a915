//! What a gateway session's client sends that concerns every upstream
//! session of it: `logging/setLevel` (MCP 2025-11-25, "Logging"), and the
//! notifications `notifications/cancelled` and
//! `notifications/roots/list_changed`.
//!
//! Cancellation fans out: the router forwards a request to its upstream
//! with the client's id unchanged, but keeps no record of which upstream
//! runs it, so `notifications/cancelled` goes to every upstream session of
//! the gateway session. The one running the request stops it; the others
//! do not know the id and ignore it, as MCP "Cancellation" requires of
//! receivers of unknown ids.

use std::sync::Arc;

use mcp_protocol::methods;
use mcp_protocol::refusal::Refusal;

use crate::session_token::SessionClaims;
use crate::state::AppState;
use crate::upstream::handshake;

/// The levels of MCP "Logging" (RFC 5424 severities).
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Relays a client notification to the upstream sessions that need it, in
/// the background, as the client wrote it.
pub fn relay_notification(state: Arc<AppState>, gateway: &str, method: &str, body: &[u8]) {
    if method != methods::NOTIFICATION_CANCELLED
        && method != methods::NOTIFICATION_ROOTS_LIST_CHANGED
    {
        return;
    }
    let (gateway, method, body) = (gateway.to_owned(), method.to_owned(), body.to_vec());
    tokio::spawn(async move {
        let sessions = match state.sessions.upstream_sessions_of(&gateway).await {
            Ok(sessions) => sessions,
            Err(error) => {
                tracing::warn!(%error, method, "notification not relayed");
                return;
            }
        };
        let runtime = state.runtime.load_full();
        for (server, session) in sessions {
            let Some(spec) = runtime.spec(&server).cloned() else {
                continue;
            };
            let connection = handshake::connection(&state.http, &spec, &session);
            let (body, method) = (body.clone(), method.clone());
            tokio::spawn(async move {
                if let Err(error) = connection.notify_raw(body).await {
                    tracing::debug!(server = %spec.name, %error, method, "notification not relayed");
                }
            });
        }
    });
}

/// `logging/setLevel`: checks the level, keeps it for upstream sessions
/// opened later, and sets it on every upstream session that offers
/// logging; returns once they answered (or the handshake timeout passed).
///
/// # Errors
/// [`Refusal::InvalidParams`] for a missing or unknown level.
pub async fn set_log_level(
    state: &AppState,
    gateway: &str,
    claims: &SessionClaims,
    body: &[u8],
) -> Result<(), Refusal> {
    let level = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/params/level")?.as_str().map(str::to_owned))
        .filter(|level| LOG_LEVELS.contains(&level.as_str()))
        .ok_or_else(|| Refusal::InvalidParams {
            detail: format!("params.level must be one of {}", LOG_LEVELS.join(", ")),
        })?;
    let remaining = claims
        .expires_at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    state
        .sessions
        .set_log_level(gateway, &level, remaining)
        .await?;
    let runtime = state.runtime.load_full();
    let timeout = runtime.handshake_timeout();
    let updates = state
        .sessions
        .upstream_sessions_of(gateway)
        .await?
        .into_iter()
        .filter(|(_, session)| session.capabilities.logging)
        .filter_map(|(server, session)| {
            let spec = runtime.spec(&server)?.clone();
            let connection = handshake::connection(&state.http, &spec, &session);
            let level = level.clone();
            Some(async move { handshake::set_log_level(&connection, &level).await })
        });
    let _ = tokio::time::timeout(timeout, futures::future::join_all(updates)).await;
    tracing::debug!(level, "logging level set");
    Ok(())
}
