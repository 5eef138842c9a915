//! The broker's upstream-session API: the one call the router makes.
//!
//! `POST {BrokerRoute::session_path}` with header `x-mcp-gateway-session:
//! <gateway session id>` and body [`UpstreamSessionRequest`]. The broker
//! validates the gateway session, performs the upstream `initialize` +
//! `notifications/initialized` handshake once per (gateway session, server)
//! (concurrent first calls share it) and answers:
//!
//! | status | body | meaning |
//! |---|---|---|
//! | 200 | [`UpstreamSessionResponse`] | use this upstream session |
//! | 400 | JSON-RPC error | malformed call (router bug) |
//! | 404 | JSON-RPC error | gateway session unknown, expired or ended |
//! | 502 | JSON-RPC error | the upstream handshake failed or the server is unknown/down |

use serde::{Deserialize, Serialize};

/// Body of a session API call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamSessionRequest {
    /// The upstream server's name, as in [`crate::ServerRoute::name`].
    pub server: String,
    /// An upstream session id the router found invalid (the upstream
    /// answered 404): the broker replaces its mapping if it still holds this
    /// id, and otherwise returns the newer one another caller already made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_session_id: Option<String>,
}

/// A successful session API answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamSessionResponse {
    /// The upstream's `Mcp-Session-Id`; absent for upstreams that run
    /// without sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The protocol version the upstream agreed to in `initialize`; the
    /// router sends it as `MCP-Protocol-Version`.
    pub protocol_version: String,
    /// `Authorization` value to send to this upstream (the server's
    /// configured credential), if any. Credentials travel this way, not in
    /// the route table, so they never appear in plugin configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}
