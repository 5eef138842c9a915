//! Manifests written for Kuadrant's MCP gateway apply here after changing
//! their `apiVersion` only, on a real kube-apiserver: both spellings of the
//! tool prefix (`prefix`, `toolPrefix`), both ways of naming the Gateway
//! (`targetRef` with `sectionName` inside; `gatewayRef` with a top-level
//! `sectionName`), and the tutorial's HTTPRoute without `hostnames`. The
//! operator resolves each one and writes the canonical form in status.
//! (The manifests are ours, written in those shapes.)

mod support;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::Api;
use mcp_operator::controller::{self, RunConfig};
use mcp_operator::crd::{MCPGatewayExtension, MCPServerRegistration};
use mcp_operator::discovery::HttpStatusSource;
use mcp_operator::plan::Settings;
use support::cluster::{self, ApiServer, eventually};

const WAIT: Duration = Duration::from_secs(45);

const MANIFESTS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: mcp-gateway, namespace: gateway-system}
spec:
  gatewayClassName: istio
  listeners:
  - {name: mcp, port: 8080, protocol: HTTP, hostname: mcp.example.com}
  - {name: other, port: 8081, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: single, namespace: gateway-system}
spec:
  gatewayClassName: istio
  listeners:
  - {name: only, port: 9090, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow-extensions, namespace: gateway-system}
spec:
  from:
  - {group: mcp.wasm-gateway.io, kind: MCPGatewayExtension, namespace: mcp-system}
  - {group: mcp.wasm-gateway.io, kind: MCPGatewayExtension, namespace: mcp-other}
  to:
  - {group: gateway.networking.k8s.io, kind: Gateway}
---
# Kuadrant's targetRef form: the listener inside the reference.
apiVersion: mcp.wasm-gateway.io/v1alpha1
kind: MCPGatewayExtension
metadata: {name: mcp, namespace: mcp-system}
spec:
  targetRef:
    group: gateway.networking.k8s.io
    kind: Gateway
    name: mcp-gateway
    namespace: gateway-system
    sectionName: mcp
---
# Kuadrant's gatewayRef form: the listener beside the reference.
apiVersion: mcp.wasm-gateway.io/v1alpha1
kind: MCPGatewayExtension
metadata: {name: other, namespace: mcp-other}
spec:
  gatewayRef: {name: mcp-gateway, namespace: gateway-system}
  sectionName: other
---
# No listener named: the Gateway's only one.
apiVersion: mcp.wasm-gateway.io/v1alpha1
kind: MCPGatewayExtension
metadata: {name: single, namespace: mcp-system}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: single, namespace: gateway-system}
---
apiVersion: v1
kind: Service
metadata: {name: weather, namespace: team-a}
spec:
  ports: [{name: http, port: 8000, protocol: TCP}]
---
# The tutorial's route: no hostnames, only the server's Service.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: weather, namespace: team-a}
spec:
  parentRefs: [{name: mcp-gateway, namespace: gateway-system, sectionName: mcp}]
  rules:
  - backendRefs: [{name: weather, port: 8000}]
---
apiVersion: mcp.wasm-gateway.io/v1alpha1
kind: MCPServerRegistration
metadata: {name: weather, namespace: team-a}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: weather}
  toolPrefix: weather_
---
apiVersion: v1
kind: Service
metadata: {name: docs, namespace: team-b}
spec:
  ports: [{name: http, port: 3000, protocol: TCP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: docs, namespace: team-b}
spec:
  parentRefs: [{name: mcp-gateway, namespace: gateway-system, sectionName: other}]
  hostnames: [docs.mcp.internal]
  rules:
  - backendRefs: [{name: docs, port: 3000}]
---
apiVersion: mcp.wasm-gateway.io/v1alpha1
kind: MCPServerRegistration
metadata: {name: docs, namespace: team-b}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: docs}
  prefix: docs_
"#;

