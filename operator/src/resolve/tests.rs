use super::*;
use crate::gateway_api::{
    BackendRef, HttpRouteRule, ParentReference, ReferenceGrantFrom, ReferenceGrantTo,
};

fn registration(namespace: &str, route_namespace: Option<&str>) -> MCPServerRegistration {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "mcp.wasm-gateway.io/v1alpha1", "kind": "MCPServerRegistration",
        "metadata": { "name": "weather", "namespace": namespace },
        "spec": { "targetRef": { "name": "route", "namespace": route_namespace }, "prefix": "w_" }
    }))
    .expect("registration")
}

fn route(section: Option<&str>, port: u16) -> HttpRouteSpec {
    HttpRouteSpec {
        parent_refs: vec![ParentReference {
            name: "gw".to_owned(),
            namespace: Some("gateways".to_owned()),
            section_name: section.map(str::to_owned),
            ..ParentReference::default()
        }],
        hostnames: vec!["weather.internal".to_owned()],
        rules: vec![HttpRouteRule {
            backend_refs: vec![BackendRef {
                name: "svc".to_owned(),
                port: Some(port),
                ..BackendRef::default()
            }],
        }],
    }
}

fn snapshot_with_route_in(namespace: &str) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.routes.insert(
        (namespace.to_owned(), "route".to_owned()),
        route(None, 8080),
    );
    snapshot
        .services
        .insert((namespace.to_owned(), "svc".to_owned()), vec![8080]);
    snapshot
}

fn grant(to_name: Option<&str>) -> (String, ReferenceGrantSpec) {
    (
        "routes".to_owned(),
        ReferenceGrantSpec {
            from: vec![ReferenceGrantFrom {
                group: API_GROUP.to_owned(),
                kind: "MCPServerRegistration".to_owned(),
                namespace: "team".to_owned(),
            }],
            to: vec![ReferenceGrantTo {
                group: GATEWAY_GROUP.to_owned(),
                kind: "HTTPRoute".to_owned(),
                name: to_name.map(str::to_owned),
            }],
        },
    )
}

#[test]
fn a_route_in_the_same_namespace_resolves_to_the_service_and_istio_cluster() {
    let server = resolve(
        &registration("team", None),
        &snapshot_with_route_in("team"),
        "cluster.local",
    )
    .expect("resolved");
    assert_eq!(server.name, "team.weather");
    assert_eq!(server.url, "http://svc.team.svc.cluster.local:8080/mcp");
    assert_eq!(server.authority, "weather.internal");
    assert_eq!(server.cluster, "outbound|8080||svc.team.svc.cluster.local");
}

#[test]
fn a_route_in_another_namespace_needs_a_reference_grant_naming_it() {
    let mut snapshot = snapshot_with_route_in("routes");
    let refused = resolve(
        &registration("team", Some("routes")),
        &snapshot,
        "cluster.local",
    )
    .expect_err("no grant");
    assert_eq!(refused.reason, Reason::ReferenceGrantRequired);
    assert!(
        refused.message.contains("namespace \"routes\""),
        "{}",
        refused.message
    );

    snapshot.grants.push(grant(Some("another-route")));
    assert!(
        resolve(
            &registration("team", Some("routes")),
            &snapshot,
            "cluster.local"
        )
        .is_err()
    );

    snapshot.grants.push(grant(Some("route")));
    assert!(
        resolve(
            &registration("team", Some("routes")),
            &snapshot,
            "cluster.local"
        )
        .is_ok()
    );
}

#[test]
fn a_backend_port_the_service_lacks_is_an_invalid_target() {
    let mut snapshot = snapshot_with_route_in("team");
    snapshot
        .routes
        .insert(("team".to_owned(), "route".to_owned()), route(None, 9999));
    let refused =
        resolve(&registration("team", None), &snapshot, "cluster.local").expect_err("bad port");
    assert_eq!(refused.reason, Reason::InvalidTarget);
    assert!(
        refused.message.contains("no port 9999"),
        "{}",
        refused.message
    );
}

#[test]
fn a_route_attaches_to_a_listener_by_gateway_and_optional_section() {
    let extension: MCPGatewayExtension = serde_json::from_value(serde_json::json!({
        "apiVersion": "mcp.wasm-gateway.io/v1alpha1", "kind": "MCPGatewayExtension",
        "metadata": { "name": "mcp", "namespace": "mcp" },
        "spec": { "targetRef": { "name": "gw", "namespace": "gateways", "sectionName": "mcp" } }
    }))
    .expect("extension");
    let snapshot = Snapshot::default();
    assert!(route_attaches(
        &extension,
        &snapshot,
        "team",
        &route(None, 80)
    ));
    assert!(route_attaches(
        &extension,
        &snapshot,
        "team",
        &route(Some("mcp"), 80)
    ));
    assert!(!route_attaches(
        &extension,
        &snapshot,
        "team",
        &route(Some("web"), 80)
    ));
    let mut elsewhere = route(None, 80);
    elsewhere.parent_refs[0].namespace = None;
    assert!(
        !route_attaches(&extension, &snapshot, "team", &elsewhere),
        "a parentRef without namespace means the route's"
    );
}
