//! The pure core: from a [`Snapshot`] and the broker's discovery, what one
//! `MCPGatewayExtension` should produce — the broker's configuration (in
//! the broker's own types) and the route table to distribute, which is the
//! one the broker built and published: the operator never builds a table of
//! its own — and what every registration's and the extension's `Ready`
//! condition should say.

use std::collections::BTreeMap;

use gateway_config::GatewayConfig;
use kube::ResourceExt;
use router_config::{BuildIssue, RouterConfig};

use crate::API_GROUP;
use crate::conditions::{Readiness, Reason};
use crate::crd::{GatewayTargetReference, MCPGatewayExtension, ServerState};
use crate::discovery::Discovery;
use crate::gateway_api::{CrossReference, GATEWAY_GROUP, Listener};
use crate::resolve::{self, Key, ResolvedServer, Snapshot};

mod readiness;

use readiness::{extension_readiness, server_outcome};
pub use readiness::{unclaimed, virtual_server_readiness};

/// The broker's port, in its container and on its Service.
pub const BROKER_PORT: u16 = 8090;
/// The MCP endpoint's path on the gateway.
pub const MCP_PATH: &str = "/mcp";

/// Which Istio resource carries the router filter (see `docs/kubernetes.md`,
/// "Why an EnvoyFilter").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FilterApi {
    /// An `EnvoyFilter` adding the complete Wasm extension through ECDS,
    /// with `allow_on_headers_stop_iteration: true`, plus an
    /// `AuthorizationPolicy` that puts the RBAC filter in the chain, so the
    /// router runs after authentication and before authorization. Works today.
    EnvoyFilter,
    /// A `WasmPlugin` (phase AUTHZ). Istio's WasmPlugin cannot set
    /// `allow_on_headers_stop_iteration`, so the router never receives MCP
    /// request bodies: only for proxies that default it on.
    WasmPlugin,
}

/// Operator-wide settings of what is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cluster_domain: String,
    pub broker_image: String,
    /// The router's Wasm module: `oci://…` or `https://…`.
    pub router_url: String,
    pub router_sha256: Option<String>,
    pub filter_api: FilterApi,
    /// `WasmPlugin.spec.priority` (higher runs first within the phase).
    pub wasm_priority: i32,
    /// The mesh's trust domain, in workload principals
    /// (`<trust domain>/ns/<namespace>/sa/<service account>`).
    pub trust_domain: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cluster_domain: "cluster.local".to_owned(),
            broker_image: "ghcr.io/mcp-wasm-gateway/mcp-broker:0.1.0".to_owned(),
            router_url: "oci://ghcr.io/mcp-wasm-gateway/mcp-router:0.1.0".to_owned(),
            router_sha256: None,
            filter_api: FilterApi::EnvoyFilter,
            wasm_priority: 100,
            trust_domain: "cluster.local".to_owned(),
        }
    }
}

/// Names of everything deployed for one extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub namespace: String,
    /// Deployment, Service and ServiceAccount.
    pub broker: String,
    pub config_secret: String,
    pub session_secret: String,
    pub credentials_secret: String,
    /// The HTTPRoute sending `/mcp` to the broker.
    pub route: String,
    /// Namespace of the Gateway: where the filter resources go.
    pub gateway_namespace: String,
    /// EnvoyFilter, AuthorizationPolicy or WasmPlugin.
    pub filter: String,
}

impl Names {
    pub fn of(extension: &MCPGatewayExtension) -> Names {
        let namespace = extension.namespace().unwrap_or_default();
        let name = extension.name_any();
        let gateway_namespace = resolve::extension_target(extension)
            .map(|t| t.namespace)
            .unwrap_or_else(|_| namespace.clone());
        Names {
            broker: format!("{name}-broker"),
            config_secret: format!("{name}-broker-config"),
            session_secret: format!("{name}-broker-session"),
            credentials_secret: format!("{name}-broker-credentials"),
            route: format!("{name}-mcp"),
            filter: format!("mcp-router-{namespace}-{name}"),
            gateway_namespace,
            namespace,
        }
    }

    /// The broker Service's in-cluster host name.
    pub fn broker_host(&self, cluster_domain: &str) -> String {
        format!("{}.{}.svc.{cluster_domain}", self.broker, self.namespace)
    }
}

