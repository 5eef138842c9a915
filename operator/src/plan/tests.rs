use super::*;
use crate::crd::MCPServerRegistration;
use crate::discovery::BrokerStatus;
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

/// Plans the extension of `snapshot` as the controller does once the
/// broker has run: the broker (simulated with its own table builder, from
/// the broker configuration the plan writes) found `tools` on those servers.
fn planned(snapshot: &Snapshot, tools: &[(&str, &[&str])]) -> ExtensionPlan {
    let extension = &snapshot.extensions[0];
    let settings = Settings::default();
    let unknown = Discovery::Unknown {
        error: "not asked yet".to_owned(),
    };
    let first = plan_extension(extension, snapshot, &unknown, &settings);
    let config = first.deployment.expect("deployed").broker_config;
    let found = tools
        .iter()
        .map(|(server, names)| {
            (
                (*server).to_owned(),
                mcp_broker::simulate::Found::Tools(names.iter().map(|n| (*n).to_owned()).collect()),
            )
        })
        .collect();
    let status = mcp_broker::simulate::status(&config, &found).expect("the broker resolves it");
    let status: BrokerStatus = serde_json::from_value(status).expect("a broker status");
    plan_extension(
        extension,
        snapshot,
        &Discovery::Reported(Box::new(status)),
        &settings,
    )
}

fn outcome<'p>(plan: &'p ExtensionPlan, name: &str) -> &'p RegistrationOutcome {
    &plan
        .registrations
        .iter()
        .find(|(k, _)| k.1 == name)
        .unwrap_or_else(|| panic!("no outcome for {name}"))
        .1
}

#[test]
fn a_disabled_registration_is_in_neither_the_broker_config_nor_the_table() {
    let snapshot = snapshot(&[("on", "on_", "Enabled"), ("off", "off_", "Disabled")]);
    let plan = planned(&snapshot, &[("mcp.on", &["t"])]);
    let deployment = plan.deployment.clone().expect("deployed");
    let config: Vec<_> = deployment
        .broker_config
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(config, ["mcp.on"]);
    let table = deployment.route_table.expect("published");
    let servers: Vec<_> = table.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(servers, ["mcp.on"]);
    assert_eq!(outcome(&plan, "off").readiness.reason, Reason::Disabled);
}

#[test]
fn the_distributed_table_is_the_one_the_broker_built_with_the_routes_of_the_mesh() {
    let snapshot = snapshot(&[("up", "", "Enabled"), ("starting", "", "Enabled")]);
    let plan = planned(&snapshot, &[("mcp.up", &["a", "b"])]);
    let table = plan
        .deployment
        .clone()
        .expect("deployed")
        .route_table
        .expect("published");
    let tools: Vec<_> = table.exposed_tools().map(|t| t.name).collect();
    assert_eq!(tools, ["a", "b"]);
    assert!(!table.id.is_empty(), "the broker names its table");
    let up = table
        .servers
        .iter()
        .find(|s| s.name == "mcp.up")
        .expect("up is routed");
    assert_eq!(up.authority, "up.internal");
    assert_eq!(
        up.cluster.as_deref(),
        Some("outbound|80||svc.mcp.svc.cluster.local")
    );
    assert_eq!(
        table.broker.cluster,
        "outbound|8090||mcp-broker.mcp.svc.cluster.local"
    );
    let starting = outcome(&plan, "starting");
    assert_eq!(starting.readiness.reason, Reason::NotReady);
    assert!(
        starting.readiness.message.contains("connecting"),
        "{}",
        starting.readiness.message
    );
}

#[test]
fn until_the_broker_publishes_a_table_no_filter_is_written() {
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
    let deployment = plan.deployment.expect("deployed");
    assert!(deployment.route_table.is_none());
    assert!(
        crate::desired::filter::filter_objects(&deployment, &Settings::default())
            .expect("objects")
            .is_empty()
    );
    assert_eq!(
        deployment.broker_config.servers.len(),
        1,
        "the broker is configured"
    );
    assert_eq!(plan.registrations[0].1.readiness.reason, Reason::NotReady);
}

#[test]
fn a_prefix_conflict_the_broker_reports_is_the_later_registrations_condition() {
    let snapshot = snapshot(&[
        ("first", "same_", "Enabled"),
        ("second", "same_", "Enabled"),
    ]);
    let plan = planned(&snapshot, &[("mcp.first", &["t"]), ("mcp.second", &["u"])]);
    assert_eq!(outcome(&plan, "first").readiness.reason, Reason::Ready);
    let second = outcome(&plan, "second");
    assert_eq!(second.readiness.reason, Reason::PrefixConflict);
    assert!(
        second.readiness.message.contains("mcp/first"),
        "{}",
        second.readiness.message
    );
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
