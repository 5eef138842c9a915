//! The operator against a real API server (kube-apiserver 1.20 + etcd, see
//! `scripts/kube-apiserver/`), with our CRDs, the Gateway API and
//! Istio CRDs (vendored in `testdata/kubernetes/crds`), and a real broker
//! discovering real MCP servers (`mcp-test-server`) on loopback.
//!
//! The API server has no controller-manager, scheduler or kubelet: the
//! broker Deployment never runs, so the operator reads `/status` from a
//! broker process started here (`--broker-status-url` in production terms),
//! configured with the same server names the registrations produce.
//!
//! Skipped unless `MCP_KUBE_APISERVER` names the binary (`just test` sets
//! it after `just setup-kube`).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use mcp_operator::controller::{self, RunConfig};
use mcp_operator::crd::{MCPGatewayExtension, MCPServerRegistration};
use mcp_operator::discovery::HttpStatusSource;
use mcp_operator::gateway_api::{
    authorization_policy_resource, envoy_filter_resource, peer_authentication_resource,
    wasm_plugin_resource,
};
use mcp_operator::plan::{FilterApi, Settings};
use router_config::RouterConfig;
use support::cluster::{self, ApiServer, eventually};

const WAIT: Duration = Duration::from_secs(45);
const FILTER: &str = "mcp-router-mcp-system-mcp";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_follows_registrations_on_a_real_api_server() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::new("mcp_operator=debug"))
        .try_init();
    let Some(server) = ApiServer::start() else {
        return;
    };
    let client = server.client().await;
    install(&client).await;
    // The operator runs as its ServiceAccount, with only the ClusterRole of
    // wasm-plugins/kubernetes/rbac.yaml.
    let operator_client = server
        .client_as_service_account("mcp-operator", "mcp-operator")
        .await;

    // Real upstreams, reached here at loopback URLs instead of their
    // Services' cluster names.
    let (_weather, weather_url) = cluster::test_server("weather");
    let (_docs, docs_url) = cluster::test_server("docs");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = cluster::free_port();
    let broker_url = format!("http://127.0.0.1:{port}");

    for namespace in ["gateway-system", "mcp-system", "team-a", "team-b"] {
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))
                .expect("ns");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
    }
    let sample = std::fs::read_to_string(
        cluster::repo_root().join("testdata/kubernetes/cases/basic/input.yaml"),
    )
    .expect("sample");
    cluster::apply_yaml(&client, &strip_server_fields(&sample)).await;

    let operator = start_operator(&operator_client, &broker_url, FilterApi::EnvoyFilter);
    // The broker runs from the configuration the operator wrote, in the
    // broker's own types, and follows its changes as a Pod would.
    let _broker = support::broker_pod::start(
        &client,
        "mcp-system",
        "mcp-broker",
        support::broker_pod::Local {
            dir: dir.path().to_owned(),
            port,
            services: BTreeMap::from([
                (
                    "weather.team-a.svc.cluster.local".to_owned(),
                    weather_url.clone(),
                ),
                ("docs.team-b.svc.cluster.local".to_owned(), docs_url.clone()),
            ]),
        },
    )
    .await;

    // The filter carries the route table with the tools the broker found.
    let table = eventually(
        "the EnvoyFilter's route table has both servers' tools",
        WAIT,
        || {
            envoy_filter_table(&client, |t| {
                tools_of(t, "team-a.weather").contains(&"echo".to_owned())
                    && tools_of(t, "team-b.docs").len() >= 3
            })
        },
    )
    .await;
    assert_eq!(names(&table), ["team-a.weather", "team-b.docs"]);
    assert_eq!(table.servers[0].prefix, "weather_");
    assert_eq!(table.servers[0].authority, "weather.mcp.internal");
    assert_eq!(
        table.servers[0].cluster.as_deref(),
        Some("outbound|8080||weather.team-a.svc.cluster.local")
    );
    assert_eq!(table.servers[1].path, "/v1/mcp");
    assert_eq!(
        table.broker.cluster,
        "outbound|8090||mcp-broker.mcp-system.svc.cluster.local"
    );
    let filter = get(&client, &envoy_filter_resource(), "gateway-system", FILTER)
        .await
        .expect("EnvoyFilter");
    let wasm = &filter.data["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["config"];
    assert_eq!(wasm["allow_on_headers_stop_iteration"], true);
    assert_eq!(
        filter.data["spec"]["configPatches"][1]["patch"]["operation"],
        "INSERT_BEFORE"
    );
    eventually(
        "the AuthorizationPolicy that anchors the filter exists",
        WAIT,
        || async {
            get(
                &client,
                &authorization_policy_resource(),
                "gateway-system",
                FILTER,
            )
            .await
        },
    )
    .await;
    // Beside the broker: mutual TLS required, and only the gateway admitted
    // to its session API (applied with the operator's own RBAC).
    let admitted = eventually("the broker's AuthorizationPolicy exists", WAIT, || async {
        get(
            &client,
            &authorization_policy_resource(),
            "mcp-system",
            "mcp-broker",
        )
        .await
    })
    .await;
    assert_eq!(
        admitted.data["spec"]["rules"][0]["from"][0]["source"]["principals"][0],
        "cluster.local/ns/gateway-system/sa/mcp-gateway-istio"
    );
    let peer = get(
        &client,
        &peer_authentication_resource(),
        "mcp-system",
        "mcp-broker",
    )
    .await
    .expect("PeerAuthentication");
    assert_eq!(peer.data["spec"]["mtls"]["mode"], "STRICT");

    // The broker's configuration Secret, as the broker reads it.
    let config = broker_config_text(&client).await;
    let parsed =
        mcp_broker::config::GatewayConfig::parse(&config, "gateway.yaml".as_ref(), "/".as_ref())
            .expect("the broker accepts the operator's configuration");
    let servers: Vec<_> = parsed.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(servers, ["team-a.weather", "team-b.docs"]);
    assert_eq!(
        parsed.servers[0].url.as_str(),
        "http://weather.team-a.svc.cluster.local:8080/mcp"
    );
    assert!(
        parsed.servers[0]
            .credential
            .as_ref()
            .and_then(|c| c.file.as_ref())
            .is_some()
    );

    // Status: every registration says where it stands.
    let weather = ready(&client, "team-a", "weather", "True", "Ready").await;
    assert_eq!(weather.status.as_ref().map(|s| s.discovered_tools), Some(3));
    assert_eq!(
        weather
            .status
            .as_ref()
            .and_then(|s| s.conditions[0].observed_generation),
        weather.metadata.generation
    );
    ready(&client, "team-b", "docs", "True", "Ready").await;
    ready(&client, "team-b", "legacy", "False", "Disabled").await;
    eventually("the extension is Ready", WAIT, || async {
        let extension = Api::<MCPGatewayExtension>::namespaced(client.clone(), "mcp-system")
            .get("mcp")
            .await
            .ok()?;
        let status = extension.status?;
        (status.conditions.first()?.status == "True" && status.servers == 2).then_some(())
    })
    .await;
    let events = Api::<DynamicObject>::namespaced_with(client.clone(), "team-a", &event_resource())
        .list(&Default::default())
        .await
        .expect("events");
    assert!(
        events.items.iter().any(|e| e.data["reason"] == "Ready"),
        "a Ready event for team-a/weather"
    );

    // A tool added upstream is listed only once it is routable: the broker
    // lists the catalogue of the table the asking proxy routes with (here:
    // the table in the EnvoyFilter, whose id the router would send).
    let session = broker_session(&broker_url).await;
    reqwest::Client::new()
        .post(weather_url.replace("/mcp", "/admin/enable-late"))
        .send()
        .await
        .expect("enable late");
    eventually("the new tool `late` is listed", WAIT, || async {
        let table = envoy_filter_table(&client, |_| true).await?;
        let listed = list_tools(&broker_url, &session, &table.id).await;
        let routable: Vec<String> = table.exposed_tools().map(|t| t.name).collect();
        for name in &listed {
            assert!(
                routable.contains(name),
                "{name} is listed but the filter's table {} cannot route it",
                table.id
            );
        }
        listed.contains(&"weather_late".to_owned()).then_some(())
    })
    .await;

    // A second registration claiming the same prefix is refused, visibly.
    cluster::apply_yaml(
        &client,
        "apiVersion: mcp.wasm-gateway.io/v1alpha1\nkind: MCPServerRegistration\nmetadata: {name: weather-copy, namespace: team-a}\n\
         spec: {targetRef: {name: weather}, prefix: weather_}\n",
    )
    .await;
    ready(&client, "team-a", "weather-copy", "False", "PrefixConflict").await;

    // Delete a registration: its tools go, from the filter and the broker.
    registrations(&client, "team-b")
        .delete("docs", &DeleteParams::default())
        .await
        .expect("delete docs");
    eventually("team-b.docs leaves the route table", WAIT, || {
        envoy_filter_table(&client, |t| !names(t).contains(&"team-b.docs"))
    })
    .await;
    eventually(
        "team-b.docs leaves the broker configuration",
        WAIT,
        || async { (!broker_config_text(&client).await.contains("team-b.docs")).then_some(()) },
    )
    .await;

    // Delete the extension: everything it deployed goes, in both namespaces.
    let extensions = Api::<MCPGatewayExtension>::namespaced(client.clone(), "mcp-system");
    extensions
        .delete("mcp", &DeleteParams::default())
        .await
        .expect("delete extension");
    eventually(
        "the extension and what it deployed are gone",
        WAIT,
        || async {
            let gone = extensions.get_opt("mcp").await.ok()?.is_none()
                && get(&client, &envoy_filter_resource(), "gateway-system", FILTER)
                    .await
                    .is_none()
                && get(
                    &client,
                    &authorization_policy_resource(),
                    "gateway-system",
                    FILTER,
                )
                .await
                .is_none()
                && Api::<Secret>::namespaced(client.clone(), "mcp-system")
                    .get_opt("mcp-broker-config")
                    .await
                    .ok()?
                    .is_none()
                && Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
                    client.clone(),
                    "mcp-system",
                )
                .get_opt("mcp-broker")
                .await
                .ok()?
                .is_none();
            gone.then_some(())
        },
    )
    .await;
    ready(&client, "team-a", "weather", "False", "NotReady").await;

    // Re-create it: the same state comes back.
    cluster::apply_yaml(&client, &extension_yaml()).await;
    eventually("the re-created extension converges", WAIT, || {
        envoy_filter_table(&client, |t| {
            names(t) == ["team-a.weather"] && tools_of(t, "team-a.weather").len() == 4
        })
    })
    .await;
    ready(&client, "team-a", "weather", "True", "Ready").await;

    // Switch the operator to the WasmPlugin API: the EnvoyFilter pair goes.
    operator.abort();
    let _ = operator.await;
    let operator = start_operator(&operator_client, &broker_url, FilterApi::WasmPlugin);
    let plugin = eventually("the WasmPlugin carries the route table", WAIT, || async {
        let plugin = get(&client, &wasm_plugin_resource(), "gateway-system", FILTER).await?;
        let table: RouterConfig =
            serde_json::from_value(plugin.data["spec"]["pluginConfig"].clone()).ok()?;
        (names(&table) == ["team-a.weather"]).then_some(plugin)
    })
    .await;
    assert_eq!(plugin.data["spec"]["phase"], "AUTHZ");
    assert_eq!(plugin.data["spec"]["failStrategy"], "FAIL_CLOSE");
    eventually(
        "the EnvoyFilter and its AuthorizationPolicy are removed",
        WAIT,
        || async {
            (get(&client, &envoy_filter_resource(), "gateway-system", FILTER)
                .await
                .is_none()
                && get(
                    &client,
                    &authorization_policy_resource(),
                    "gateway-system",
                    FILTER,
                )
                .await
                .is_none())
            .then_some(())
        },
    )
    .await;
    operator.abort();
}