/// What one extension should produce, and every condition it decides.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionPlan {
    pub readiness: Readiness,
    /// `None` when the extension cannot be served (its condition says why);
    /// nothing is deployed or changed then.
    pub deployment: Option<Deployment>,
    /// Outcomes of the registrations this extension serves, in table order.
    pub registrations: Vec<(Key, RegistrationOutcome)>,
}

/// Everything deployed for an extension, before it becomes objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub names: Names,
    pub gateway: Key,
    /// The listener in force, canonically (`status.targetRef`).
    pub target: GatewayTargetReference,
    pub listener: Listener,
    pub public_host: Option<String>,
    /// The Secret holding the Redis URL of the session store, when the
    /// extension names one (the broker then runs more than one replica).
    pub session_store_secret: Option<String>,
    pub broker_config: GatewayConfig,
    /// Server name → `Authorization` value.
    pub credentials: BTreeMap<String, String>,
    /// The table the broker built and published, to distribute unchanged;
    /// `None` until it has published one (the filter objects wait).
    pub route_table: Option<RouterConfig>,
    pub issues: Vec<BuildIssue>,
}

/// A registration's `Ready` condition and discovered tool count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationOutcome {
    pub readiness: Readiness,
    pub discovered_tools: u32,
    pub server_name: String,
}

/// Plans one extension.
pub fn plan_extension(
    extension: &MCPGatewayExtension,
    snapshot: &Snapshot,
    discovery: &Discovery,
    settings: &Settings,
) -> ExtensionPlan {
    let names = Names::of(extension);
    let listener = match target_listener(extension, snapshot) {
        Ok(listener) => listener,
        Err(readiness) => {
            return ExtensionPlan {
                readiness,
                deployment: None,
                registrations: Vec::new(),
            };
        }
    };
    let Some((gw_ns, gw_name, section)) = resolve::extension_listener(extension, snapshot) else {
        // target_listener refused it already; unreachable.
        return ExtensionPlan {
            readiness: Readiness::new(Reason::InvalidTarget, "no listener"),
            deployment: None,
            registrations: Vec::new(),
        };
    };
    let deployment_gateway_ns = gw_ns.clone();

    // Registrations whose route attaches to this listener, oldest first.
    let mut claimed: Vec<_> = snapshot
        .registrations
        .iter()
        .filter(|r| {
            resolve::claiming_extensions(r, snapshot)
                .first()
                .is_some_and(|e| {
                    e.namespace() == extension.namespace() && e.name_any() == extension.name_any()
                })
        })
        .collect();
    claimed.sort_by_key(|r| resolve::age_key(*r));

    let mut outcomes: Vec<(Key, RegistrationOutcome)> = Vec::new();
    let mut resolved: Vec<ResolvedServer> = Vec::new();
    for registration in claimed {
        let key = (
            registration.namespace().unwrap_or_default(),
            registration.name_any(),
        );
        let server_name = resolve::server_name(&key.0, &key.1);
        let failed = |readiness| RegistrationOutcome {
            readiness,
            discovered_tools: 0,
            server_name: server_name.clone(),
        };
        if registration.spec.state == ServerState::Disabled {
            let readiness = Readiness::new(
                Reason::Disabled,
                "spec.state is Disabled: the broker does not connect to this server and its tools are not routed",
            );
            outcomes.push((key, failed(readiness)));
            continue;
        }
        match resolve::resolve(registration, snapshot, &settings.cluster_domain) {
            Ok(server) => resolved.push(server),
            Err(readiness) => outcomes.push((key, failed(readiness))),
        }
    }

    let status = discovery.status();
    let route_table = status.and_then(|s| s.route_table.table.clone());
    let issues = status.map(|s| s.build_issues.clone()).unwrap_or_default();
    let in_table = |name: &str| {
        route_table
            .as_ref()
            .is_none_or(|t| t.servers.iter().any(|s| s.name == name))
    };
    let position = |name: &str| {
        route_table
            .as_ref()
            .and_then(|t| t.servers.iter().position(|s| s.name == name))
            .unwrap_or(usize::MAX)
    };

    let mut credentials = BTreeMap::new();
    for server in &resolved {
        if let Some(value) = &server.credential {
            credentials.insert(server.name.clone(), value.clone());
        }
        let outcome = server_outcome(
            server,
            &issues,
            in_table(&server.name),
            discovery,
            extension,
        );
        outcomes.push((server.registration.clone(), outcome));
    }
    outcomes.sort_by_key(|(key, _)| position(&resolve::server_name(&key.0, &key.1)));

    let public_host = extension
        .spec
        .public_host
        .clone()
        .or_else(|| listener.hostname.clone().filter(|h| !h.contains('*')));
    let mut broker_config = crate::desired::broker::broker_config(
        &resolved,
        &names,
        settings,
        public_host.as_deref(),
        extension.spec.backend_ping_interval_seconds,
        extension.spec.session_store.is_some(),
    );
    crate::desired::access::apply(&mut broker_config, extension, &snapshot.virtual_servers);
    let readiness = extension_readiness(route_table.as_ref(), &issues, discovery, &names, settings);
    ExtensionPlan {
        readiness,
        deployment: Some(Deployment {
            names,
            gateway: (gw_ns, gw_name.clone()),
            target: GatewayTargetReference {
                group: crate::gateway_api::GATEWAY_GROUP.to_owned(),
                kind: "Gateway".to_owned(),
                name: gw_name,
                namespace: Some(deployment_gateway_ns),
                section_name: Some(section),
            },
            listener,
            public_host,
            session_store_secret: extension
                .spec
                .session_store
                .as_ref()
                .map(|store| store.secret_name.clone()),
            broker_config,
            credentials,
            route_table,
            issues,
        }),
        registrations: outcomes,
    }
}

