//! [`build_route_table`]: the one place a route table is assembled.

use std::collections::{HashMap, HashSet};

use mcp_protocol::{headers, names};
use sha2::{Digest, Sha256};

use crate::types::{
    AccessRules, BrokerRoute, Entry, Limits, RouterConfig, SCHEMA_VERSION, ServerRoute,
    SessionSettings,
};

/// The parts of a route table that do not come from upstream servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableSettings {
    pub mcp_path: String,
    pub limits: Limits,
    pub broker: BrokerRoute,
    pub sessions: SessionSettings,
    pub access: AccessRules,
    pub policy: crate::policy::Policy,
}

/// A built route table and what the builder had to leave out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableBuild {
    pub config: RouterConfig,
    /// Everything dropped or overridden, in input order; empty when every
    /// server and tool made it in.
    pub issues: Vec<BuildIssue>,
}

/// Why a server or tool is not in the table as declared. Serialised (in the
/// broker's `/status`) for the operator, which turns issues into the
/// registrations' conditions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BuildIssue {
    /// The server's name, prefix, authority or path is invalid; the server
    /// was left out.
    InvalidServer { server: String, reason: String },
    /// A server of the same name came earlier; this one was left out.
    DuplicateServer { server: String },
    /// An earlier server has the same non-empty prefix; this one was left
    /// out, because prefix routing could not tell them apart.
    PrefixConflict {
        server: String,
        prefix: String,
        owner: String,
    },
    /// The entry's exposed name or URI cannot be routed (see
    /// [`names::is_routable_tool_name`], [`names::is_routable_uri`]); the
    /// entry was left out.
    InvalidEntry {
        entry: Entry,
        server: String,
        name: String,
        reason: String,
    },
    /// Two servers expose the same name (or URI, or URI template); the
    /// earlier server keeps it.
    NameConflict {
        entry: Entry,
        name: String,
        kept: String,
        dropped: String,
    },
}

impl std::fmt::Display for BuildIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildIssue::InvalidServer { server, reason } => {
                write!(f, "server {server:?} left out: {reason}")
            }
            BuildIssue::DuplicateServer { server } => {
                write!(
                    f,
                    "server {server:?} left out: an earlier server has the same name"
                )
            }
            BuildIssue::PrefixConflict {
                server,
                prefix,
                owner,
            } => write!(
                f,
                "server {server:?} left out: prefix {prefix:?} is already used by server {owner:?}"
            ),
            BuildIssue::InvalidEntry {
                entry,
                server,
                name,
                reason,
            } => write!(
                f,
                "{} {name:?} of server {server:?} left out: {reason}",
                entry.noun()
            ),
            BuildIssue::NameConflict {
                entry,
                name,
                kept,
                dropped,
            } => write!(
                f,
                "{} {name:?} is exposed by servers {kept:?} and {dropped:?}; {kept:?} keeps it (listed first)",
                entry.noun()
            ),
        }
    }
}

