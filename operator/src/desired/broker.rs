//! The broker: its configuration file (the broker's `GatewayConfig`, see
//! `broker/src/config.rs`) and its Deployment, Service, ServiceAccount,
//! Secrets and `/mcp` HTTPRoute.
//!
//! In the pod, the configuration, the session key and the credentials are
//! files mounted from Secrets; the broker reads credentials with
//! `credential: {file: …}`. A change of configuration or credentials changes
//! the pod template's `config-hash` annotation, which rolls the broker.

use std::collections::BTreeMap;

use gateway_config::{
    BrokerRouteConfig, GatewayConfig, GatewayRoute, RedisStoreConfig, RouterAuthMode,
    RouterAuthentication, SecretSource, ServerConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;
use sha2::{Digest, Sha256};

use super::{metadata, typed};
use crate::Result;
use crate::crd::SESSION_STORE_KEY;
use crate::plan::{self, BROKER_PORT, MCP_PATH, Settings};
use crate::resolve::ResolvedServer;

const CONFIG_DIR: &str = "/etc/mcp-broker/config";
const CONFIG_FILE: &str = "gateway.yaml";
const SESSION_DIR: &str = "/etc/mcp-broker/session";
const SESSION_KEY: &str = "key";
const CREDENTIALS_DIR: &str = "/etc/mcp-broker/credentials";
/// Pod template annotation that rolls the broker when its inputs change.
pub const CONFIG_HASH: &str = "mcp.wasm-gateway.io/config-hash";

/// The broker's configuration file, in the broker's own types: every
/// resolved server (the broker builds the route table from them and reports
/// what it left out), how the gateway's Envoy reaches each one and the
/// broker, and the mesh as the proof of who calls the broker.
pub fn broker_config(
    servers: &[ResolvedServer],
    names: &plan::Names,
    settings: &Settings,
    public_host: Option<&str>,
    refresh_seconds: Option<u32>,
    redis_session_store: bool,
) -> GatewayConfig {
    let host = names.broker_host(&settings.cluster_domain);
    let mut config = GatewayConfig {
        listen: std::net::SocketAddr::from(([0, 0, 0, 0], BROKER_PORT)),
        mcp_path: MCP_PATH.to_owned(),
        session_key: Some(file_source(format!("{SESSION_DIR}/{SESSION_KEY}"))),
        router_authentication: RouterAuthentication {
            mode: RouterAuthMode::Mesh,
            token: None,
        },
        allowed_origins: public_host
            .map(|h| vec![format!("https://{h}")])
            .unwrap_or_default(),
        allowed_hosts: public_host.map(|h| vec![h.to_owned()]).unwrap_or_default(),
        broker_route: Some(BrokerRouteConfig {
            cluster: format!("outbound|{BROKER_PORT}||{host}"),
            authority: format!("{host}:{BROKER_PORT}"),
        }),
        servers: servers.iter().filter_map(server_config).collect(),
        ..GatewayConfig::default()
    };
    if let Some(seconds) = refresh_seconds {
        config.discovery.refresh_interval_seconds = u64::from(seconds);
    }
    if redis_session_store {
        // The URL may hold a password: it reaches the broker from the
        // user's Secret as an environment variable, never in this file.
        config.session_store.redis = Some(RedisStoreConfig {
            url: SecretSource {
                env: Some(SESSION_STORE_KEY.to_owned()),
                file: None,
                value: None,
            },
            key_prefix: "mcpgw:".to_owned(),
        });
    }
    config
}

/// Broker replicas: one keeps sessions in its memory; with a shared
/// session store, two, so one can die or roll without losing a session.
fn replicas(deployment: &plan::Deployment) -> u32 {
    if deployment.session_store_secret.is_some() {
        2
    } else {
        1
    }
}

/// The container's environment, if it needs one: the session store's URL,
/// from the Secret the extension names.
fn environment(deployment: &plan::Deployment) -> Option<serde_json::Value> {
    let secret = deployment.session_store_secret.as_ref()?;
    Some(serde_json::json!([{
        "name": SESSION_STORE_KEY,
        "valueFrom": { "secretKeyRef": { "name": secret, "key": SESSION_STORE_KEY } }
    }]))
}

fn file_source(file: String) -> SecretSource {
    SecretSource {
        env: None,
        file: Some(file.into()),
        value: None,
    }
}

fn server_config(server: &ResolvedServer) -> Option<ServerConfig> {
    Some(ServerConfig {
        name: server.name.clone(),
        // Built from a Service host name, port and path: always a URL.
        url: server.url.parse().ok()?,
        prefix: server.prefix.clone(),
        credential: server
            .credential
            .as_ref()
            .map(|_| file_source(format!("{CREDENTIALS_DIR}/{}", server.name))),
        forward_authorization: false,
        forward_headers: Vec::new(),
        gateway_route: Some(GatewayRoute {
            authority: server.authority.clone(),
            path: Some(server.path.clone()),
            cluster: Some(server.cluster.clone()),
        }),
        era: Default::default(),
    })
}

/// Secret values go in `data`, not `stringData`: server-side apply tracks
/// `data` keys, so a key dropped from the desired object is removed.
fn base64(value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value)
}

