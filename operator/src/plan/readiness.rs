//! What the `Ready` conditions say: per registration (from the route
//! table build's issues and the broker's discovery), per extension, for
//! registrations no extension serves, and for virtual servers.

use kube::ResourceExt;
use router_config::{BuildIssue, RouterConfig};

use super::{BROKER_PORT, Names, RegistrationOutcome, Settings};
use crate::conditions::{Readiness, Reason};
use crate::crd::{MCPGatewayExtension, ServerState};
use crate::discovery::Discovery;
use crate::resolve::{self, ResolvedServer, Snapshot};

pub(super) fn server_outcome(
    server: &ResolvedServer,
    issues: &[BuildIssue],
    in_table: bool,
    discovery: &Discovery,
    extension: &MCPGatewayExtension,
) -> RegistrationOutcome {
    let mut notes = Vec::new();
    for issue in issues {
        match issue {
            BuildIssue::InvalidServer { server: s, reason } if *s == server.name => {
                return outcome(
                    server,
                    Readiness::new(Reason::InvalidTarget, reason.clone()),
                    0,
                );
            }
            BuildIssue::PrefixConflict {
                server: s,
                prefix,
                owner,
            } if *s == server.name => {
                let message = format!(
                    "prefix {prefix:?} is already used by registration {} on this gateway (registered earlier): choose another prefix",
                    owner.replacen('.', "/", 1)
                );
                return outcome(server, Readiness::new(Reason::PrefixConflict, message), 0);
            }
            BuildIssue::NameConflict {
                entry,
                name,
                kept,
                dropped,
            } if *dropped == server.name => {
                notes.push(format!(
                    "{} {name:?} is hidden: registration {} exposes it first",
                    entry.noun(),
                    kept.replacen('.', "/", 1)
                ));
            }
            BuildIssue::InvalidEntry {
                entry,
                server: s,
                name,
                reason,
            } if *s == server.name => {
                notes.push(format!("{} {name:?} is not routed: {reason}", entry.noun()));
            }
            _ => {}
        }
    }
    if !in_table {
        return outcome(
            server,
            Readiness::new(Reason::InvalidTarget, "left out of the route table"),
            0,
        );
    }
    let broker = format!(
        "the broker of MCPGatewayExtension {}/{}",
        extension.namespace().unwrap_or_default(),
        extension.name_any()
    );
    let Some(status) = discovery.status() else {
        return outcome(
            server,
            Readiness::new(
                Reason::NotReady,
                format!("waiting for {broker} to report its discovery"),
            ),
            0,
        );
    };
    let Some(upstream) = status.server(&server.name) else {
        return outcome(
            server,
            Readiness::new(
                Reason::NotReady,
                format!("{broker} has not loaded this server yet"),
            ),
            0,
        );
    };
    let count = u32::try_from(upstream.tools.len()).unwrap_or(u32::MAX);
    let readiness = match upstream.health.as_str() {
        "ready" => {
            let exposed = if server.prefix.is_empty() {
                "by their own names".to_owned()
            } else {
                format!("with prefix {:?}", server.prefix)
            };
            let mut found = vec![plural(count as usize, "tool")];
            for (entries, noun) in [
                (&upstream.prompts, "prompt"),
                (&upstream.resources, "resource"),
                (&upstream.resource_templates, "resource template"),
            ] {
                if !entries.is_empty() {
                    found.push(plural(entries.len(), noun));
                }
            }
            notes.insert(
                0,
                format!(
                    "{} discovered at {}, routed {exposed}",
                    found.join(", "),
                    server.url
                ),
            );
            for rejected in &upstream.rejected {
                notes.push(format!(
                    "{} {:?} left out: {}",
                    rejected.entry, rejected.name, rejected.reason
                ));
            }
            if let Some(note) = &server.note {
                notes.push(note.clone());
            }
            Readiness::new(Reason::Ready, notes.join("; "))
        }
        "down" => Readiness::new(
            Reason::NotReady,
            format!(
                "{broker} cannot use {}: {}",
                server.url,
                upstream.last_error.as_deref().unwrap_or("no detail")
            ),
        ),
        other => Readiness::new(
            Reason::NotReady,
            format!("{broker} is {other} to {}", server.url),
        ),
    };
    outcome(server, readiness, count)
}

