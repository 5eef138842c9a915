//! The dynamic resources the broker writes for the local Envoy, each a
//! file in the route table's directory, which Envoy watches (a file is
//! replaced by rename, the move Envoy reacts to):
//!
//! | file | xDS | holds |
//! |---|---|---|
//! | `routeTableFile` | ECDS | the router filter, with the route table |
//! | `clusters.json` | CDS | one cluster per upstream server; it injects the server's credential itself |
//! | `secret.<name>.json` | SDS | one credential, or the gateway token, as a generic secret (Envoy's file-based SDS reads one secret per file) |
//!
//! Credentials never reach the router filter: each upstream's cluster runs
//! Envoy's `credential_injector` as an upstream filter, with the secret
//! from SDS, and so does the broker's cluster with the gateway token
//! (`x-mcp-gateway-token`, how the broker knows a request comes from this
//! Envoy). Envoy redacts SDS secrets from its configuration dump; the
//! secrets file is written owner-only.

use std::path::{Path, PathBuf};

use router_config::RouterConfig;
use serde_json::{Value, json};

use crate::config::{EnvoyConfig, GatewayConfig};
use crate::upstream::UpstreamSpec;

pub use router_config::envoy::FILTER_NAME;
/// The SDS secret holding the gateway token.
pub const GATEWAY_TOKEN_SECRET: &str = "mcp_gateway_token";
/// The local CDS file, beside the route table.
pub const CLUSTERS_FILE: &str = "clusters.json";
/// Prefix and suffix of the local SDS files, beside the route table.
pub const SECRET_FILE_PREFIX: &str = "secret.";
pub const SECRET_FILE_SUFFIX: &str = ".json";

const SECRET_TYPE: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The Envoy cluster of upstream server `server`.
pub fn upstream_cluster(server: &str) -> String {
    format!("mcp_upstream_{server}")
}

/// The SDS secret holding `server`'s credential.
pub fn credential_secret(server: &str) -> String {
    format!("mcp_credential_{server}")
}

/// The directory Envoy watches: the route table file's.
pub fn watched_dir(envoy: &EnvoyConfig) -> PathBuf {
    match envoy.route_table_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        // A bare file name lives in the current directory; "" is refused by
        // Envoy as a watched directory.
        _ => PathBuf::from("."),
    }
}

pub fn clusters_file(envoy: &EnvoyConfig) -> PathBuf {
    watched_dir(envoy).join(CLUSTERS_FILE)
}

/// The SDS file of secret `name`.
pub fn secret_file(envoy: &EnvoyConfig, name: &str) -> PathBuf {
    watched_dir(envoy).join(format!("{SECRET_FILE_PREFIX}{name}{SECRET_FILE_SUFFIX}"))
}

/// A config source reading `file`, reloaded when the watched directory
/// sees a rename.
pub fn file_source(envoy: &EnvoyConfig, file: &Path) -> Value {
    json!({
        "path_config_source": {
            "path": file.display().to_string(),
            "watched_directory": { "path": watched_dir(envoy).display().to_string() }
        }
    })
}

/// The system's CA bundle (Debian's), for clusters that verify TLS.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A cluster `name` reaching `url`'s host and port (DNS-resolved), over TLS
/// for `https`, verifying the server's certificate against `ca_file` (default
/// the system's bundle) and its name against the host.
pub fn url_cluster(name: &str, url: &url::Url, ca_file: Option<&Path>) -> Value {
    let host = url.host_str().unwrap_or_default();
    let tls = url.scheme() == "https";
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let mut cluster = json!({
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "5s",
        "dns_lookup_family": "V4_PREFERRED",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": host, "port_value": port }
            } } }] }]
        }
    });
    if tls {
        let ca = ca_file.map_or_else(|| SYSTEM_CA.to_owned(), |p| p.display().to_string());
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                "common_tls_context": { "validation_context": {
                    "trusted_ca": { "filename": ca },
                    "match_typed_subject_alt_names": [{ "san_type": "DNS", "matcher": { "exact": host } }]
                } }
            }
        });
    }
    cluster
}

/// Envoy's buffer limit per connection: a little more than the router's
/// body limit, so the router (not Envoy) answers oversized MCP bodies.
pub fn buffer_limit_bytes(config: &GatewayConfig) -> u64 {
    u64::from(config.limits.max_request_body_bytes) + 1024 * 1024
}

