//! The compiled route table: the plugin configuration turned into lookup
//! structures once per configuration, so each request does one hash lookup
//! (plus a scan of the few server prefixes, or resource templates, on a
//! miss).
//!
//! # Who owns a resource URI
//!
//! Resource URIs are exposed unchanged (tools and prompts get their
//! server's prefix; URIs do not). A URI is the upstream's own identifier:
//! it appears inside tool results (`resource_link`, embedded resources),
//! prompt messages and `notifications/resources/updated`, which the gateway
//! relays byte for byte. Rewriting URIs per server (Envoy's native router
//! makes `server+scheme://...`) would have to rewrite every one of those
//! places, and a URI the gateway missed would not resolve. Unchanged URIs
//! resolve wherever the client found them, so `resources/read` of a URI
//! goes, in this order, to:
//!
//! 1. the server that lists it (`resources/list`; a URI two servers list
//!    belongs to the one listed first, and the conflict is reported);
//! 2. the first server (in table order) with a resource template the URI
//!    matches ([`router_config::uri_template`]);
//! 3. the only server whose listed URIs or templates use its scheme (a
//!    `resource_link` to a resource nobody lists, such as a file a tool
//!    just wrote).
//!
//! The trade-off: two servers that use the same URI for different things
//! cannot both serve it (the second is reported in `/status`), and a URI of
//! a scheme several servers share, listed by none and matching no template,
//! is unknown. Servers of one product usually have distinct schemes; where
//! they do not, prefer distinct hosts in their URIs.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

use router_config::uri_template::UriTemplate;
use router_config::{BrokerRoute, Entry, RouterConfig, ServerRoute};

/// Keys come from trusted configuration, so a fixed-key hasher is safe
/// (clients only look up) and needs no entropy from the host.
type FixedState = BuildHasherDefault<DefaultHasher>;

/// A route table ready for lookups.
#[derive(Debug)]
pub struct RouteTable {
    config: RouterConfig,
    /// Exposed tool name → (server index, index in that server's tools).
    tools: HashMap<String, (usize, usize), FixedState>,
    /// Exposed prompt name → (server index, index in its prompts).
    prompts: HashMap<String, (usize, usize), FixedState>,
    /// (prefix, server index) for servers with a prefix, longest first.
    prefixes: Vec<(String, usize)>,
    /// Listed resource URI → server index.
    resources: HashMap<String, usize, FixedState>,
    /// Resource template (as written) → server index.
    template_names: HashMap<String, usize, FixedState>,
    /// Parsed templates in table order, with their server index.
    templates: Vec<(UriTemplate, usize)>,
    /// URI scheme → its server, when only one server uses it.
    schemes: HashMap<String, Option<usize>, FixedState>,
    /// Slots of the session cache (a power of two).
    cache_slots: u32,
}

/// Where one call by name (a tool's or a prompt's) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRoute<'t> {
    pub server: &'t ServerRoute,
    /// Index of `server` in the table, a stable key for per-server state.
    pub server_index: usize,
    /// The name as the upstream knows it.
    pub upstream_name: &'t str,
    /// Whether the name was found by prefix rather than listed.
    pub by_prefix: bool,
}

/// How a resource URI's owner was found (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceMatch {
    Listed,
    Template,
    Scheme,
}

/// Where a call about one resource URI goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceRoute<'t> {
    pub server: &'t ServerRoute,
    pub server_index: usize,
    pub matched: ResourceMatch,
}

impl RouteTable {
    /// Compiles a parsed configuration. Never fails: the route table builder
    /// already resolved conflicts; should a hand-written table list a name
    /// twice, the first listing wins, as the builder's rule says, and a
    /// template that does not parse is left out.
    pub fn new(config: RouterConfig) -> Self {
        let names = |entry: Entry| {
            let mut exact = HashMap::with_capacity_and_hasher(
                config.servers.iter().map(|s| s.entries(entry).len()).sum(),
                FixedState::default(),
            );
            for (server_index, server) in config.servers.iter().enumerate() {
                for (index, name) in server.entries(entry).iter().enumerate() {
                    exact
                        .entry(mcp_protocol::names::exposed_name(&server.prefix, name))
                        .or_insert((server_index, index));
                }
            }
            exact
        };
        let tools = names(Entry::Tool);
        let prompts = names(Entry::Prompt);
        let mut prefixes = Vec::new();
        let mut resources = HashMap::with_hasher(FixedState::default());
        let mut template_names = HashMap::with_hasher(FixedState::default());
        let mut templates = Vec::new();
        let mut schemes: HashMap<String, Option<usize>, FixedState> =
            HashMap::with_hasher(FixedState::default());
        for (server_index, server) in config.servers.iter().enumerate() {
            if !server.prefix.is_empty() {
                prefixes.push((server.prefix.clone(), server_index));
            }
            for uri in &server.resources {
                resources.entry(uri.clone()).or_insert(server_index);
            }
            for template in &server.resource_templates {
                template_names
                    .entry(template.clone())
                    .or_insert(server_index);
                if let Ok(parsed) = UriTemplate::parse(template) {
                    templates.push((parsed, server_index));
                }
            }
            for uri in server.resources.iter().chain(&server.resource_templates) {
                if let Some(scheme) = scheme(uri) {
                    let owner = schemes
                        .entry(scheme.to_owned())
                        .or_insert(Some(server_index));
                    if *owner != Some(server_index) {
                        *owner = None;
                    }
                }
            }
        }
        // Longest prefix first, so "a_b_" wins over "a_" for "a_b_tool".
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        RouteTable {
            cache_slots: crate::session_cache::slot_count(config.sessions.cache_slots),
            config,
            tools,
            prompts,
            prefixes,
            resources,
            template_names,
            templates,
            schemes,
        }
    }

