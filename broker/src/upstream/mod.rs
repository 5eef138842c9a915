//! Upstream MCP servers: what the broker knows of each one, discovery of
//! their tools ([`discovery`]) and the per-gateway-session handshakes the
//! router's calls ride on ([`handshake`]).

pub mod discovery;
pub mod handshake;

use std::collections::HashMap;
use std::time::SystemTime;

use http::{HeaderName, HeaderValue};
use serde::Serialize;
use url::Url;

use crate::config::ServerConfig;

/// Everything needed to talk to one upstream, resolved from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub name: String,
    pub url: Url,
    pub prefix: String,
    /// Resolved `Authorization` value, if a credential is configured.
    pub authorization: Option<String>,
    pub forward_authorization: bool,
    pub forward_headers: Vec<String>,
    /// How the gateway's Envoy reaches it, where that differs from `url`.
    pub gateway_route: Option<crate::config::GatewayRoute>,
}

impl UpstreamSpec {
    pub fn new(server: &ServerConfig, authorization: Option<String>) -> Self {
        UpstreamSpec {
            name: server.name.clone(),
            url: server.url.clone(),
            prefix: server.prefix.clone(),
            authorization,
            forward_authorization: server.forward_authorization,
            forward_headers: server.forward_headers.clone(),
            gateway_route: server.gateway_route.clone(),
        }
    }

    /// Headers sent with every request to this upstream: its credential.
    pub fn headers(&self) -> HashMap<HeaderName, HeaderValue> {
        let mut headers = HashMap::new();
        if let Some(value) = self
            .authorization
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        headers
    }

    /// The `:authority` the router sets for it: the gateway route's, or
    /// `host:port` of the upstream URL (port always explicit).
    pub fn authority(&self) -> String {
        if let Some(route) = &self.gateway_route {
            return route.authority.clone();
        }
        // `host_str` already brackets IPv6 addresses (`[::1]`).
        let host = self.url.host_str().unwrap_or_default();
        let port = self.url.port_or_known_default().unwrap_or(80);
        format!("{host}:{port}")
    }

    /// The `:path` the router sets: the gateway route's, or the path (and
    /// query) of the upstream URL.
    pub fn path(&self) -> String {
        if let Some(path) = self.gateway_route.as_ref().and_then(|r| r.path.clone()) {
            return path;
        }
        match self.url.query() {
            Some(query) => format!("{}?{query}", self.url.path()),
            None => self.url.path().to_owned(),
        }
    }
}

/// Where discovery stands with one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not reached yet since start or reconfiguration.
    Connecting,
    /// Initialized and listed.
    Ready,
    /// The last attempt failed; its tools are withdrawn until it recovers.
    Down,
}

/// What discovery last learned of one upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamState {
    pub health: Health,
    /// Tool definitions as the upstream sent them (JSON objects), in its order.
    pub tools: Vec<serde_json::Map<String, serde_json::Value>>,
    pub protocol_version: Option<String>,
    pub server_info: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub last_change: SystemTime,
}

impl UpstreamState {
    pub fn connecting() -> Self {
        UpstreamState {
            health: Health::Connecting,
            tools: Vec::new(),
            protocol_version: None,
            server_info: None,
            last_error: None,
            last_change: SystemTime::now(),
        }
    }

    /// The tools' upstream names, in order (entries without a string name
    /// are skipped: they cannot be called).
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.tools
            .iter()
            .filter_map(|tool| tool.get("name").and_then(|n| n.as_str()))
    }
}
