//! The local Envoy: its bootstrap (rendered from
//! `wasm-plugins/envoy/envoy.yaml`) and the files it loads at run time
//! ([`resources`]: the router filter with the route table, the upstream
//! clusters, the secrets).

pub mod audit;
pub mod authentication;
pub mod rate_limits;
pub mod resources;
pub mod telemetry;

use std::io::Write;
use std::path::Path;

pub use resources::{
    FILTER_NAME, cds_document, clusters_file, ecds_document, remove_other_secret_files,
    sds_documents, secret_file, upstream_cluster,
};

use crate::config::{GatewayConfig, RouterAuthMode};

const BOOTSTRAP_TEMPLATE: &str = include_str!("../../../wasm-plugins/envoy/envoy.yaml");

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
    let limits = &config.limits;
    // The broker cluster's upstream filters: the gateway token, injected
    // (token mode), then the codec.
    let broker_protocol_options = match config.router_authentication.mode {
        RouterAuthMode::Token => serde_json::json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http_protocol_options": {} },
                "http_filters": resources::injecting_filters(
                    envoy,
                    resources::GATEWAY_TOKEN_SECRET,
                    Some(mcp_protocol::headers::X_MCP_GATEWAY_TOKEN),
                )
            }
        }),
        RouterAuthMode::Mesh => serde_json::json!({}),
    };
    let values = [
        ("admin_address", envoy.admin_listen.ip().to_string()),
        ("admin_port", envoy.admin_listen.port().to_string()),
        ("gateway_address", envoy.listen.ip().to_string()),
        ("gateway_port", envoy.listen.port().to_string()),
        ("broker_address", config.listen.ip().to_string()),
        ("broker_port", config.listen.port().to_string()),
        ("broker_cluster", envoy.broker_cluster.clone()),
        (
            "broker_protocol_options",
            broker_protocol_options.to_string(),
        ),
        (
            "buffer_limit_bytes",
            resources::buffer_limit_bytes(config).to_string(),
        ),
        ("mcp_path", config.mcp_path.clone()),
        (
            "route_table_file",
            envoy.route_table_file.display().to_string(),
        ),
        ("clusters_file", clusters_file(envoy).display().to_string()),
        (
            "watched_dir",
            resources::watched_dir(envoy).display().to_string(),
        ),
        ("max_connections", limits.max_connections.max(1).to_string()),
        (
            "request_headers_timeout",
            format!("{}s", limits.request_headers_timeout().as_secs()),
        ),
        (
            "request_timeout",
            format!("{}s", limits.request_timeout().as_secs()),
        ),
        (
            "initialize_per_second",
            limits.initialize_per_second.max(1).to_string(),
        ),
        (
            "initialize_burst",
            (limits.initialize_per_second.max(1) * 2).to_string(),
        ),
        ("auth_filters", authentication::filters(config)),
        (
            "auth_routes",
            authentication::routes(config, &envoy.broker_cluster),
        ),
        ("auth_reply_mappers", authentication::reply_mappers(config)),
        ("auth_clusters", authentication::clusters(config)),
        ("tracing", telemetry::tracing(config)),
        ("otlp_cluster", telemetry::cluster(config)),
        (
            "access_log_format",
            audit::access_log_format(config).to_string(),
        ),
        ("stats_tags", router_config::envoy::stats_tags().to_string()),
        (
            "routed_call_rate_limits",
            rate_limits::route_rate_limits(config),
        ),
        (
            "routed_call_filter_config",
            rate_limits::route_filter_config(config),
        ),
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

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory renamed over the target, which is the move Envoy's
/// `watched_directory` reacts to. Returns `false` when the file already
/// holds exactly these bytes (nothing written, Envoy not disturbed). The
/// file is readable by its owner only (it may hold secrets).
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
        let mut options = std::fs::File::options();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests;
