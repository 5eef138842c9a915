//! `limits`: the bounds of the gateway, each defined once here and
//! applied by the router (through the route table), the local Envoy
//! (through its bootstrap) and the broker.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest MCP POST body, in bytes, for the router and the broker.
    /// Default 4 MiB.
    #[serde(default = "default_max_body")]
    pub max_request_body_bytes: u32,
    /// Timeout of the router's session API call, in milliseconds; it covers
    /// an upstream `initialize` handshake. Default 10000.
    #[serde(default = "default_session_api_timeout")]
    pub session_api_timeout_ms: u32,
    /// Upstream sessions the broker holds at most, over all gateway
    /// sessions; beyond, new ones are refused (the call gets a JSON-RPC
    /// error) until some end or idle out. Default 10000.
    #[serde(default = "default_max_upstream_sessions")]
    pub max_upstream_sessions: usize,
    /// An upstream session nobody used for this long is closed. Default
    /// 1800 (30 min).
    #[serde(default = "default_upstream_idle")]
    pub upstream_session_idle_seconds: u64,
    /// Upstream handshakes one gateway session may cause on one server per
    /// minute (first use and resets after a lost session). Default 6.
    #[serde(default = "default_handshakes_per_minute")]
    pub handshakes_per_session_per_minute: u32,
    /// Seconds the router uses a cached upstream session before asking the
    /// broker again (it re-checks the gateway session and keeps the
    /// upstream session from idling out). Default 60; less than half of
    /// `upstreamSessionIdleSeconds`.
    #[serde(default = "default_revalidate")]
    pub session_revalidate_seconds: u32,
    /// Slots of the router's session cache in each Envoy's shared data
    /// (bounded memory: about 300 bytes a slot at most). Default 16384.
    #[serde(default = "default_cache_slots")]
    pub session_cache_slots: u32,
    /// `initialize` requests the local Envoy accepts per second, over all
    /// clients (burst: twice that). Default 50.
    #[serde(default = "default_initialize_rate")]
    pub initialize_per_second: u32,
    /// Time a client has to send its request headers, seconds (local Envoy
    /// and broker). Default 10.
    #[serde(default = "default_headers_timeout")]
    pub request_headers_timeout_seconds: u64,
    /// Time a client has to send a whole request, seconds (it does not bound
    /// responses: SSE streams stay open). Default 60.
    #[serde(default = "default_request_timeout_total")]
    pub request_timeout_seconds: u64,
    /// Client connections the local Envoy (and the broker) accept at once.
    /// Default 1024.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_body_bytes: default_max_body(),
            session_api_timeout_ms: default_session_api_timeout(),
            max_upstream_sessions: default_max_upstream_sessions(),
            upstream_session_idle_seconds: default_upstream_idle(),
            handshakes_per_session_per_minute: default_handshakes_per_minute(),
            session_revalidate_seconds: default_revalidate(),
            session_cache_slots: default_cache_slots(),
            initialize_per_second: default_initialize_rate(),
            request_headers_timeout_seconds: default_headers_timeout(),
            request_timeout_seconds: default_request_timeout_total(),
            max_connections: default_max_connections(),
        }
    }
}

impl LimitsConfig {
    pub fn upstream_session_idle(&self) -> Duration {
        Duration::from_secs(self.upstream_session_idle_seconds.max(1))
    }

    pub fn request_headers_timeout(&self) -> Duration {
        Duration::from_secs(self.request_headers_timeout_seconds.max(1))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds.max(1))
    }
}

fn default_max_body() -> u32 {
    4 * 1024 * 1024
}
fn default_session_api_timeout() -> u32 {
    router_config::session_api::DEFAULT_TIMEOUT_MS
}
fn default_max_upstream_sessions() -> usize {
    10_000
}
fn default_upstream_idle() -> u64 {
    1_800
}
fn default_handshakes_per_minute() -> u32 {
    6
}
fn default_revalidate() -> u32 {
    60
}
fn default_cache_slots() -> u32 {
    16_384
}
fn default_initialize_rate() -> u32 {
    50
}
fn default_headers_timeout() -> u64 {
    10
}
fn default_request_timeout_total() -> u64 {
    60
}
fn default_max_connections() -> u32 {
    1_024
}
