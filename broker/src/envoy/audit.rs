//! The local Envoy's audit line: one JSON access-log object per request,
//! MCP requests labelled by the router's headers and filter state.
//!
//! | field | from |
//! |---|---|
//! | `time`, `method`, `path`, `status`, `duration_ms` | Envoy (`duration_ms`: first byte in to last byte out) |
//! | `mcp_method`, `server`, `tool`, `prompt`, `resource` | the router's `x-mcp-*` headers |
//! | `virtual_server` | the virtual server the request went through |
//! | `identity` | the verified identity header (absent without one) |
//! | `session` | the gateway session's log tag (its random start, never the credential) |
//! | `refusal` | why the router answered itself (`Refusal::label`), `-` otherwise |
//! | `upstream`, `response_flags` | where Envoy sent it, and what went wrong there |

use mcp_protocol::headers;
use router_config::envoy::audit;
use serde_json::{Value, json};

use crate::config::GatewayConfig;

/// The `json_format` object.
pub fn access_log_format(config: &GatewayConfig) -> Value {
    let header = |name: &str| format!("%REQ({})%", name.to_ascii_uppercase());
    let mut format = json!({
        "time": "%START_TIME%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "status": "%RESPONSE_CODE%",
        "mcp_method": header(headers::X_MCP_METHOD),
        "server": header(headers::X_MCP_SERVERNAME),
        "tool": header(headers::X_MCP_TOOLNAME),
        "prompt": header(headers::X_MCP_PROMPTNAME),
        "resource": header(headers::X_MCP_RESOURCEURI),
        "virtual_server": header(headers::X_MCP_VIRTUALSERVER),
        "session": audit::log_operator(audit::SESSION),
        "refusal": audit::log_operator(audit::OUTCOME),
        "upstream": "%UPSTREAM_HOST%",
        "response_flags": "%RESPONSE_FLAGS%",
        "duration_ms": "%DURATION%",
    });
    if let Some(identity) = config.identity_header() {
        format["identity"] = json!(header(identity));
    }
    format
}
