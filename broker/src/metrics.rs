//! The broker's Prometheus metrics (OpenMetrics text at `GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    pub method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabel {
    pub server: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    pub server: String,
    pub result: &'static str,
}

/// Every metric the broker reports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// JSON-RPC messages served on the MCP endpoint, by method.
    pub requests: Family<MethodLabel, Counter>,
    pub sessions_started: Counter,
    pub sessions_ended: Counter,
    /// Upstream `initialize` handshakes made for gateway sessions.
    pub upstream_handshakes: Family<HandshakeLabels, Counter>,
    /// 1 while an upstream is ready, else 0.
    pub upstream_up: Family<ServerLabel, Gauge>,
    /// Tools each upstream offers.
    pub upstream_tools: Family<ServerLabel, Gauge>,
    /// Route table files written for Envoy.
    pub route_table_writes: Counter,
    /// Tool calls that needed approval, by what became of them.
    pub approvals: Family<OutcomeLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcp_broker");
        let requests = Family::default();
        registry.register(
            "requests",
            "JSON-RPC messages served, by method",
            requests.clone(),
        );
        let sessions_started = Counter::default();
        registry.register(
            "sessions_started",
            "Gateway sessions started",
            sessions_started.clone(),
        );
        let sessions_ended = Counter::default();
        registry.register(
            "sessions_ended",
            "Gateway sessions ended by DELETE",
            sessions_ended.clone(),
        );
        let upstream_handshakes = Family::default();
        registry.register(
            "upstream_handshakes",
            "Upstream initialize handshakes for gateway sessions",
            upstream_handshakes.clone(),
        );
        let upstream_up = Family::default();
        registry.register(
            "upstream_up",
            "1 while the upstream is ready",
            upstream_up.clone(),
        );
        let upstream_tools = Family::default();
        registry.register(
            "upstream_tools",
            "Tools the upstream offers",
            upstream_tools.clone(),
        );
        let route_table_writes = Counter::default();
        registry.register(
            "route_table_writes",
            "Route tables written for the local Envoy",
            route_table_writes.clone(),
        );
        let approvals = Family::default();
        registry.register(
            "approvals",
            "Tool calls that needed the caller's approval, by outcome (approved, declined, cancelled, unavailable)",
            approvals.clone(),
        );
        Metrics {
            approvals,
            registry,
            requests,
            sessions_started,
            sessions_ended,
            upstream_handshakes,
            upstream_up,
            upstream_tools,
            route_table_writes,
        }
    }

    /// Counts one approval decision (`approved`, `declined`, `cancelled`,
    /// `unavailable`: a fixed set, so clients cannot grow the family).
    pub fn count_approval(&self, outcome: &str) {
        self.approvals
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn count_request(&self, method: &str) {
        // Unknown methods share one label, so clients cannot grow the family.
        let known = matches!(
            method,
            "initialize"
                | "ping"
                | "tools/list"
                | "tools/call"
                | "response"
                | "server/discover"
                | "notifications/initialized"
                | "notifications/cancelled"
                | "notifications/progress"
                | "notifications/roots/list_changed"
        );
        let method = if known { method } else { "other" };
        self.requests
            .get_or_create(&MethodLabel {
                method: method.to_owned(),
            })
            .inc();
    }

    /// The metrics in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
