//! The router filter on the Istio gateway, carrying the route table.
//!
//! Why an `EnvoyFilter` by default: the router holds request headers while
//! it reads the body (`FilterHeadersStatus::StopIteration`), which Envoy
//! honours only with `allow_on_headers_stop_iteration: true` on the Wasm
//! `PluginConfig` (Envoy >= 1.35). Istio's `WasmPlugin` has no field for it
//! (istio discussion #60126), and an `EnvoyFilter` cannot patch the
//! extension config a WasmPlugin generates: istiod applies only `ADD`
//! patches to `EXTENSION_CONFIG`
//! (`pilot/pkg/networking/core/envoyfilter/extension_configuration_patch.go`).
//! So the operator adds the complete extension itself, through ECDS like a
//! WasmPlugin would (istiod pushes it; the istio-agent fetches the `oci://`
//! module), and inserts it in the HTTP filter chain just before
//! `envoy.filters.http.rbac`: after authentication (JWT), before
//! authorization policies, the WasmPlugin `AUTHZ` phase. The RBAC filter is
//! only in the chain when an AuthorizationPolicy selects the gateway, so the
//! operator also writes one: it denies clients the broker's internal
//! session API.

use kube::api::DynamicObject;
use router_config::RouterConfig;

use super::{metadata, typed};
use crate::Result;
use crate::gateway_api::{
    GATEWAY_GROUP, authorization_policy_resource, envoy_filter_resource, wasm_plugin_resource,
};
use crate::plan::{self, FilterApi, Settings};

/// The label Istio puts on the pods of a Gateway it deploys.
pub const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";
/// The router's root id (`proxy_wasm::main!` registers it).
pub const PLUGIN_NAME: &str = router_config::envoy::FILTER_NAME;
const WASM_TYPE_URL: &str = router_config::envoy::WASM_FILTER_TYPE;

/// The filter objects for the configured API.
///
/// # Errors
/// An object does not deserialise as a `DynamicObject` (a bug).
/// Empty until the broker has published a route table: the filter carries
/// the broker's table, never one of the operator's making.
pub fn filter_objects(
    deployment: &plan::Deployment,
    settings: &Settings,
) -> Result<Vec<DynamicObject>> {
    let Some(table) = &deployment.route_table else {
        return Ok(Vec::new());
    };
    Ok(match settings.filter_api {
        FilterApi::EnvoyFilter => vec![
            envoy_filter(deployment, table, settings)?,
            authorization_policy(deployment, table)?,
        ],
        FilterApi::WasmPlugin => vec![wasm_plugin(deployment, table, settings)?],
    })
}

/// `(api resource, namespace, name)` of filter objects the other API would
/// have written: deleted when the operator's `--filter-api` changes.
pub fn stale_filters(
    names: &plan::Names,
    api: FilterApi,
) -> Vec<(kube::api::ApiResource, String, String)> {
    let at = |resource| {
        (
            resource,
            names.gateway_namespace.clone(),
            names.filter.clone(),
        )
    };
    match api {
        FilterApi::EnvoyFilter => vec![at(wasm_plugin_resource())],
        FilterApi::WasmPlugin => vec![
            at(envoy_filter_resource()),
            at(authorization_policy_resource()),
        ],
    }
}

/// Every filter object name, for cleanup.
pub fn all_filters(names: &plan::Names) -> Vec<(kube::api::ApiResource, String, String)> {
    let mut all = stale_filters(names, FilterApi::EnvoyFilter);
    all.extend(stale_filters(names, FilterApi::WasmPlugin));
    all
}

fn instance(deployment: &plan::Deployment) -> &str {
    deployment.names.broker.trim_end_matches("-broker")
}

/// The ECDS resource name of the router extension.
pub fn extension_config_name(names: &plan::Names) -> String {
    format!("{}.{}", names.gateway_namespace, names.filter)
}

