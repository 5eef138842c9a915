//! The router as Envoy loads it: the `Wasm` filter's plugin configuration
//! (`envoy.extensions.wasm.v3.PluginConfig`), written the same way by the
//! broker (the local Envoy's ECDS file) and the operator (the Istio
//! `EnvoyFilter`), so the settings the router needs live in one place.

use serde_json::{Value, json};

use crate::RouterConfig;

/// The router's filter name, root id and VM id (`proxy_wasm::main!`
/// registers this root).
pub const FILTER_NAME: &str = "mcp_router";

/// Envoy's type URL of the `Wasm` HTTP filter configuration.
pub const WASM_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/// The plugin configuration of the router with `table`, loading the module
/// from `code` (Envoy's `AsyncDataSource`: `{"local": {...}}` or
/// `{"remote": {...}}`).
pub fn plugin_config(code: Value, table: &RouterConfig) -> Value {
    json!({
        "name": FILTER_NAME,
        "root_id": FILTER_NAME,
        // Fail closed: if the VM fails, MCP requests are refused rather
        // than sent unrouted.
        "fail_open": false,
        // The router holds the request headers while it reads the body (it
        // rewrites them from what the body says). Without this, Envoy
        // (proxy-wasm-cpp-host) turns the filter's StopIteration into
        // StopAllIteration and never delivers the body (Envoy >= 1.35).
        "allow_on_headers_stop_iteration": true,
        "vm_config": {
            "vm_id": FILTER_NAME,
            "runtime": "envoy.wasm.runtime.v8",
            "code": code
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": table.to_json()
        }
    })
}

/// The `Wasm` filter's typed configuration: [`plugin_config`] wrapped.
pub fn wasm_filter(code: Value, table: &RouterConfig) -> Value {
    json!({ "@type": WASM_FILTER_TYPE, "config": plugin_config(code, table) })
}

/// The filter-state values the router sets for the access log: Envoy keeps
/// each as `wasm.<name>`, read by `%FILTER_STATE(wasm.<name>:PLAIN)%`.
pub mod audit {
    /// The gateway session's log tag (`mcp_protocol::session_id::log_tag`,
    /// never the whole id), on every MCP request with a session.
    pub const SESSION: &str = "mcp_session";
    /// Why the router answered a request itself (`Refusal::label`).
    pub const OUTCOME: &str = "mcp_outcome";

    /// The access log's operator for `name`.
    pub fn log_operator(name: &str) -> String {
        format!("%FILTER_STATE(wasm.{name}:PLAIN)%")
    }
}

/// The router's tool-call counter, `mcp_tool_calls_total{server, tool,
/// outcome}` in Envoy's Prometheus output (`/stats/prometheus`): the router
/// defines one stat per label set, named by [`tool_call_stat`], and
/// [`stats_tags`] in the bootstrap turns its segments into labels.
pub const TOOL_CALLS: &str = "mcp_tool_calls_total";

/// Envoy's prefix of stats a Wasm filter defines.
const WASM_STAT_PREFIX: &str = "wasmcustom";

/// The stat a tool call is counted in: `mcp_tool_calls_total.server.<s>.tool.<t>.outcome.<o>`,
/// each value with every character outside `A-Z a-z 0-9 _ -` replaced by
/// `_` (a `.` would split it).
pub fn tool_call_stat(server: &str, tool: &str, outcome: &str) -> String {
    format!(
        "{TOOL_CALLS}.server.{}.tool.{}.outcome.{}",
        stat_label(server),
        stat_label(tool),
        stat_label(outcome)
    )
}

fn stat_label(value: &str) -> String {
    let label: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if label.is_empty() {
        "_".to_owned()
    } else {
        label
    }
}

/// The bootstrap's `stats_config.stats_tags` that read [`tool_call_stat`]
/// names as labels. Each regex matches the whole original name; Envoy
/// removes its first capture group (the segment) from the name and takes
/// the second as the label's value.
pub fn stats_tags() -> Value {
    const VALUE: &str = "[A-Za-z0-9_-]+";
    let tag = |name: &str, before: &str| {
        json!({
            "tag_name": name,
            "regex": format!(r"^{WASM_STAT_PREFIX}\.{TOOL_CALLS}{before}(\.{name}\.({VALUE}))")
        })
    };
    json!([
        tag("server", ""),
        tag("tool", &format!(r"\.server\.{VALUE}")),
        tag("outcome", &format!(r"\.server\.{VALUE}\.tool\.{VALUE}")),
    ])
}

/// The outcome label of a routed call from its response's HTTP status:
/// `ok` (2xx: the upstream answered, a JSON-RPC error inside included),
/// `rate_limited` (429), `denied` (401, 403), `unavailable` (502 to 504:
/// the upstream could not be reached), `upstream_error` (other 5xx),
/// `error` (anything else).
pub fn call_outcome(status: u32) -> &'static str {
    match status {
        200..=299 => "ok",
        429 => "rate_limited",
        401 | 403 => "denied",
        502..=504 => "unavailable",
        500..=599 => "upstream_error",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn tool_call_stats_keep_one_label_per_segment() {
        assert_eq!(
            tool_call_stat("weather.eu", "get/forecast", "ok"),
            "mcp_tool_calls_total.server.weather_eu.tool.get_forecast.outcome.ok"
        );
        assert_eq!(
            tool_call_stat("a", "", "ok"),
            "mcp_tool_calls_total.server.a.tool._.outcome.ok"
        );
        let tags = stats_tags();
        assert_eq!(
            tags[1]["regex"],
            r"^wasmcustom\.mcp_tool_calls_total\.server\.[A-Za-z0-9_-]+(\.tool\.([A-Za-z0-9_-]+))"
        );
    }

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(call_outcome(200), "ok");
        assert_eq!(call_outcome(202), "ok");
        assert_eq!(call_outcome(429), "rate_limited");
        assert_eq!(call_outcome(403), "denied");
        assert_eq!(call_outcome(503), "unavailable");
        assert_eq!(call_outcome(500), "upstream_error");
        assert_eq!(call_outcome(404), "error");
        assert_eq!(call_outcome(0), "error");
    }
}