fn config_hash(deployment: &plan::Deployment) -> String {
    let mut hasher = Sha256::new();
    hasher.update(deployment.broker_config.to_yaml());
    for (name, value) in &deployment.credentials {
        hasher.update([0]);
        hasher.update(name);
        hasher.update([0]);
        hasher.update(value);
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn instance(deployment: &plan::Deployment) -> &str {
    deployment.names.broker.trim_end_matches("-broker")
}

pub(super) fn selector(deployment: &plan::Deployment) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "mcp-broker".to_owned()),
        (
            "app.kubernetes.io/instance".to_owned(),
            instance(deployment).to_owned(),
        ),
    ])
}

pub fn service_account(
    deployment: &plan::Deployment,
    owner: Option<&OwnerReference>,
) -> Result<ServiceAccount> {
    let n = &deployment.names;
    typed(
        "broker ServiceAccount",
        serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": metadata(&n.broker, &n.namespace, instance(deployment), owner),
            "automountServiceAccountToken": false,
        }),
    )
}

pub fn config_secret(
    deployment: &plan::Deployment,
    owner: Option<&OwnerReference>,
) -> Result<Secret> {
    let n = &deployment.names;
    typed(
        "broker configuration Secret",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(&n.config_secret, &n.namespace, instance(deployment), owner),
            "data": { CONFIG_FILE: base64(&deployment.broker_config.to_yaml()) },
        }),
    )
}

pub fn credentials_secret(
    deployment: &plan::Deployment,
    owner: Option<&OwnerReference>,
) -> Result<Secret> {
    let n = &deployment.names;
    typed(
        "broker credentials Secret",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(&n.credentials_secret, &n.namespace, instance(deployment), owner),
            "data": deployment.credentials.iter().map(|(k, v)| (k.clone(), base64(v))).collect::<BTreeMap<_, _>>(),
        }),
    )
}

/// The session-signing key Secret: created once with a random key, never
/// overwritten (replicas and restarts must keep validating sessions).
pub fn session_secret(
    deployment: &plan::Deployment,
    key: &str,
    owner: Option<&OwnerReference>,
) -> Result<Secret> {
    let n = &deployment.names;
    typed(
        "broker session Secret",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(&n.session_secret, &n.namespace, instance(deployment), owner),
            "data": { SESSION_KEY: base64(key) },
        }),
    )
}

