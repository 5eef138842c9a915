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