/// Installs what `kubectl apply -k wasm-plugins/kubernetes` installs (the
/// operator's Deployment is accepted but never runs here), plus the
/// Gateway API and Istio CRDs.
async fn install(client: &Client) {
    let install = cluster::repo_root().join("wasm-plugins/kubernetes");
    cluster::install_crds(
        client,
        &std::fs::read_to_string(install.join("crds.yaml")).expect("crds.yaml"),
    )
    .await;
    for file in ["namespace.yaml", "rbac.yaml", "operator.yaml"] {
        cluster::apply_yaml(
            client,
            &std::fs::read_to_string(install.join(file)).expect("manifest"),
        )
        .await;
    }
    let dir = cluster::repo_root().join("testdata/kubernetes/crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("crds")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for file in files {
        cluster::install_crds(client, &std::fs::read_to_string(&file).expect("crd file")).await;
    }
}

fn start_operator(
    client: &Client,
    broker_url: &str,
    filter_api: FilterApi,
) -> tokio::task::JoinHandle<()> {
    let config = RunConfig {
        settings: Settings {
            filter_api,
            ..Settings::default()
        },
        discovery_interval: Duration::from_millis(500),
        status_source: Arc::new(
            HttpStatusSource::new(Some(format!("{broker_url}/status"))).expect("http client"),
        ),
    };
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) = controller::run(client, config).await {
            panic!("operator stopped: {error}");
        }
    })
}