pub fn deployment(
    deployment: &plan::Deployment,
    settings: &Settings,
    owner: Option<&OwnerReference>,
) -> Result<Deployment> {
    let n = &deployment.names;
    let mut labels = super::labels(instance(deployment));
    labels.extend(selector(deployment));
    let mut meta = metadata(&n.broker, &n.namespace, instance(deployment), owner);
    meta["labels"] = serde_json::json!(labels);
    let mut object = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas(deployment),
            "selector": { "matchLabels": selector(deployment) },
            "template": {
                "metadata": { "labels": labels, "annotations": { CONFIG_HASH: config_hash(deployment) } },
                "spec": {
                    "serviceAccountName": n.broker,
                    "automountServiceAccountToken": false,
                    "securityContext": {
                        "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                        "seccompProfile": { "type": "RuntimeDefault" }
                    },
                    "containers": [{
                        "name": "broker",
                        "image": settings.broker_image,
                        "args": ["--config", format!("{CONFIG_DIR}/{CONFIG_FILE}"), "--log-format", "json"],
                        "ports": [{ "name": "http", "containerPort": BROKER_PORT, "protocol": "TCP" }],
                        "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http" }, "periodSeconds": 5 },
                        "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 10 },
                        "resources": {
                            "requests": { "cpu": "50m", "memory": "64Mi" },
                            "limits": { "memory": "256Mi" }
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] }
                        },
                        "volumeMounts": [
                            { "name": "config", "mountPath": CONFIG_DIR, "readOnly": true },
                            { "name": "session", "mountPath": SESSION_DIR, "readOnly": true },
                            { "name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": true }
                        ]
                    }],
                    "volumes": [
                        { "name": "config", "secret": { "secretName": n.config_secret } },
                        { "name": "session", "secret": { "secretName": n.session_secret } },
                        { "name": "credentials", "secret": { "secretName": n.credentials_secret } }
                    ]
                }
            }
        }
    });
    if let Some(env) = environment(deployment) {
        object["spec"]["template"]["spec"]["containers"][0]["env"] = env;
    }
    typed("broker Deployment", object)
}

pub fn service(deployment: &plan::Deployment, owner: Option<&OwnerReference>) -> Result<Service> {
    let n = &deployment.names;
    typed(
        "broker Service",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": metadata(&n.broker, &n.namespace, instance(deployment), owner),
            "spec": {
                "selector": selector(deployment),
                "ports": [{ "name": "http", "port": BROKER_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http" }]
            }
        }),
    )
}

/// What the broker's HTTPRoute matches: `/mcp`; with virtual servers, the
/// paths under it (`/mcp/namespace/name`, which the router rewrites to
/// `/mcp`); with OAuth metadata, its well-known path (served without a
/// token: the authentication policy must exempt it too).
fn route_matches(config: &GatewayConfig) -> serde_json::Value {
    let mut matches = vec![serde_json::json!({ "path": { "type": "Exact", "value": MCP_PATH } })];
    if !config.policy.virtual_servers.is_empty() {
        matches.push(serde_json::json!({ "path": { "type": "PathPrefix", "value": format!("{MCP_PATH}/") } }));
    }
    if config.authentication.is_some() {
        matches.push(serde_json::json!({ "path": { "type": "PathPrefix", "value": gateway_config::METADATA_PATH } }));
    }
    serde_json::Value::Array(matches)
}

/// The HTTPRoute that sends the gateway's `/mcp` to the broker (the router
/// re-routes `tools/call` to upstreams by rewriting `:authority`).
pub fn http_route(
    deployment: &plan::Deployment,
    owner: Option<&OwnerReference>,
) -> Result<DynamicObject> {
    let n = &deployment.names;
    let mut spec = serde_json::json!({
        "parentRefs": [{
            "group": crate::gateway_api::GATEWAY_GROUP, "kind": "Gateway",
            "name": deployment.gateway.1, "namespace": deployment.gateway.0,
            "sectionName": deployment.listener.name
        }],
        "rules": [{
            "matches": route_matches(&deployment.broker_config),
            "backendRefs": [{ "name": n.broker, "port": BROKER_PORT }]
        }]
    });
    if let Some(host) = &deployment.public_host {
        spec["hostnames"] = serde_json::json!([host]);
    }
    typed(
        "broker HTTPRoute",
        serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": metadata(&n.route, &n.namespace, instance(deployment), owner),
            "spec": spec,
        }),
    )
}
