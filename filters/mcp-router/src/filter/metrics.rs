//! Counters the filter reports through the host (Envoy exposes them as
//! `wasmcustom.mcp_router.*` in its stats).

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// One counter per outcome; `None` where the host refused to define one
/// (increments of those are skipped).
#[derive(Debug, Default)]
pub struct Metrics {
    pub routed: Option<u32>,
    pub to_broker: Option<u32>,
    pub rejected: Option<u32>,
    pub session_cache_hit: Option<u32>,
    pub session_cache_miss: Option<u32>,
    pub session_api_error: Option<u32>,
    pub upstream_session_lost: Option<u32>,
    pub config_loaded: Option<u32>,
    pub config_rejected: Option<u32>,
}

impl Metrics {
    pub fn define() -> Self {
        let counter = |name: &str| {
            hostcalls::define_metric(MetricType::Counter, &format!("mcp_router.{name}")).ok()
        };
        Metrics {
            routed: counter("requests_routed"),
            to_broker: counter("requests_to_broker"),
            rejected: counter("requests_rejected"),
            session_cache_hit: counter("session_cache_hit"),
            session_cache_miss: counter("session_cache_miss"),
            session_api_error: counter("session_api_error"),
            upstream_session_lost: counter("upstream_session_lost"),
            config_loaded: counter("config_loaded"),
            config_rejected: counter("config_rejected"),
        }
    }

    pub fn inc(id: Option<u32>) {
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }
}