/// The Gateway listener an extension targets, if it can be served.
fn target_listener(
    extension: &MCPGatewayExtension,
    snapshot: &Snapshot,
) -> Result<Listener, Readiness> {
    let namespace = extension.namespace().unwrap_or_default();
    let name = extension.name_any();
    if name.len() > 56 {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!(
                "the name {name:?} is too long: the broker Service \"<name>-broker\" must fit in 63 characters"
            ),
        ));
    }
    let target = resolve::extension_target(extension)
        .map_err(|problem| Readiness::new(Reason::InvalidTarget, problem))?;
    let (gw_ns, gw_name) = (target.namespace.clone(), target.name.clone());
    if target.group != GATEWAY_GROUP || target.kind != "Gateway" {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!(
                "targetRef must be a {GATEWAY_GROUP} Gateway, not {} {}",
                target.group, target.kind
            ),
        ));
    }
    let reference = CrossReference {
        from_group: API_GROUP,
        from_kind: "MCPGatewayExtension",
        from_namespace: &namespace,
        to_group: GATEWAY_GROUP,
        to_kind: "Gateway",
        to_namespace: &gw_ns,
        to_name: &gw_name,
    };
    if !reference.is_allowed(snapshot.grants.iter().map(|(ns, g)| (ns.as_str(), g))) {
        return Err(Readiness::new(
            Reason::ReferenceGrantRequired,
            format!(
                "Gateway {gw_ns}/{gw_name} is in another namespace: {}",
                reference.grant_hint()
            ),
        ));
    }
    let Some(gateway) = snapshot.gateways.get(&(gw_ns.clone(), gw_name.clone())) else {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!("Gateway {gw_ns}/{gw_name} not found"),
        ));
    };
    let known: Vec<_> = gateway.listeners.iter().map(|l| l.name.as_str()).collect();
    let Some((_, _, section)) = resolve::extension_listener(extension, snapshot) else {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!(
                "Gateway {gw_ns}/{gw_name} has {} listeners ({known:?}): name one with targetRef.sectionName",
                known.len()
            ),
        ));
    };
    let Some(listener) = gateway.listeners.iter().find(|l| l.name == section) else {
        return Err(Readiness::new(
            Reason::InvalidTarget,
            format!(
                "Gateway {gw_ns}/{gw_name} has no listener {section:?} (it has {known:?}): set targetRef.sectionName"
            ),
        ));
    };
    let older = snapshot.extensions.iter().filter(|other| {
        resolve::extension_listener(other, snapshot)
            == Some((gw_ns.clone(), gw_name.clone(), section.clone()))
            && resolve::age_key(*other) < resolve::age_key(extension)
    });
    if let Some(owner) = older.min_by_key(|e| resolve::age_key(*e)) {
        return Err(Readiness::new(
            Reason::Conflict,
            format!(
                "MCPGatewayExtension {}/{} already serves listener {section:?} of Gateway {gw_ns}/{gw_name}: delete one of them",
                owner.namespace().unwrap_or_default(),
                owner.name_any()
            ),
        ));
    }
    Ok(listener.clone())
}

#[cfg(test)]
mod tests;