pub fn envoy_filter(
    deployment: &plan::Deployment,
    route_table: &RouterConfig,
    settings: &Settings,
) -> Result<DynamicObject> {
    let n = &deployment.names;
    let name = extension_config_name(n);
    let remote = serde_json::json!({
        // The istio-agent fetches the module (oci:// or https://) and hands
        // Envoy a local file; the cluster is never used.
        "http_uri": { "uri": settings.router_url, "cluster": "_", "timeout": "30s" },
        // Istio's marker for "no checksum" when none is pinned.
        "sha256": settings.router_sha256.as_deref().unwrap_or("nil"),
    });
    typed(
        "EnvoyFilter",
        serde_json::json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
            "metadata": metadata(&n.filter, &n.gateway_namespace, instance(deployment), None),
            "spec": {
                "workloadSelector": { "labels": { GATEWAY_NAME_LABEL: deployment.gateway.1 } },
                "configPatches": [
                    {
                        "applyTo": "EXTENSION_CONFIG",
                        "match": { "context": "GATEWAY" },
                        "patch": { "operation": "ADD", "value": {
                            "name": name,
                            "typed_config": router_config::envoy::wasm_filter(
                                serde_json::json!({ "remote": remote }),
                                route_table,
                            ),
                        }}
                    },
                    {
                        "applyTo": "HTTP_FILTER",
                        "match": {
                            "context": "GATEWAY",
                            "listener": {
                                "portNumber": deployment.listener.port,
                                "filterChain": { "filter": {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "subFilter": { "name": "envoy.filters.http.rbac" }
                                }}
                            }
                        },
                        "patch": { "operation": "INSERT_BEFORE", "value": {
                            "name": name,
                            "config_discovery": {
                                // Wait for the extension rather than serve
                                // unrouted: fail closed.
                                "config_source": { "ads": {}, "initial_fetch_timeout": "0s" },
                                "type_urls": [WASM_TYPE_URL]
                            }
                        }}
                    },
                    {
                        // A routed call goes to the cluster the router
                        // names, whatever the HTTPRoute's host names: a
                        // route without host names (reached by its
                        // Service's name) works too. Clients cannot send
                        // x-mcp-servername: the router removes client
                        // x-mcp-* headers.
                        "applyTo": "HTTP_ROUTE",
                        "match": {
                            "context": "GATEWAY",
                            "routeConfiguration": { "portNumber": deployment.listener.port }
                        },
                        "patch": { "operation": "INSERT_FIRST", "value": {
                            "name": "mcp-router-routed-calls",
                            "match": {
                                "prefix": "/",
                                "headers": [{ "name": mcp_protocol::headers::X_MCP_SERVERNAME, "present_match": true }]
                            },
                            "route": { "cluster_header": mcp_protocol::headers::X_MCP_CLUSTER, "timeout": "0s" }
                        }}
                    },
                    {
                        // The tool-call counter's labels (server, tool,
                        // outcome) are read out of its name by the
                        // bootstrap's stats tags. Istio applies BOOTSTRAP
                        // patches only when the proxy starts and its agent
                        // fetches the bootstrap (`BOOTSTRAP_XDS_AGENT`, see
                        // the README); MERGE appends to Istio's own tags.
                        "applyTo": "BOOTSTRAP",
                        "patch": { "operation": "MERGE", "value": {
                            "stats_config": { "stats_tags": router_config::envoy::stats_tags() }
                        }}
                    }
                ]
            }
        }),
    )
}

/// Puts Istio's RBAC filter in the gateway's chain (the router is inserted
/// before it) and denies clients the broker's session API, which only the
/// router may call (directly, through its cluster, not the listener).
pub fn authorization_policy(
    deployment: &plan::Deployment,
    route_table: &RouterConfig,
) -> Result<DynamicObject> {
    let n = &deployment.names;
    typed(
        "AuthorizationPolicy",
        serde_json::json!({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": metadata(&n.filter, &n.gateway_namespace, instance(deployment), None),
            "spec": {
                "selector": { "matchLabels": { GATEWAY_NAME_LABEL: deployment.gateway.1 } },
                "action": "DENY",
                "rules": [{ "to": [{ "operation": {
                    "paths": [route_table.broker.session_path, format!("{}/*", route_table.broker.session_path)]
                }}]}]
            }
        }),
    )
}

pub fn wasm_plugin(
    deployment: &plan::Deployment,
    route_table: &RouterConfig,
    settings: &Settings,
) -> Result<DynamicObject> {
    let n = &deployment.names;
    let mut spec = serde_json::json!({
        "targetRefs": [{ "group": GATEWAY_GROUP, "kind": "Gateway", "name": deployment.gateway.1 }],
        "url": settings.router_url,
        "pluginName": PLUGIN_NAME,
        "type": "HTTP",
        // After authentication, before authorization policies: policies see
        // the router's x-mcp-* headers, JWT validation sees the client's
        // Authorization before the router replaces it.
        "phase": "AUTHZ",
        "priority": settings.wasm_priority,
        "failStrategy": "FAIL_CLOSE",
        "match": [{ "ports": [{ "number": deployment.listener.port }] }],
        "pluginConfig": route_table,
    });
    if let Some(sha) = &settings.router_sha256 {
        spec["sha256"] = serde_json::json!(sha);
    }
    typed(
        "WasmPlugin",
        serde_json::json!({
            "apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
            "metadata": metadata(&n.filter, &n.gateway_namespace, instance(deployment), None),
            "spec": spec,
        }),
    )
}
