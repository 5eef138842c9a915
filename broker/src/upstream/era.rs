//! Which MCP era discovery speaks to an upstream, and the stateless era's
//! replacement for the session GET stream.
//!
//! `auto` (the default) asks `server/discover` at 2026-07-28 first, as the
//! official SDKs' dual-era clients do (MCP 2026-07-28, "Versioning ›
//! Backward Compatibility"): an upstream that answers it speaks the
//! stateless era; one that also completes `initialize` speaks both, and
//! clients of either era are routed to it directly (discovery then lists
//! and watches it over its handshake-era session). Anything else is
//! handshake-era.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use mcp_protocol::{modern, versions};
use router_config::ServerEra;

use super::UpstreamSpec;
use super::client::{ClientError, Connection};
use super::discovery::{DiscoveryTiming, discovery_capabilities};
use super::wire::{self, ModernHeaders};
use crate::config::EraChoice;

/// Connects for discovery: the connection it lists with (stateless where
/// the upstream speaks it) and the eras the upstream speaks.
///
/// # Errors
/// Why no era worked, for `/status`.
pub async fn connect(
    http: &reqwest::Client,
    spec: &Arc<UpstreamSpec>,
    timing: &DiscoveryTiming,
) -> Result<(Connection, ServerEra), String> {
    let discover = || async {
        tokio::time::timeout(
            timing.request_timeout,
            Connection::discover(http, spec.clone(), versions::LATEST_MODERN),
        )
        .await
        .map_err(|_| {
            format!(
                "server/discover timed out after {:?}",
                timing.request_timeout
            )
        })?
        .map_err(|e| format!("server/discover failed: {e}"))
    };
    let initialize = || async {
        let connection = tokio::time::timeout(
            timing.request_timeout,
            Connection::open(
                http,
                spec.clone(),
                versions::LATEST,
                discovery_capabilities(),
            ),
        )
        .await
        .map_err(|_| format!("initialize timed out after {:?}", timing.request_timeout))?
        .map_err(|e| format!("initialize failed: {e}"))?;
        if connection.protocol_version.as_str() < timing.min_protocol_version.as_str() {
            let error = format!(
                "it speaks MCP {}, older than the minimum {} (discovery.minProtocolVersion)",
                connection.protocol_version, timing.min_protocol_version
            );
            connection.close(std::time::Duration::from_secs(2)).await;
            return Err(error);
        }
        Ok(connection)
    };
    match spec.era {
        EraChoice::Modern => discover().await.map(|c| (c, ServerEra::Modern)),
        EraChoice::Handshake => initialize().await.map(|c| (c, ServerEra::Handshake)),
        // A server of both eras is watched over its handshake-era session:
        // servers wire list changes to the sessions they hold more often
        // than to `subscriptions/listen` streams (rmcp's do).
        EraChoice::Auto => match discover().await {
            Ok(modern) => match initialize().await {
                Ok(handshake) => Ok((handshake, ServerEra::Both)),
                Err(_) => Ok((modern, ServerEra::Modern)),
            },
            Err(_) => initialize().await.map(|c| (c, ServerEra::Handshake)),
        },
    }
}

/// A stateless-era upstream's `subscriptions/listen` stream for every
/// list it offers (MCP 2026-07-28, "Subscriptions"): the messages it
/// sends, as sent; `None` when it cannot be opened.
///
/// # Errors
/// [`ClientError`] when the upstream cannot be reached.
pub async fn listen_for_lists(
    connection: &Connection,
) -> Result<Option<BoxStream<'static, String>>, ClientError> {
    let params = serde_json::json!({
        "notifications": {
            "toolsListChanged": true,
            "promptsListChanged": true,
            "resourcesListChanged": true
        }
    });
    let body = wire::message(
        Some("\"mcpgw-discovery\""),
        modern::SUBSCRIPTIONS_LISTEN,
        &params,
        Some(&connection.protocol_version),
    );
    let answer = connection
        .send_raw(
            Some(ModernHeaders {
                method: modern::SUBSCRIPTIONS_LISTEN,
                name: None,
            }),
            body,
        )
        .await?;
    if !(200..300).contains(&answer.status) {
        return Ok(None);
    }
    Ok(Some(
        answer
            .messages
            .take_while(|m| std::future::ready(m.is_ok()))
            .filter_map(|m| std::future::ready(m.ok()))
            .boxed(),
    ))
}
