//! From a registration to an upstream server: its HTTPRoute, Service,
//! credential and ReferenceGrants, read from a [`Snapshot`] of the cluster.
//! Pure: the controller fills the snapshot, these functions decide.

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::API_GROUP;
use crate::conditions::{Readiness, Reason};
use crate::crd::{MCPGatewayExtension, MCPServerRegistration};
use crate::gateway_api::{
    CrossReference, GATEWAY_GROUP, GatewaySpec, HttpRouteSpec, ReferenceGrantSpec,
};

/// `(namespace, name)` of a namespaced object.
pub type Key = (String, String);

/// What the pure core needs to know of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub registrations: Vec<MCPServerRegistration>,
    pub extensions: Vec<MCPGatewayExtension>,
    pub routes: BTreeMap<Key, HttpRouteSpec>,
    pub gateways: BTreeMap<Key, GatewaySpec>,
    /// Service ports, for the Services registrations' routes point at.
    pub services: BTreeMap<Key, Vec<u16>>,
    /// Referenced credential Secrets: key → value.
    pub secrets: BTreeMap<Key, BTreeMap<String, String>>,
    /// ReferenceGrants by namespace.
    pub grants: Vec<(String, ReferenceGrantSpec)>,
    pub virtual_servers: Vec<crate::crd::MCPVirtualServer>,
}

impl Snapshot {
    fn grants(&self) -> impl Iterator<Item = (&str, &ReferenceGrantSpec)> {
        self.grants.iter().map(|(ns, g)| (ns.as_str(), g))
    }
}

/// A registration resolved into everything the broker and the router need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedServer {
    pub registration: Key,
    /// `namespace.name` of the registration: the route table's server name.
    pub name: String,
    pub prefix: String,
    /// The Service URL the broker connects to.
    pub url: String,
    /// The route's hostname: the `:authority` the router sets.
    pub authority: String,
    pub path: String,
    /// The Service's cluster as Istio names it.
    pub cluster: String,
    /// The route, and the Gateway listeners it attaches to.
    pub route: Key,
    /// The `Authorization` value, when a credential is referenced.
    pub credential: Option<String>,
    /// Something the registration's condition should say (which backend of
    /// several was chosen).
    pub note: Option<String>,
}

