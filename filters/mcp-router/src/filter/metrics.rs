//! Counters the filter reports through the host (Envoy exposes them as
//! `wasmcustom.mcp_router.*` in its stats), and the tool-call counter
//! `mcp_tool_calls_total{server, tool, outcome}`
//! (`router_config::envoy::tool_call_stat`), one stat per label set,
//! defined on first use.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Label sets of the tool-call counter defined per VM at most: they come
/// from the route table (tools the router routes) and a fixed set of
/// outcomes, so this only bounds a very large catalogue.
const MAX_TOOL_CALL_STATS: usize = 8192;

/// Stat ids by server name, outcome, then upstream tool name. Keyed by
/// name, not by the server's index in the table: a new table may order the
/// servers differently while this VM keeps its stats.
type ToolCallStats = HashMap<String, HashMap<&'static str, HashMap<String, u32>>>;

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
    /// Calls sent to the broker to open their upstream session (first
    /// calls, `router_config::FirstCall::Forward`).
    pub first_call_forwarded: Option<u32>,
    pub upstream_session_lost: Option<u32>,
    pub config_loaded: Option<u32>,
    pub config_rejected: Option<u32>,
    /// Calls the policy refused (identity rules, virtual servers).
    pub forbidden: Option<u32>,
    /// Tool-call stat ids by server, outcome, then upstream tool name: a
    /// lookup allocates nothing.
    tool_calls: RefCell<ToolCallStats>,
    defined: std::cell::Cell<usize>,
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
            first_call_forwarded: counter("first_call_forwarded"),
            upstream_session_lost: counter("upstream_session_lost"),
            config_loaded: counter("config_loaded"),
            config_rejected: counter("config_rejected"),
            forbidden: counter("requests_forbidden"),
            tool_calls: RefCell::default(),
            defined: std::cell::Cell::new(0),
        }
    }

    /// Counts one tool call of `tool` (its upstream name) on `server` with
    /// `outcome` (`router_config::envoy::call_outcome`).
    pub fn tool_call(&self, server: &str, tool: &str, outcome: &'static str) {
        let Ok(mut ids) = self.tool_calls.try_borrow_mut() else {
            return;
        };
        if !ids.contains_key(server) {
            ids.insert(server.to_owned(), HashMap::new());
        }
        let Some(by_outcome) = ids.get_mut(server) else {
            return;
        };
        let by_tool = by_outcome.entry(outcome).or_default();
        let id = match by_tool.get(tool) {
            Some(id) => *id,
            None if self.defined.get() < MAX_TOOL_CALL_STATS => {
                let name = router_config::envoy::tool_call_stat(server, tool, outcome);
                match hostcalls::define_metric(MetricType::Counter, &name) {
                    Ok(id) => {
                        by_tool.insert(tool.to_owned(), id);
                        self.defined.set(self.defined.get() + 1);
                        id
                    }
                    Err(_) => return,
                }
            }
            None => return,
        };
        let _ = hostcalls::increment_metric(id, 1);
    }

    pub fn inc(id: Option<u32>) {
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }
}
