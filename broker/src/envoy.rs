//! The local Envoy: its bootstrap (rendered from
//! `wasm-plugins/envoy/envoy.yaml`) and the ECDS file through which it loads
//! the router filter with the current route table.

use std::io::Write;
use std::path::Path;

use router_config::RouterConfig;
use url::Url;

use crate::config::{EnvoyConfig, GatewayConfig};

/// Cluster of upstreams reached over plain HTTP (dynamic forward proxy).
pub const UPSTREAM_CLUSTER: &str = "mcp_upstream";
/// Cluster of upstreams reached over HTTPS (dynamic forward proxy).
pub const UPSTREAM_TLS_CLUSTER: &str = "mcp_upstream_tls";
/// Name of the router filter, its root id and VM id.
pub const FILTER_NAME: &str = "mcp_router";

const BOOTSTRAP_TEMPLATE: &str = include_str!("../../wasm-plugins/envoy/envoy.yaml");

/// The local cluster for an upstream URL.
pub fn local_upstream_cluster(url: &Url) -> &'static str {
    if url.scheme() == "https" {
        UPSTREAM_TLS_CLUSTER
    } else {
        UPSTREAM_CLUSTER
    }
}

/// The bootstrap could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the configuration has no `envoy` section: nothing to render")]
    NoEnvoySection,
    #[error("the template has placeholders with no value: {0}")]
    Unfilled(String),
}

/// Renders the Envoy bootstrap for `config`.
///
/// # Errors
/// [`BootstrapError`] when the configuration has no `envoy` section or the
/// template names a placeholder this function does not fill.
pub fn render_bootstrap(config: &GatewayConfig) -> Result<String, BootstrapError> {
    let envoy = config
        .envoy
        .as_ref()
        .ok_or(BootstrapError::NoEnvoySection)?;
    // A bare file name's parent is "", which Envoy refuses as a watched
    // directory: that file lives in the current directory.
    let route_table_dir = match envoy.route_table_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
    .display()
    .to_string();
    // Envoy must buffer a little more than the router's limit, so the router
    // sees an oversized body and answers it.
    let buffer_limit = u64::from(config.limits.max_request_body_bytes) + 1024 * 1024;
    let values = [
        ("admin_address", envoy.admin_listen.ip().to_string()),
        ("admin_port", envoy.admin_listen.port().to_string()),
        ("gateway_address", envoy.listen.ip().to_string()),
        ("gateway_port", envoy.listen.port().to_string()),
        ("broker_address", config.listen.ip().to_string()),
        ("broker_port", config.listen.port().to_string()),
        ("broker_cluster", envoy.broker_cluster.clone()),
        ("buffer_limit_bytes", buffer_limit.to_string()),
        ("mcp_path", config.mcp_path.clone()),
        (
            "route_table_file",
            envoy.route_table_file.display().to_string(),
        ),
        ("route_table_dir", route_table_dir),
    ];
    let mut text = BOOTSTRAP_TEMPLATE.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), &value);
    }
    let unfilled: Vec<&str> = text
        .match_indices("{{")
        .filter_map(|(i, _)| text[i..].split_once("}}").map(|(p, _)| &p[2..]))
        .collect();
    if !unfilled.is_empty() {
        return Err(BootstrapError::Unfilled(unfilled.join(", ")));
    }
    Ok(text)
}

/// The ECDS document carrying the router filter with `route_table`: a
/// `TypedExtensionConfig` named `mcp_router` holding an Envoy `Wasm` filter
/// configuration (V8 runtime, the local `.wasm`, the table as a string).
pub fn ecds_document(envoy: &EnvoyConfig, route_table: &RouterConfig) -> serde_json::Value {
    serde_json::json!({
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": FILTER_NAME,
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": FILTER_NAME,
                    "root_id": FILTER_NAME,
                    // Fail closed: if the VM fails, MCP requests are refused
                    // rather than sent unrouted.
                    "fail_open": false,
                    // The router holds the request headers while it reads
                    // the body (it rewrites them from what the body says).
                    // Without this, Envoy (proxy-wasm-cpp-host) turns the
                    // filter's StopIteration into StopAllIteration and never
                    // delivers the body to it (Envoy >= 1.35).
                    "allow_on_headers_stop_iteration": true,
                    "vm_config": {
                        "vm_id": FILTER_NAME,
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": { "local": { "filename": envoy.wasm_file.display().to_string() } }
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": route_table.to_json()
                    }
                }
            }
        }]
    })
}

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory renamed over the target, which is the move Envoy's
/// `watched_directory` reacts to. Returns `false` when the file already
/// holds exactly these bytes (nothing written, Envoy not disturbed).
///
/// # Errors
/// I/O errors creating the directory, writing or renaming.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    if std::fs::read(path).is_ok_and(|current| current == contents) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests;