/// The server name of a registration in the route table.
pub fn server_name(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

/// The route a registration targets.
pub fn route_key(registration: &MCPServerRegistration) -> Key {
    let namespace = registration.namespace().unwrap_or_default();
    let target = &registration.spec.target_ref;
    (
        target.namespace.clone().unwrap_or(namespace),
        target.name.clone(),
    )
}

/// Resolves one registration. `Err` says why it cannot be served.
pub fn resolve(
    registration: &MCPServerRegistration,
    snapshot: &Snapshot,
    cluster_domain: &str,
) -> Result<ResolvedServer, Readiness> {
    let namespace = registration.namespace().unwrap_or_default();
    let key = (namespace.clone(), registration.name_any());
    let name = server_name(&key.0, &key.1);
    if !mcp_protocol::names::is_valid_server_name(&name) {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!(
                "the server name {name:?} (namespace.name) is longer than 63 characters: use a shorter name"
            ),
        ));
    }
    let spec = &registration.spec;
    let prefix = spec
        .effective_prefix()
        .map_err(|problem| Readiness::new(Reason::InvalidTarget, problem))?
        .to_owned();
    let route = route_key(registration);
    let target = &spec.target_ref;
    if target.group != GATEWAY_GROUP || target.kind != "HTTPRoute" {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!(
                "targetRef must be a {GATEWAY_GROUP} HTTPRoute, not {} {}",
                target.group, target.kind
            ),
        ));
    }
    let to_route = CrossReference {
        from_group: API_GROUP,
        from_kind: "MCPServerRegistration",
        from_namespace: &namespace,
        to_group: GATEWAY_GROUP,
        to_kind: "HTTPRoute",
        to_namespace: &route.0,
        to_name: &route.1,
    };
    if !to_route.is_allowed(snapshot.grants()) {
        return Err(Readiness::new(
            Reason::ReferenceGrantRequired,
            format!(
                "HTTPRoute {}/{} is in another namespace: {}",
                route.0,
                route.1,
                to_route.grant_hint()
            ),
        ));
    }
    let Some(route_spec) = snapshot.routes.get(&route) else {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!("HTTPRoute {}/{} not found", route.0, route.1),
        ));
    };
    let (backend, backends) = first_backend(route_spec).map_err(|problem| {
        Readiness::new(
            Reason::InvalidTarget,
            format!("HTTPRoute {}/{}: {problem}", route.0, route.1),
        )
    })?;
    let service = (
        backend.namespace.clone().unwrap_or_else(|| route.0.clone()),
        backend.name.clone(),
    );
    let to_service = CrossReference {
        from_group: GATEWAY_GROUP,
        from_kind: "HTTPRoute",
        from_namespace: &route.0,
        to_group: "",
        to_kind: "Service",
        to_namespace: &service.0,
        to_name: &service.1,
    };
    if !to_service.is_allowed(snapshot.grants()) {
        return Err(Readiness::new(
            Reason::ReferenceGrantRequired,
            format!(
                "the backend Service {}/{} is in another namespace: {}",
                service.0,
                service.1,
                to_service.grant_hint()
            ),
        ));
    }
    let port = backend.port.unwrap_or_default();
    match snapshot.services.get(&service) {
        None => {
            return Err(Readiness::new(
                Reason::InvalidTarget,
                format!(
                    "Service {}/{} (backend of HTTPRoute {}/{}) not found",
                    service.0, service.1, route.0, route.1
                ),
            ));
        }
        Some(ports) if !ports.contains(&port) => {
            return Err(Readiness::new(
                Reason::InvalidTarget,
                format!(
                    "Service {}/{} has no port {port} (it has {ports:?})",
                    service.0, service.1
                ),
            ));
        }
        Some(_) => {}
    }
    let credential = match &spec.credential_ref {
        None => None,
        Some(reference) => {
            let secret = (namespace.clone(), reference.name.clone());
            let value = snapshot
                .secrets
                .get(&secret)
                .and_then(|data| data.get(&reference.key))
                .filter(|v| !v.is_empty() && !v.bytes().any(|b| b < 0x20 || b == 0x7f))
                .ok_or_else(|| {
                    Readiness::new(
                        Reason::InvalidCredential,
                        format!(
                            "credentialRef: Secret {}/{} must exist and hold a non-empty, single-line key {:?}",
                            secret.0, secret.1, reference.key
                        ),
                    )
                })?;
            Some(value.clone())
        }
    };
    let host = format!("{}.{}.svc.{cluster_domain}", service.1, service.0);
    // The route's host name when it has one; else the Service's own
    // cluster-local name (what Kuadrant's tutorial routes look like). The
    // gateway reaches the server by cluster either way (`x-mcp-cluster`).
    let authority = route_spec
        .hostnames
        .iter()
        .find(|h| !h.contains('*'))
        .cloned()
        .unwrap_or_else(|| format!("{host}:{port}"));
    let note = (backends > 1).then(|| {
        format!(
            "HTTPRoute {}/{} has {backends} backendRefs: using the first, Service {}/{} port {port}",
            route.0, route.1, service.0, service.1
        )
    });
    Ok(ResolvedServer {
        registration: key,
        name,
        prefix,
        url: format!("http://{host}:{port}{}", spec.path),
        authority,
        path: spec.path.clone(),
        cluster: format!("outbound|{port}||{host}"),
        route,
        credential,
        note,
    })
}

/// The route's first backendRef (of its first rule that has one), which
/// must be a Service with a port, and how many Service backends it has.
fn first_backend(
    route: &HttpRouteSpec,
) -> Result<(&crate::gateway_api::BackendRef, usize), String> {
    let backends: Vec<_> = route.rules.iter().flat_map(|r| &r.backend_refs).collect();
    let Some(backend) = backends.first() else {
        return Err(
            "has no backendRef: the gateway needs a Service to reach the server".to_owned(),
        );
    };
    let group = backend.group.as_deref().unwrap_or("");
    let kind = backend.kind.as_deref().unwrap_or("Service");
    if !group.is_empty() || kind != "Service" {
        return Err(format!(
            "its backendRef must be a Service, not {group}/{kind}"
        ));
    }
    if backend.port.is_none() {
        return Err("its backendRef needs a port".to_owned());
    }
    Ok((backend, backends.len()))
}

