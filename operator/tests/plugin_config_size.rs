//! The route table for 10,000 tools, against etcd's object limit: a
//! Kubernetes object is stored whole in one etcd value, and etcd refuses
//! requests over 1.5 MiB (`--max-request-bytes`, 1,572,864 by default).
//!
//! Run with `--nocapture` to see the measurements.

use router_config::{BrokerRoute, Limits, RouteTableSettings, ServerRoute, build_route_table};

use mcp_operator::desired::filter;
use mcp_operator::plan::{self, Deployment, Names, Settings};

const ETCD_LIMIT: usize = 1_572_864;

/// 10,000 tools on 100 servers (half with a prefix), with names of
/// `name_len` bytes on average, like `get_customer_invoice_0042`.
fn table(name_len: usize) -> router_config::RouterConfig {
    // What the broker of an extension in mcp-system writes (its Service's
    // mesh cluster and host).
    let settings = RouteTableSettings {
        mcp_path: "/mcp".to_owned(),
        limits: Limits::default(),
        broker: BrokerRoute {
            cluster: "outbound|8090||mcp-broker.mcp-system.svc.cluster.local".to_owned(),
            authority: "mcp-broker.mcp-system.svc.cluster.local:8090".to_owned(),
            session_path: router_config::session_api::PATH.to_owned(),
            timeout_ms: router_config::session_api::DEFAULT_TIMEOUT_MS,
            first_call: Default::default(),
        },
        sessions: Default::default(),
        access: Default::default(),
        policy: Default::default(),
    };
    let servers = (0..100)
        .map(|s| ServerRoute {
            name: format!("team-{s:03}.server-{s:03}"),
            prefix: if s % 2 == 0 {
                format!("srv{s:03}_")
            } else {
                String::new()
            },
            authority: format!("server-{s:03}.mcp.internal"),
            path: "/mcp".to_owned(),
            cluster: Some(format!(
                "outbound|8080||server-{s:03}.team-{s:03}.svc.cluster.local"
            )),
            forward_authorization: false,
            forward_headers: Vec::new(),
            tools: (0..100)
                .map(|t| {
                    let stem = format!("s{s:03}_t{t:03}_");
                    format!("{stem}{}", "x".repeat(name_len.saturating_sub(stem.len())))
                })
                .collect(),
            ..ServerRoute::new("", "", "", "")
        })
        .collect();
    let build = build_route_table(settings, servers);
    assert!(build.issues.is_empty(), "{:?}", build.issues.first());
    build.config
}

fn object_bytes(table: &router_config::RouterConfig, api: plan::FilterApi) -> usize {
    let names = Names {
        namespace: "mcp-system".to_owned(),
        broker: "mcp-broker".to_owned(),
        config_secret: "mcp-broker-config".to_owned(),
        session_secret: "mcp-broker-session".to_owned(),
        credentials_secret: "mcp-broker-credentials".to_owned(),
        route: "mcp-mcp".to_owned(),
        gateway_namespace: "gateway-system".to_owned(),
        filter: "mcp-router-mcp-system-mcp".to_owned(),
    };
    let deployment = Deployment {
        names,
        gateway: ("gateway-system".to_owned(), "mcp-gateway".to_owned()),
        target: mcp_operator::crd::GatewayTargetReference {
            group: "gateway.networking.k8s.io".to_owned(),
            kind: "Gateway".to_owned(),
            name: "mcp-gateway".to_owned(),
            namespace: Some("gateway-system".to_owned()),
            section_name: Some("mcp".to_owned()),
        },
        listener: mcp_operator::gateway_api::Listener {
            name: "mcp".to_owned(),
            hostname: None,
            port: 8080,
            protocol: "HTTP".to_owned(),
        },
        public_host: None,
        session_store_secret: None,
        broker_config: gateway_config::GatewayConfig::default(),
        credentials: Default::default(),
        route_table: Some(table.clone()),
        issues: Vec::new(),
    };
    let settings = Settings {
        filter_api: api,
        ..Settings::default()
    };
    filter::filter_objects(&deployment, &settings)
        .expect("objects")
        .iter()
        .map(|o| serde_json::to_vec(o).expect("json").len())
        .max()
        .unwrap_or_default()
}

#[test]
fn ten_thousand_tools_fit_well_under_the_etcd_limit() {
    for name_len in [24, 48] {
        let table = table(name_len);
        assert_eq!(table.exposed_tools().count(), 10_000);
        let json = table.to_json().len();
        let envoy_filter = object_bytes(&table, plan::FilterApi::EnvoyFilter);
        let wasm_plugin = object_bytes(&table, plan::FilterApi::WasmPlugin);
        eprintln!(
            "10,000 tools, {name_len}-byte names: route table {json} B; EnvoyFilter {envoy_filter} B; WasmPlugin {wasm_plugin} B; etcd limit {ETCD_LIMIT} B"
        );
        // "Well under": at most half the limit, leaving room for metadata,
        // managedFields and growth.
        assert!(
            envoy_filter < ETCD_LIMIT / 2,
            "EnvoyFilter {envoy_filter} B"
        );
        assert!(wasm_plugin < ETCD_LIMIT / 2, "WasmPlugin {wasm_plugin} B");
    }
}
