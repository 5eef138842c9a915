//! Envoy for the systems the gateway is compared with: plain Envoy (the
//! floor: HTTP routing only) and Envoy with its native MCP filters
//! (`envoy.filters.http.mcp` + `envoy.filters.http.mcp_router`).
//!
//! Both share the gateway's listener settings (buffer limit, timeouts, the
//! same stdout access log line), so the filters are the only difference.
//! Bootstraps are JSON, which Envoy reads like YAML.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::paths;
use e2e::process::{Proc, free_port};
use serde_json::{Value, json};

use crate::fleet::Server;
use crate::procstat::Tree;

/// The gateway's per-connection buffer limit (4 MiB body limit + 1 MiB).
const BUFFER_LIMIT: u64 = 5 * 1024 * 1024;

/// The gateway's access log line (wasm-plugins/envoy/envoy.yaml).
const ACCESS_LOG_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%\" %RESPONSE_CODE% mcp_method=%REQ(X-MCP-METHOD)% server=%REQ(X-MCP-SERVERNAME)% tool=%REQ(X-MCP-TOOLNAME)% upstream=%UPSTREAM_HOST% duration_ms=%DURATION%\n";

/// A running Envoy.
#[derive(Debug)]
pub struct Envoy {
    pub port: u16,
    pub admin_port: u16,
    proc: Proc,
}

impl Envoy {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn tree(&self) -> Tree {
        Tree::new("envoy", self.proc.pid())
    }

    /// Starts Envoy with `bootstrap` (from [`floor`] or [`native`]) on one
    /// worker thread, pinned to `cpu_list` when given.
    ///
    /// # Errors
    /// Envoy is missing or does not become ready.
    pub async fn start(
        label: &str,
        bootstrap: &Value,
        ports: (u16, u16),
        dir: &Path,
        cpu_list: Option<&str>,
    ) -> anyhow::Result<Envoy> {
        let envoy = paths::envoy();
        anyhow::ensure!(
            envoy.exists(),
            "{} missing: run `just setup`",
            envoy.display()
        );
        let config = dir.join(format!("{label}.json"));
        std::fs::write(&config, serde_json::to_vec_pretty(bootstrap)?)?;
        let mut command = match cpu_list {
            Some(list) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(list).arg(&envoy);
                command
            }
            None => Command::new(&envoy),
        };
        command.arg("-c").arg(&config).args([
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "--log-level",
            "warn",
        ]);
        let mut proc = Proc::spawn(label, command, &dir.join(format!("{label}.log")))?;
        proc.wait_for_http(
            &format!("http://127.0.0.1:{}/ready", ports.1),
            Duration::from_secs(30),
        )
        .await?;
        Ok(Envoy {
            port: ports.0,
            admin_port: ports.1,
            proc,
        })
    }
}

/// Two free ports: listener and admin.
pub fn ports() -> (u16, u16) {
    (free_port(), free_port())
}

/// Plain Envoy: `/mcp` to `default`, `/<name>/mcp` to each of `by_path`
/// (the prefix removed). No MCP logic at all.
pub fn floor(ports: (u16, u16), default: &Server, by_path: &[&Server]) -> Value {
    let mut routes: Vec<Value> = by_path
        .iter()
        .map(|server| {
            json!({
                "match": { "prefix": format!("/{}/", server.name) },
                "route": { "cluster": server.name, "prefix_rewrite": "/", "timeout": "0s" }
            })
        })
        .collect();
    routes.push(json!({
        "match": { "prefix": "/" },
        "route": { "cluster": default.name, "timeout": "0s" }
    }));
    let clusters = std::iter::once(default)
        .chain(by_path.iter().copied())
        .map(cluster)
        .collect();
    bootstrap(
        ports,
        routes,
        vec![json!({
            "name": "envoy.filters.http.router",
            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
        })],
        clusters,
    )
}