/// Builds the route table from settings and upstream servers.
///
/// `upstreams` are in priority order; each carries its declared route and
/// the upstream names of the tools discovered on it (possibly none, e.g.
/// while it is down: its prefix still routes to it, so callers get a clear
/// "unavailable" error rather than "unknown tool").
///
/// Deterministic: the same input gives the same table, byte for byte. Rules:
/// - a server with an invalid name, prefix, authority or path, a duplicate
///   name, or a non-empty prefix already taken is left out;
/// - a tool or prompt whose exposed name (`prefix + name`), or a resource
///   or template whose URI, is not routable is left out; repeated entries
///   within one server count once;
/// - an exposed name (or URI, or template) claimed by two servers goes to
///   the one listed first, kind by kind.
///
/// Every omission is reported in [`RouteTableBuild::issues`].
pub fn build_route_table(
    settings: RouteTableSettings,
    upstreams: Vec<ServerRoute>,
) -> RouteTableBuild {
    let mut issues = Vec::new();
    let mut servers = Vec::with_capacity(upstreams.len());
    let mut server_names = HashSet::new();
    let mut prefix_owner: HashMap<String, String> = HashMap::new();
    // Per kind: exposed name (or URI) → the server that keeps it.
    let mut owners: HashMap<Entry, HashMap<String, String>> = HashMap::new();

    for mut upstream in upstreams {
        if let Err(reason) = validate_server(&upstream) {
            issues.push(BuildIssue::InvalidServer {
                server: upstream.name,
                reason,
            });
            continue;
        }
        if !server_names.insert(upstream.name.clone()) {
            issues.push(BuildIssue::DuplicateServer {
                server: upstream.name,
            });
            continue;
        }
        if !upstream.prefix.is_empty() {
            if let Some(owner) = prefix_owner.get(&upstream.prefix) {
                issues.push(BuildIssue::PrefixConflict {
                    server: upstream.name,
                    prefix: upstream.prefix,
                    owner: owner.clone(),
                });
                continue;
            }
            prefix_owner.insert(upstream.prefix.clone(), upstream.name.clone());
        }

        for entry in Entry::ALL {
            let discovered = upstream.take_entries(entry);
            let owners = owners.entry(entry).or_default();
            let mut seen = HashSet::with_capacity(discovered.len());
            for name in discovered {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let exposed = if entry.is_prefixed() {
                    names::exposed_name(&upstream.prefix, &name)
                } else {
                    name.clone()
                };
                if let Err(reason) = routable(entry, &exposed) {
                    issues.push(BuildIssue::InvalidEntry {
                        entry,
                        server: upstream.name.clone(),
                        name,
                        reason,
                    });
                    continue;
                }
                match owners.get(&exposed) {
                    Some(kept) => issues.push(BuildIssue::NameConflict {
                        entry,
                        name: exposed,
                        kept: kept.clone(),
                        dropped: upstream.name.clone(),
                    }),
                    None => {
                        owners.insert(exposed, upstream.name.clone());
                        upstream.push_entry(entry, name);
                    }
                }
            }
        }
        servers.push(upstream);
    }

    let mut config = RouterConfig {
        version: SCHEMA_VERSION,
        id: String::new(),
        mcp_path: settings.mcp_path,
        limits: settings.limits,
        broker: settings.broker,
        sessions: settings.sessions,
        access: settings.access,
        policy: settings.policy,
        servers,
    };
    config.id = table_id(&config);
    RouteTableBuild { config, issues }
}

/// Whether an exposed entry can be routed: names go into headers, and so
/// do URIs (percent-encoded where they are not ASCII).
fn routable(entry: Entry, exposed: &str) -> Result<(), String> {
    if entry.is_prefixed() {
        if names::is_routable_tool_name(exposed) {
            return Ok(());
        }
        return Err(format!(
            "a routable name is 1 to {} bytes with no control characters",
            names::MAX_TOOL_NAME_LEN
        ));
    }
    if !names::is_routable_uri(exposed) {
        return Err(format!(
            "a routable URI is 1 to {} bytes with no control characters or spaces",
            names::MAX_URI_LEN
        ));
    }
    if entry == Entry::ResourceTemplate {
        crate::uri_template::UriTemplate::parse(exposed)
            .map_err(|error| format!("not an RFC 6570 URI template: {error}"))?;
    }
    Ok(())
}

/// A table's id: 16 hex digits of SHA-256 over its JSON without the id.
/// Equal tables get equal ids, whoever built them.
fn table_id(config: &RouterConfig) -> String {
    let digest = Sha256::digest(config.to_json().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn validate_server(server: &ServerRoute) -> Result<(), String> {
    if !names::is_valid_server_name(&server.name) {
        return Err(
            "a server name is 1 to 63 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit"
                .to_owned(),
        );
    }
    if !names::is_valid_prefix(&server.prefix) {
        return Err(format!(
            "prefix {:?} does not match ^[a-z0-9][a-z0-9_]*$",
            server.prefix
        ));
    }
    if server.authority.is_empty() || !is_header_token_text(&server.authority) {
        return Err(format!(
            "authority {:?} must be a non-empty host[:port]",
            server.authority
        ));
    }
    if !server.path.starts_with('/') || !is_header_token_text(&server.path) {
        return Err(format!(
            "path {:?} must start with '/' and hold no spaces or control characters",
            server.path
        ));
    }
    if let Some(header) = server.forward_headers.iter().find(|h| {
        *h == headers::AUTHORIZATION || !headers::CLIENT_CREDENTIALS.contains(&h.as_str())
    }) {
        return Err(format!(
            "forwardHeaders entry {header:?} is not one of the credential headers the router removes ({}; authorization has its own switch)",
            headers::CLIENT_CREDENTIALS[1..].join(", ")
        ));
    }
    if let Some(cluster) = &server.cluster
        && (cluster.is_empty() || !is_header_token_text(cluster))
    {
        return Err(format!("cluster {cluster:?} must be a non-empty name"));
    }
    Ok(())
}

/// Visible ASCII only: safe to place in a header value.
fn is_header_token_text(value: &str) -> bool {
    value.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests;
