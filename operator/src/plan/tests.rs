use super::*;
use crate::crd::MCPServerRegistration;
use crate::discovery::{BrokerStatus, UpstreamStatus};
use crate::gateway_api::{BackendRef, GatewaySpec, HttpRouteRule, HttpRouteSpec, ParentReference};

fn snapshot(registrations: &[(&str, &str, &str)]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.gateways.insert(
        ("mcp".to_owned(), "gw".to_owned()),
        GatewaySpec {
            listeners: vec![Listener {
                name: "mcp".to_owned(),
                hostname: None,
                port: 8080,
                protocol: "HTTP".to_owned(),
            }],
        },
    );
    snapshot.extensions.push(
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mcp.wasm-gateway.io/v1alpha1", "kind": "MCPGatewayExtension",
            "metadata": { "name": "mcp", "namespace": "mcp" },
            "spec": { "targetRef": { "name": "gw", "sectionName": "mcp" } }
        }))
        .expect("extension"),
    );
    snapshot
        .services
        .insert(("mcp".to_owned(), "svc".to_owned()), vec![80]);
    for (name, prefix, state) in registrations {
        snapshot.routes.insert(
            ("mcp".to_owned(), (*name).to_owned()),
            HttpRouteSpec {
                parent_refs: vec![ParentReference {
                    name: "gw".to_owned(),
                    ..ParentReference::default()
                }],
                hostnames: vec![format!("{name}.internal")],
                rules: vec![HttpRouteRule {
                    backend_refs: vec![BackendRef {
                        name: "svc".to_owned(),
                        port: Some(80),
                        ..BackendRef::default()
                    }],
                }],
            },
        );
        let registration: MCPServerRegistration = serde_json::from_value(serde_json::json!({
            "apiVersion": "mcp.wasm-gateway.io/v1alpha1", "kind": "MCPServerRegistration",
            "metadata": { "name": name, "namespace": "mcp" },
            "spec": { "targetRef": { "name": name }, "prefix": prefix, "state": state }
        }))
        .expect("registration");
        snapshot.registrations.push(registration);
    }
    snapshot
}

fn reported(servers: &[(&str, &str, &[&str])]) -> Discovery {
    Discovery::Reported(BrokerStatus {
        ready: true,
        servers: servers
            .iter()
            .map(|(name, health, tools)| UpstreamStatus {
                name: (*name).to_owned(),
                health: (*health).to_owned(),
                tools: tools.iter().map(|t| (*t).to_owned()).collect(),
                last_error: None,
            })
            .collect(),
    })
}

#[test]
fn a_disabled_registration_is_in_neither_the_broker_config_nor_the_table() {
    let snapshot = snapshot(&[("on", "on_", "Enabled"), ("off", "off_", "Disabled")]);
    let plan = plan_extension(
        &snapshot.extensions[0],
        &snapshot,
        &reported(&[]),
        &Settings::default(),
    );
    let deployment = plan.deployment.expect("deployed");
    let config: Vec<_> = deployment
        .broker_config
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(config, ["mcp.on"]);
    let table: Vec<_> = deployment
        .route_table
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(table, ["mcp.on"]);
    let off = plan
        .registrations
        .iter()
        .find(|(k, _)| k.1 == "off")
        .expect("off");
    assert_eq!(off.1.readiness.reason, Reason::Disabled);
}

#[test]
fn tools_are_routed_only_while_their_server_is_ready() {
    let snapshot = snapshot(&[("up", "", "Enabled"), ("starting", "", "Enabled")]);
    let discovery = reported(&[
        ("mcp.up", "ready", &["a", "b"]),
        ("mcp.starting", "connecting", &["c"]),
    ]);
    let plan = plan_extension(
        &snapshot.extensions[0],
        &snapshot,
        &discovery,
        &Settings::default(),
    );
    let table = plan.deployment.expect("deployed").route_table;
    let tools: Vec<_> = table.exposed_tools().map(|t| t.name).collect();
    assert_eq!(tools, ["a", "b"]);
    let starting = plan
        .registrations
        .iter()
        .find(|(k, _)| k.1 == "starting")
        .expect("starting");
    assert_eq!(starting.1.readiness.reason, Reason::NotReady);
    assert!(
        starting.1.readiness.message.contains("connecting"),
        "{}",
        starting.1.readiness.message
    );
}

#[test]
fn without_discovery_servers_are_routed_by_prefix_and_wait_for_tools() {
    let snapshot = snapshot(&[("weather", "weather_", "Enabled")]);
    let unknown = Discovery::Unknown {
        error: "connection refused".to_owned(),
    };
    let plan = plan_extension(
        &snapshot.extensions[0],
        &snapshot,
        &unknown,
        &Settings::default(),
    );
    assert_eq!(plan.readiness.reason, Reason::BrokerNotReady);
    let table = plan.deployment.expect("deployed").route_table;
    assert_eq!(table.servers[0].prefix, "weather_");
    assert!(table.servers[0].tools.is_empty());
    assert_eq!(plan.registrations[0].1.readiness.reason, Reason::NotReady);
}

#[test]
fn a_virtual_server_names_the_tools_the_gateway_lacks() {
    let spec = crate::crd::MCPVirtualServerSpec {
        description: String::new(),
        tools: vec!["weather_forecast".to_owned(), "typo".to_owned()],
        prompts: None,
    };
    let exposed = ["weather_forecast".to_owned()];
    let readiness = virtual_server_readiness(&spec, "mcp", Some(&exposed));
    assert_eq!(readiness.reason, Reason::UnknownTools);
    assert!(readiness.message.contains("typo"));
    assert_eq!(
        virtual_server_readiness(&spec, "mcp", None).reason,
        Reason::NotReady
    );
}