/// The Gateway (and maybe listener) an extension names, whichever spelling
/// it uses: `targetRef`, or `gatewayRef` with `sectionName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionTarget {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Absent: the Gateway's only listener.
    pub section: Option<String>,
}

/// Reads an extension's target.
///
/// # Errors
/// Neither spelling is set, or both are, naming different listeners.
pub fn extension_target(extension: &MCPGatewayExtension) -> Result<ExtensionTarget, String> {
    let own = extension.namespace().unwrap_or_default();
    let spec = &extension.spec;
    let from_target = spec.target_ref.as_ref().map(|t| ExtensionTarget {
        group: t.group.clone(),
        kind: t.kind.clone(),
        namespace: t.namespace.clone().unwrap_or_else(|| own.clone()),
        name: t.name.clone(),
        section: t.section_name.clone().or_else(|| spec.section_name.clone()),
    });
    let from_gateway = spec.gateway_ref.as_ref().map(|g| ExtensionTarget {
        group: GATEWAY_GROUP.to_owned(),
        kind: "Gateway".to_owned(),
        namespace: g.namespace.clone().unwrap_or_else(|| own.clone()),
        name: g.name.clone(),
        section: spec.section_name.clone(),
    });
    match (from_target, from_gateway) {
        (Some(a), Some(b)) if a != b => {
            Err("targetRef and gatewayRef name different listeners: set one of them".to_owned())
        }
        (Some(target), _) | (None, Some(target)) => Ok(target),
        (None, None) => Err("set targetRef (or gatewayRef with sectionName)".to_owned()),
    }
}

/// The listener an extension extends: `(gateway namespace, gateway name,
/// listener name)`, the listener defaulted to the Gateway's only one.
/// `None` when the target is unusable (its condition says why).
pub fn extension_listener(
    extension: &MCPGatewayExtension,
    snapshot: &Snapshot,
) -> Option<(String, String, String)> {
    let target = extension_target(extension).ok()?;
    let section = match target.section {
        Some(section) => section,
        None => {
            let gateway = snapshot
                .gateways
                .get(&(target.namespace.clone(), target.name.clone()))?;
            match gateway.listeners.as_slice() {
                [only] => only.name.clone(),
                _ => return None,
            }
        }
    };
    Some((target.namespace, target.name, section))
}

/// Whether the HTTPRoute `route` (in `route_namespace`) attaches to the
/// extension's listener: a parentRef to its Gateway without a section, or
/// with that listener's section. Only then does the gateway's route table
/// reach the server when the router rewrites `:authority`.
pub fn route_attaches(
    extension: &MCPGatewayExtension,
    snapshot: &Snapshot,
    route_namespace: &str,
    route: &HttpRouteSpec,
) -> bool {
    let Some((gw_ns, gw_name, section)) = extension_listener(extension, snapshot) else {
        return false;
    };
    route.parent_refs.iter().any(|parent| {
        parent.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
            && parent.kind.as_deref().unwrap_or("Gateway") == "Gateway"
            && parent.name == gw_name
            && parent.namespace.as_deref().unwrap_or(route_namespace) == gw_ns
            && parent.section_name.as_deref().is_none_or(|s| s == section)
    })
}

/// The extensions whose listener a registration's route attaches to,
/// oldest first.
pub fn claiming_extensions<'s>(
    registration: &MCPServerRegistration,
    snapshot: &'s Snapshot,
) -> Vec<&'s MCPGatewayExtension> {
    let route = route_key(registration);
    let Some(spec) = snapshot.routes.get(&route) else {
        return Vec::new();
    };
    let mut claiming: Vec<_> = snapshot
        .extensions
        .iter()
        .filter(|e| route_attaches(e, snapshot, &route.0, spec))
        .collect();
    claiming.sort_by_key(|e| age_key(*e));
    claiming
}

/// Orders objects oldest first, then by namespace and name: the order in
/// which registrations claim names and prefixes, and extensions listeners.
pub fn age_key<K: ResourceExt>(
    object: &K,
) -> (Option<k8s_openapi::jiff::Timestamp>, String, String) {
    (
        object.creation_timestamp().map(|t| t.0),
        object.namespace().unwrap_or_default(),
        object.name_any(),
    )
}

#[cfg(test)]
mod tests;
