//! The broker's upstream-session API: the one call the router makes.
//!
//! `POST {BrokerRoute::session_path}` with header `x-mcp-gateway-session:
//! <gateway session id>`, the client's identity headers (`authorization`,
//! and the configured identity header, as the client's request carried
//! them: see `mcp_protocol::identity`) and body [`UpstreamSessionRequest`].
//! Envoy adds `x-mcp-gateway-token` on the way (the broker refuses calls
//! without it). The broker validates the gateway session (signature,
//! expiry, end, identity binding), performs the upstream `initialize` +
//! `notifications/initialized` handshake once per (gateway session, server)
//! (concurrent first calls share it) and answers:
//!
//! | status | body | meaning |
//! |---|---|---|
//! | 200 | [`UpstreamSessionResponse`] | use this upstream session |
//! | 400 | JSON-RPC error | malformed call (router bug) |
//! | 401 | JSON-RPC error | not from the gateway's Envoy (no or wrong gateway token) |
//! | 403 | JSON-RPC error | the gateway session belongs to another identity |
//! | 404 | JSON-RPC error | gateway session unknown, expired or ended |
//! | 429 | JSON-RPC error | too many upstream handshakes for this session |
//! | 502 | JSON-RPC error | the upstream handshake failed or the server is unknown/down |
//! | 503 | JSON-RPC error | the broker holds as many upstream sessions as it may |
//!
//! ## The first call
//!
//! With [`crate::FirstCall::Forward`] (the default) the router makes no
//! session API call. A routed call it has no upstream session for goes on
//! to the broker instead, as the client sent it but for the routed call's
//! changes (upstream name spliced in, `x-mcp-servername` naming the
//! upstream) and with `x-mcp-first-call: <stale upstream session id, or
//! "-">`; the client's credential headers stay on it, as on a session API
//! call. The broker makes the same checks and handshake as above, then
//! forwards the call to the upstream on that session and answers with the
//! upstream's response, status and body as the upstream sent them, plus
//! `x-mcp-upstream-session: <UpstreamSessionResponse JSON>`. The router
//! caches that record, removes the header and handles the response as it
//! does a routed call's. A refusal the broker makes itself (the table
//! above, as a JSON-RPC error) carries no `x-mcp-upstream-session`, and
//! reaches the client as it is; its `404` also marks the session ended in
//! the router's cache.

use serde::{Deserialize, Serialize};

/// Where the broker serves the session API (the default of
/// [`crate::BrokerRoute::session_path`]).
pub const PATH: &str = "/v1/upstream-sessions";

/// Where the router reports the route table it loaded (`POST`, body
/// [`TableLoaded`]): the broker announces a changed catalogue
/// (`list_changed`) once a proxy can route it.
pub const TABLE_LOADED_PATH: &str = "/v1/route-tables/loaded";

/// Body of a [`TABLE_LOADED_PATH`] call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLoaded {
    /// `RouterConfig::id` of the table now in force.
    pub id: String,
}

/// How long the router waits for one session API call, milliseconds (the
/// default of [`crate::BrokerRoute::timeout_ms`]); it covers an upstream
/// handshake.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

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
    /// When the gateway session expires, Unix seconds: the router stops
    /// using the cached session then, whatever else it knows.
    #[serde(default)]
    pub expires_at: u64,
    /// `Authorization` value to send to this upstream (the server's
    /// configured credential), if any, where Envoy does not inject it
    /// itself (the local Envoy does, from its own secret, and the broker
    /// then leaves this out). Credentials never travel in the route table,
    /// so they never appear in plugin configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
}