/// Upstream HTTP filters that set header `header` (default
/// `Authorization`) from SDS secret `secret`, overwriting what the request
/// carries, then hand the request to the codec. A request is refused when
/// the secret is missing, rather than sent without it.
pub fn injecting_filters(envoy: &EnvoyConfig, secret: &str, header: Option<&str>) -> Value {
    let mut generic = json!({
        "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
        "credential": { "name": secret, "sds_config": file_source(envoy, &secret_file(envoy, secret)) }
    });
    if let Some(header) = header {
        generic["header"] = json!(header);
    }
    json!([
        {
            "name": "envoy.filters.http.credential_injector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
                "overwrite": true,
                "credential": { "name": "envoy.http.injected_credentials.generic", "typed_config": generic }
            }
        },
        {
            "name": "envoy.filters.http.upstream_codec",
            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" }
        }
    ])
}

/// The ECDS document carrying the router filter with `route_table`: a
/// `TypedExtensionConfig` named `mcp_router` holding the router's `Wasm`
/// filter configuration (`router_config::envoy`), loading the local
/// `.wasm`.
pub fn ecds_document(envoy: &EnvoyConfig, route_table: &RouterConfig) -> Value {
    let code = json!({ "local": { "filename": envoy.wasm_file.display().to_string() } });
    json!({
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": FILTER_NAME,
            "typed_config": router_config::envoy::wasm_filter(code, route_table)
        }]
    })
}

/// The CDS document: a cluster per upstream server, reaching the host and
/// port of its URL (TLS with SNI and certificate checks for `https`), with
/// its credential injected when it has one.
pub fn cds_document(config: &GatewayConfig, envoy: &EnvoyConfig, specs: &[&UpstreamSpec]) -> Value {
    let clusters: Vec<Value> = specs
        .iter()
        .map(|spec| upstream_cluster_resource(config, envoy, spec))
        .collect();
    json!({ "resources": clusters })
}

fn upstream_cluster_resource(
    config: &GatewayConfig,
    envoy: &EnvoyConfig,
    spec: &UpstreamSpec,
) -> Value {
    let name = upstream_cluster(&spec.name);
    let host = spec
        .url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = spec.url.port_or_known_default().unwrap_or(80);
    let mut protocol_options = json!({
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": { "http_protocol_options": {} }
    });
    if spec.authorization.is_some() {
        protocol_options["http_filters"] =
            injecting_filters(envoy, &credential_secret(&spec.name), None);
    }
    let mut cluster = json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name,
        "type": "STRICT_DNS",
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "per_connection_buffer_limit_bytes": buffer_limit_bytes(config),
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": host, "port_value": port }
            } } }] }]
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": protocol_options
        }
    });
    if spec.url.scheme() == "https" {
        let san_type = if host.parse::<std::net::IpAddr>().is_ok() {
            "IP_ADDRESS"
        } else {
            "DNS"
        };
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": { "filename": CA_BUNDLE },
                        "match_typed_subject_alt_names": [{ "san_type": san_type, "matcher": { "exact": host } }]
                    }
                }
            }
        });
    }
    cluster
}

/// The SDS documents, by secret name: the gateway token (when there is
/// one) and every configured credential.
pub fn sds_documents(router_token: Option<&str>, specs: &[&UpstreamSpec]) -> Vec<(String, Value)> {
    let secret = |name: String, value: &str| {
        let document = json!({ "resources": [{
            "@type": SECRET_TYPE,
            "name": name,
            "generic_secret": { "secret": { "inline_string": value } }
        }] });
        (name, document)
    };
    let mut secrets = Vec::new();
    if let Some(token) = router_token {
        secrets.push(secret(GATEWAY_TOKEN_SECRET.to_owned(), token));
    }
    for spec in specs {
        if let Some(authorization) = &spec.authorization {
            secrets.push(secret(credential_secret(&spec.name), authorization));
        }
    }
    secrets
}

/// Removes the SDS files of secrets no longer in `keep`, so a removed
/// server's credential does not stay on disk.
pub fn remove_other_secret_files(envoy: &EnvoyConfig, keep: &[String]) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(watched_dir(envoy)) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name
            .strip_prefix(SECRET_FILE_PREFIX)
            .and_then(|rest| rest.strip_suffix(SECRET_FILE_SUFFIX))
        else {
            continue;
        };
        if !keep.iter().any(|k| k == name) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