#[tokio::test]
async fn kuadrant_shaped_manifests_apply_and_are_read_canonically() {
    let Some(server) = ApiServer::start() else {
        return;
    };
    let client = server.client().await;
    cluster::install_crds(
        &client,
        &std::fs::read_to_string(cluster::repo_root().join("wasm-plugins/kubernetes/crds.yaml"))
            .expect("crds.yaml"),
    )
    .await;
    let dir = cluster::repo_root().join("testdata/kubernetes/crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("crds")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for file in files {
        cluster::install_crds(&client, &std::fs::read_to_string(&file).expect("crd")).await;
    }
    for namespace in [
        "gateway-system",
        "mcp-system",
        "mcp-other",
        "team-a",
        "team-b",
    ] {
        cluster::apply_yaml(
            &client,
            &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n"),
        )
        .await;
    }
    cluster::apply_yaml(&client, MANIFESTS).await;
    let operator = start_operator(&client);

    // Both spellings of the Gateway reference, and the defaulted listener.
    for (namespace, name, gateway, listener) in [
        ("mcp-system", "mcp", "mcp-gateway", "mcp"),
        ("mcp-other", "other", "mcp-gateway", "other"),
        ("mcp-system", "single", "single", "only"),
    ] {
        let api = Api::<MCPGatewayExtension>::namespaced(client.clone(), namespace);
        let target = eventually(
            &format!("{namespace}/{name} names its listener"),
            WAIT,
            || async { api.get(name).await.ok()?.status?.target_ref },
        )
        .await;
        assert_eq!(target.name, gateway, "{namespace}/{name}");
        assert_eq!(target.namespace.as_deref(), Some("gateway-system"));
        assert_eq!(
            target.section_name.as_deref(),
            Some(listener),
            "{namespace}/{name}"
        );
        assert_eq!(target.kind, "Gateway");
    }

    // Both spellings of the prefix, and the route without hostnames: the
    // registrations resolve (they wait for their broker, nothing is
    // invalid) and status shows the prefix in force.
    for (namespace, name, prefix) in [
        ("team-a", "weather", "weather_"),
        ("team-b", "docs", "docs_"),
    ] {
        let api = Api::<MCPServerRegistration>::namespaced(client.clone(), namespace);
        let status = eventually(
            &format!("{namespace}/{name} has a status"),
            WAIT,
            || async {
                let status = api.get(name).await.ok()?.status?;
                (!status.prefix.is_empty()).then_some(status)
            },
        )
        .await;
        assert_eq!(status.prefix, prefix);
        let condition = status.conditions.first().expect("a condition");
        assert_ne!(condition.reason, "InvalidTarget", "{}", condition.message);
    }

    // The hostname-less route is reached by its Service's cluster name.
    let secret = eventually(
        "the broker configuration of mcp-system/mcp",
        WAIT,
        || async {
            let secret =
                Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "mcp-system")
                    .get("mcp-broker-config")
                    .await
                    .ok()?;
            let data = secret.data?;
            String::from_utf8(data.get("gateway.yaml")?.0.clone()).ok()
        },
    )
    .await;
    let config: mcp_broker::config::GatewayConfig =
        serde_yaml_ng::from_str(&secret).expect("the broker's configuration");
    let weather = config
        .servers
        .iter()
        .find(|s| s.name == "team-a.weather")
        .expect("weather configured");
    let route = weather.gateway_route.as_ref().expect("a gateway route");
    assert_eq!(route.authority, "weather.team-a.svc.cluster.local:8000");
    assert_eq!(
        route.cluster.as_deref(),
        Some("outbound|8000||weather.team-a.svc.cluster.local")
    );
    assert_eq!(weather.prefix, "weather_");
    operator.abort();
}

fn start_operator(client: &Client) -> tokio::task::JoinHandle<()> {
    let config = RunConfig {
        settings: Settings::default(),
        discovery_interval: Duration::from_millis(500),
        // No broker runs: discovery stays unknown, which is enough here.
        status_source: Arc::new(
            HttpStatusSource::new(Some("http://127.0.0.1:9/status".to_owned()))
                .expect("http client"),
        ),
    };
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) = controller::run(client, config).await {
            panic!("operator stopped: {error}");
        }
    })
}
