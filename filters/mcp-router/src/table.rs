//! The compiled route table: the plugin configuration turned into lookup
//! structures once per configuration, so each request does one hash lookup
//! (plus a scan of the few server prefixes, or resource templates, on a
//! miss).
//!
//! Resource URIs are found by [`router_config::resources::ResourceIndex`],
//! shared with the broker; why URIs are not rewritten per server, and who
//! owns one, is written there.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Mutex;

use mcp_protocol::refusal::Refusal;
use router_config::policy::{Authorized, AuthorizedVerifier, Caller, Capabilities};
use router_config::resources::{ResourceIndex, ResourceMatch};
use router_config::{BrokerRoute, Entry, RouterConfig, ServerRoute};

/// Verified `x-mcp-authorized` values kept per VM: an ECDSA verification
/// costs far more than the rest of a routed call, and a client sends the
/// same header on every request until it is re-issued.
const VERIFIED_CAPACITY: usize = 256;

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
    /// Owners of resource URIs and templates.
    resources: ResourceIndex,
    /// Slots of the session cache (a power of two).
    cache_slots: u32,
    /// The policy's `x-mcp-authorized` key (or why it cannot be used) and
    /// the values it verified.
    authorized: Option<AuthorizedCheck>,
    /// Callers read from claims header values: a client sends the same
    /// value with every request until its token is renewed, and decoding
    /// it is most of a policy check's cost.
    callers: Mutex<HashMap<String, Caller, FixedState>>,
}

#[derive(Debug)]
struct AuthorizedCheck {
    verifier: Result<AuthorizedVerifier, String>,
    /// A `Mutex` only so the table is `Sync` (the fuzz target shares one);
    /// a VM is single-threaded, so `try_lock` never waits.
    verified: Mutex<HashMap<String, Capabilities, FixedState>>,
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
        for (server_index, server) in config.servers.iter().enumerate() {
            if !server.prefix.is_empty() {
                prefixes.push((server.prefix.clone(), server_index));
            }
        }
        let resources = ResourceIndex::new(&config.servers);
        // Longest prefix first, so "a_b_" wins over "a_" for "a_b_tool".
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let authorized = config
            .policy
            .authorized_header
            .as_ref()
            .map(|header| AuthorizedCheck {
                verifier: AuthorizedVerifier::new(header),
                verified: Mutex::new(HashMap::default()),
            });
        RouteTable {
            authorized,
            callers: Mutex::default(),
            cache_slots: crate::session_cache::slot_count(config.sessions.cache_slots),
            config,
            tools,
            prompts,
            prefixes,
            resources,
        }
    }

    /// The caller of a request with this claims header value under the
    /// table's policy (`Policy::caller`), read once per distinct value (up
    /// to [`VERIFIED_CAPACITY`] kept).
    ///
    /// # Errors
    /// The value is not base64url JSON.
    pub fn caller(&self, claims: Option<&[u8]>) -> Result<Option<Caller>, Refusal> {
        let policy = &self.config.policy;
        let Some(value) = claims.filter(|_| !policy.rules.is_empty()) else {
            return Ok(None);
        };
        let key = std::str::from_utf8(value).unwrap_or_default();
        if let Ok(callers) = self.callers.try_lock()
            && let Some(caller) = callers.get(key)
        {
            return Ok(Some(caller.clone()));
        }
        let caller = policy.caller(Some(value))?;
        if let (Some(caller), Ok(mut callers)) = (&caller, self.callers.try_lock()) {
            if callers.len() >= VERIFIED_CAPACITY {
                callers.clear();
            }
            callers.insert(key.to_owned(), caller.clone());
        }
        Ok(caller)
    }

    /// What the request's `x-mcp-authorized` value establishes under the
    /// table's policy; `now` is Unix seconds. A value is verified once and
    /// its capabilities kept (up to [`VERIFIED_CAPACITY`] values, each
    /// until its `exp`).
    ///
    /// # Errors
    /// The value does not verify, or the configured key is unusable.
    pub fn authorized(&self, value: Option<&[u8]>, now: u64) -> Result<Authorized, Refusal> {
        self.config.policy.authorized(value, |value| {
            let Some(check) = &self.authorized else {
                return Err(Refusal::Internal {
                    detail: "authorized header without a key".to_owned(),
                });
            };
            let key = std::str::from_utf8(value).unwrap_or_default();
            if let Ok(verified) = check.verified.try_lock()
                && let Some(capabilities) = verified.get(key)
                && capabilities.expires_at.is_none_or(|exp| now < exp)
            {
                return Ok(capabilities.clone());
            }
            let verifier = check
                .verifier
                .as_ref()
                .map_err(|detail| Refusal::InvalidIdentity {
                    detail: detail.clone(),
                })?;
            let capabilities = verifier.verify(value, now)?;
            if let Ok(mut verified) = check.verified.try_lock() {
                if verified.len() >= VERIFIED_CAPACITY {
                    verified.clear();
                }
                verified.insert(key.to_owned(), capabilities.clone());
            }
            Ok(capabilities)
        })
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

    /// Finds the owner of a resource URI (`ResourceIndex::owner`).
    pub fn lookup_resource(&self, uri: &str) -> Option<ResourceRoute<'_>> {
        self.resource_route(self.resources.owner(uri))
    }

    /// Finds the owner of the `uri` of a `completion/complete` reference:
    /// a resource template as listed, or else a resource URI.
    pub fn lookup_resource_reference(&self, uri: &str) -> Option<ResourceRoute<'_>> {
        self.resource_route(self.resources.reference_owner(uri))
    }

    fn resource_route(&self, found: Option<(usize, ResourceMatch)>) -> Option<ResourceRoute<'_>> {
        let (server_index, matched) = found?;
        Some(ResourceRoute {
            server: self.config.servers.get(server_index)?,
            server_index,
            matched,
        })
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

#[cfg(test)]
mod tests;