/// The sample's fixed uids and timestamps are for the pure tests; the API
/// server assigns its own.
fn strip_server_fields(yaml: &str) -> String {
    yaml.lines()
        .map(|line| {
            let line = regex_lite_remove(line, ", uid: ");
            regex_lite_remove(&line, ", creationTimestamp: ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes `, key: value` up to the closing brace of a flow mapping.
fn regex_lite_remove(line: &str, key: &str) -> String {
    match line.find(key) {
        Some(start) => {
            let rest = &line[start + key.len()..];
            let end = rest.find('}').unwrap_or(rest.len());
            format!("{}{}", &line[..start], &rest[end..])
        }
        None => line.to_owned(),
    }
}

fn extension_yaml() -> String {
    let sample = std::fs::read_to_string(
        cluster::repo_root().join("testdata/kubernetes/cases/basic/input.yaml"),
    )
    .expect("sample");
    strip_server_fields(&sample)
        .split("\n---\n")
        .find(|d| d.lines().any(|l| l == "kind: MCPGatewayExtension"))
        .expect("extension in the sample")
        .to_owned()
}

fn registrations(client: &Client, namespace: &str) -> Api<MCPServerRegistration> {
    Api::namespaced(client.clone(), namespace)
}

/// Waits until a registration's Ready condition has `status` and `reason`.
async fn ready(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> MCPServerRegistration {
    let api = registrations(client, namespace);
    eventually(
        &format!("{namespace}/{name} Ready={status} ({reason})"),
        WAIT,
        || {
            let api = api.clone();
            async move {
                let registration = api.get(name).await.ok()?;
                let condition = registration.status.as_ref()?.conditions.first()?.clone();
                (condition.status == status && condition.reason == reason).then_some(registration)
            }
        },
    )
    .await
}

async fn get(
    client: &Client,
    resource: &kube::api::ApiResource,
    namespace: &str,
    name: &str,
) -> Option<DynamicObject> {
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, resource)
        .get_opt(name)
        .await
        .ok()
        .flatten()
}

/// The route table in the EnvoyFilter, once `accept` holds for it.
async fn envoy_filter_table(
    client: &Client,
    accept: impl Fn(&RouterConfig) -> bool,
) -> Option<RouterConfig> {
    let filter = get(client, &envoy_filter_resource(), "gateway-system", FILTER).await?;
    let value = filter.data["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["config"]
        ["configuration"]["value"]
        .as_str()?
        .to_owned();
    let table = RouterConfig::from_json(value.as_bytes()).ok()?;
    accept(&table).then_some(table)
}

fn names(table: &RouterConfig) -> Vec<&str> {
    table.servers.iter().map(|s| s.name.as_str()).collect()
}

fn tools_of(table: &RouterConfig, server: &str) -> Vec<String> {
    table
        .servers
        .iter()
        .find(|s| s.name == server)
        .map(|s| s.tools.clone())
        .unwrap_or_default()
}

/// A gateway session opened directly on the broker.
async fn broker_session(broker_url: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{broker_url}/mcp"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"operator-test","version":"1"}}}"#)
        .send()
        .await
        .expect("initialize");
    response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned()
}

/// The broker's `tools/list` for a proxy routing with table `table_id`.
async fn list_tools(broker_url: &str, session: &str, table_id: &str) -> Vec<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{broker_url}/mcp"))
        .header("content-type", "application/json")
        .header("mcp-session-id", session)
        .header("x-mcp-route-table", table_id)
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .send()
        .await
        .expect("tools/list")
        .json()
        .await
        .expect("json");
    body["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn broker_config_text(client: &Client) -> String {
    let secret = Api::<Secret>::namespaced(client.clone(), "mcp-system")
        .get("mcp-broker-config")
        .await
        .expect("broker config Secret");
    let data = secret.data.unwrap_or_default();
    String::from_utf8(
        data.get("gateway.yaml")
            .map(|b| b.0.clone())
            .unwrap_or_default(),
    )
    .expect("utf-8")
}

fn event_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("events.k8s.io", "v1", "Event"),
        "events",
    )
}