fn outcome(
    server: &ResolvedServer,
    readiness: Readiness,
    discovered_tools: u32,
) -> RegistrationOutcome {
    RegistrationOutcome {
        readiness,
        discovered_tools,
        server_name: server.name.clone(),
    }
}

pub(super) fn extension_readiness(
    table: Option<&RouterConfig>,
    issues: &[BuildIssue],
    discovery: &Discovery,
    names: &Names,
    settings: &Settings,
) -> Readiness {
    let status_url = format!(
        "http://{}:{BROKER_PORT}/status",
        names.broker_host(&settings.cluster_domain)
    );
    match discovery {
        Discovery::Unknown { error } => Readiness::new(
            Reason::BrokerNotReady,
            format!(
                "broker Deployment {}/{} applied; waiting for {status_url}: {error}",
                names.namespace, names.broker
            ),
        ),
        Discovery::Reported(status) if !status.ready => Readiness::new(
            Reason::BrokerNotReady,
            format!(
                "broker {}/{} is still discovering its upstreams",
                names.namespace, names.broker
            ),
        ),
        Discovery::Reported(_) => {
            let Some(table) = table else {
                return Readiness::new(
                    Reason::BrokerNotReady,
                    format!(
                        "broker {}/{} has not published a route table yet",
                        names.namespace, names.broker
                    ),
                );
            };
            let tools = table.exposed_tools().count();
            let mut message = format!(
                "{} and {} routed; route table {} bytes",
                plural(table.servers.len(), "server"),
                plural(tools, "tool"),
                table.to_json().len()
            );
            if !issues.is_empty() {
                message.push_str(&format!(
                    "; {} left out or hidden (see the registrations' conditions)",
                    issues.len()
                ));
            }
            Readiness::new(Reason::Ready, message)
        }
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The `Ready` condition of a registration no extension serves.
pub fn unclaimed(
    snapshot: &Snapshot,
    registration: &crate::crd::MCPServerRegistration,
) -> Readiness {
    if registration.spec.state == ServerState::Disabled {
        return Readiness::new(Reason::Disabled, "spec.state is Disabled");
    }
    let route = resolve::route_key(registration);
    match snapshot.routes.get(&route) {
        None => Readiness::new(
            Reason::InvalidTarget,
            format!("HTTPRoute {}/{} not found", route.0, route.1),
        ),
        Some(spec) => {
            let parents: Vec<String> = spec
                .parent_refs
                .iter()
                .map(|p| {
                    let ns = p.namespace.as_deref().unwrap_or(&route.0);
                    match &p.section_name {
                        Some(section) => format!("{ns}/{} listener {section}", p.name),
                        None => format!("{ns}/{}", p.name),
                    }
                })
                .collect();
            Readiness::new(
                Reason::NotReady,
                format!(
                    "no MCPGatewayExtension serves the Gateway listeners HTTPRoute {}/{} attaches to ({}): create one targeting that Gateway and listener",
                    route.0,
                    route.1,
                    if parents.is_empty() {
                        "none".to_owned()
                    } else {
                        parents.join(", ")
                    }
                ),
            )
        }
    }
}

/// The `Ready` condition of a virtual server, given the tools exposed by
/// the extension of its namespace (`None`: no extension serves it).
pub fn virtual_server_readiness(
    spec: &crate::crd::MCPVirtualServerSpec,
    namespace: &str,
    exposed: Option<&[String]>,
) -> Readiness {
    let Some(exposed) = exposed else {
        return Readiness::new(
            Reason::NotReady,
            format!(
                "no MCPGatewayExtension in namespace {namespace:?} serves tools: create one there"
            ),
        );
    };
    let unknown: Vec<&str> = spec
        .tools
        .iter()
        .filter(|t| !exposed.contains(t))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        Readiness::new(
            Reason::Ready,
            format!("all {} tools are exposed by the gateway", spec.tools.len()),
        )
    } else {
        Readiness::new(
            Reason::UnknownTools,
            format!(
                "the gateway exposes no tools named {unknown:?}: check the names (prefix included) and the registrations' conditions"
            ),
        )
    }
}