    /// Finds the route of an exposed tool name: an exact listing first,
    /// then the longest server prefix that leaves a non-empty upstream name.
    pub fn lookup<'a>(&'a self, exposed: &'a str) -> Option<NameRoute<'a>> {
        self.lookup_name(Entry::Tool, exposed)
    }

    /// Finds the route of an exposed prompt name, by the rules of tools.
    pub fn lookup_prompt<'a>(&'a self, exposed: &'a str) -> Option<NameRoute<'a>> {
        self.lookup_name(Entry::Prompt, exposed)
    }

    fn lookup_name<'a>(&'a self, entry: Entry, exposed: &'a str) -> Option<NameRoute<'a>> {
        let exact = match entry {
            Entry::Prompt => &self.prompts,
            _ => &self.tools,
        };
        if let Some(&(server_index, index)) = exact.get(exposed) {
            let server = self.config.servers.get(server_index)?;
            return Some(NameRoute {
                server,
                server_index,
                upstream_name: server.entries(entry).get(index)?,
                by_prefix: false,
            });
        }
        self.prefixes.iter().find_map(|(prefix, server_index)| {
            let rest = exposed.strip_prefix(prefix.as_str())?;
            if rest.is_empty() {
                return None;
            }
            Some(NameRoute {
                server: self.config.servers.get(*server_index)?,
                server_index: *server_index,
                upstream_name: rest,
                by_prefix: true,
            })
        })
    }

    /// Finds the owner of a resource URI (see the module documentation).
    pub fn lookup_resource(&self, uri: &str) -> Option<ResourceRoute<'_>> {
        let route = |server_index: usize, matched| {
            Some(ResourceRoute {
                server: self.config.servers.get(server_index)?,
                server_index,
                matched,
            })
        };
        if let Some(&server_index) = self.resources.get(uri) {
            return route(server_index, ResourceMatch::Listed);
        }
        // The literal prefix (`scheme://host/`) rules most templates out
        // before the matcher runs.
        if let Some((_, server_index)) = self
            .templates
            .iter()
            .find(|(t, _)| uri.starts_with(t.literal_prefix()) && t.matches(uri))
        {
            return route(*server_index, ResourceMatch::Template);
        }
        let owner = scheme(uri).and_then(|s| self.schemes.get(s).copied().flatten())?;
        route(owner, ResourceMatch::Scheme)
    }

    /// Finds the owner of the `uri` of a `completion/complete` reference:
    /// a resource template as listed, or else a resource URI.
    pub fn lookup_resource_reference(&self, uri: &str) -> Option<ResourceRoute<'_>> {
        match self.template_names.get(uri) {
            Some(&server_index) => Some(ResourceRoute {
                server: self.config.servers.get(server_index)?,
                server_index,
                matched: ResourceMatch::Template,
            }),
            None => self.lookup_resource(uri),
        }
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    pub fn mcp_path(&self) -> &str {
        &self.config.mcp_path
    }

    pub fn broker(&self) -> &BrokerRoute {
        &self.config.broker
    }

    pub fn max_body_bytes(&self) -> usize {
        self.config.limits.max_request_body_bytes as usize
    }

    pub fn servers(&self) -> &[ServerRoute] {
        &self.config.servers
    }

    /// The index of the server named `name`.
    pub fn server_index(&self, name: &str) -> Option<usize> {
        self.config.servers.iter().position(|s| s.name == name)
    }

    /// Slots of the session cache in shared data (a power of two).
    pub fn cache_slots(&self) -> u32 {
        self.cache_slots
    }

    /// Number of tools routed by exact name.
    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}

/// The scheme of a URI (RFC 3986 §3.1: a letter, then letters, digits,
/// `+ - .`, before the first `:`), lower-cased comparisons aside.
fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut bytes = scheme.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests;