/// [`floor`] with the wasm floor filter (bench/floor-filter) in `mode`
/// (`noop`, `floor`, `floor-map`) before the router, configured as the
/// gateway configures its router (V8, headers held while the body is read).
///
/// # Errors
/// The floor filter's `.wasm` is not built (`just build-wasm`).
pub fn wasm_floor(
    ports: (u16, u16),
    default: &Server,
    by_path: &[&Server],
    mode: &str,
) -> anyhow::Result<Value> {
    let wasm = floor_wasm()?;
    let mut config = floor(ports, default, by_path);
    let filter = json!({
        "name": "bench_floor",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "bench_floor",
                "fail_open": false,
                "allow_on_headers_stop_iteration": true,
                "vm_config": {
                    "vm_id": "bench_floor",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": wasm } }
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": mode
                }
            }
        }
    });
    let filters = config
        .pointer_mut(
            "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters",
        )
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow::anyhow!("the floor bootstrap has no http_filters"))?;
    filters.insert(0, filter);
    Ok(config)
}

/// The wasm floor filter's `.wasm` (bench/floor-filter).
///
/// # Errors
/// It is not built (`just build-wasm`).
pub fn floor_wasm() -> anyhow::Result<std::path::PathBuf> {
    let wasm = paths::floor_wasm();
    anyhow::ensure!(
        wasm.exists(),
        "{} missing: run `just build-wasm`",
        wasm.display()
    );
    Ok(wasm)
}

/// Envoy's native MCP gateway over `servers`: the `mcp` filter parses each
/// request into dynamic metadata, `mcp_router` (terminal) fans
/// `initialize`/`tools/list` out to every server and routes `tools/call`
/// by the `<server>__` prefix it adds to tool names.
pub fn native(ports: (u16, u16), servers: &[Server]) -> Value {
    let backends: Vec<Value> = servers
        .iter()
        .map(|server| {
            json!({
                "name": server.name,
                "mcp_cluster": { "cluster": server.name, "path": "/mcp" }
            })
        })
        .collect();
    let first = servers.first().map(|s| s.name.clone()).unwrap_or_default();
    bootstrap(
        ports,
        vec![json!({
            "match": { "prefix": "/" },
            "route": { "cluster": first, "timeout": "0s" }
        })],
        vec![
            json!({
                "name": "envoy.filters.http.mcp",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.mcp.v3.Mcp",
                    // The gateway's body limit (its default is smaller than
                    // the 64 KiB workload).
                    "max_request_body_size": 4 * 1024 * 1024
                }
            }),
            json!({
                "name": "envoy.filters.http.mcp_router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.mcp_router.v3.McpRouter",
                    "servers": backends
                }
            }),
        ],
        servers.iter().map(cluster).collect(),
    )
}

fn cluster(server: &Server) -> Value {
    json!({
        "name": server.name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "per_connection_buffer_limit_bytes": BUFFER_LIMIT,
        "load_assignment": {
            "cluster_name": server.name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": "127.0.0.1", "port_value": server.port }
            }}}]}]
        }
    })
}

fn bootstrap(
    ports: (u16, u16),
    routes: Vec<Value>,
    http_filters: Vec<Value>,
    clusters: Vec<Value>,
) -> Value {
    json!({
        "node": { "id": "mcp-bench", "cluster": "mcp-bench" },
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": ports.1 } } },
        "static_resources": {
            "listeners": [{
                "name": "mcp",
                "address": { "socket_address": { "address": "127.0.0.1", "port_value": ports.0 } },
                "per_connection_buffer_limit_bytes": BUFFER_LIMIT,
                "filter_chains": [{ "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "mcp",
                        "request_timeout": "0s",
                        "stream_idle_timeout": "3600s",
                        "access_log": [{
                            "name": "envoy.access_loggers.stdout",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                                "log_format": { "text_format_source": { "inline_string": ACCESS_LOG_FORMAT } }
                            }
                        }],
                        "route_config": {
                            "name": "mcp",
                            "virtual_hosts": [{ "name": "mcp", "domains": ["*"], "routes": routes }]
                        },
                        "http_filters": http_filters
                    }
                }]}]
            }],
            "clusters": clusters
        }
    })
}
