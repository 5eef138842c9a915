//! Upstream MCP servers: what the broker knows of each one, its MCP client
//! of them ([`client`]), discovery of their catalogues ([`discovery`]) and
//! the per-gateway-session handshakes the router's calls ride on
//! ([`handshake`]).

pub mod client;
pub mod discovery;
pub mod era;
pub mod handshake;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use mcp_protocol::members;
use mcp_protocol::splice::Splice;
use router_config::Entry;

use http::{HeaderName, HeaderValue};
use serde::Serialize;
use url::Url;

use crate::config::ServerConfig;

/// Everything needed to talk to one upstream, resolved from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub name: String,
    pub url: Url,
    pub prefix: String,
    /// Resolved `Authorization` value, if a credential is configured.
    pub authorization: Option<String>,
    pub forward_authorization: bool,
    pub forward_headers: Vec<String>,
    /// How the gateway's Envoy reaches it, where that differs from `url`.
    pub gateway_route: Option<crate::config::GatewayRoute>,
    /// Which eras to speak to it.
    pub era: crate::config::EraChoice,
}

impl UpstreamSpec {
    pub fn new(server: &ServerConfig, authorization: Option<String>) -> Self {
        UpstreamSpec {
            name: server.name.clone(),
            url: server.url.clone(),
            prefix: server.prefix.clone(),
            authorization,
            forward_authorization: server.forward_authorization,
            forward_headers: server.forward_headers.clone(),
            gateway_route: server.gateway_route.clone(),
            era: server.era,
        }
    }

    /// Headers sent with every request to this upstream: its credential.
    pub fn headers(&self) -> HashMap<HeaderName, HeaderValue> {
        let mut headers = HashMap::new();
        if let Some(value) = self
            .authorization
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        headers
    }

    /// The `:authority` the router sets for it: the gateway route's, or
    /// `host:port` of the upstream URL (port always explicit).
    pub fn authority(&self) -> String {
        if let Some(route) = &self.gateway_route {
            return route.authority.clone();
        }
        // `host_str` already brackets IPv6 addresses (`[::1]`).
        let host = self.url.host_str().unwrap_or_default();
        let port = self.url.port_or_known_default().unwrap_or(80);
        format!("{host}:{port}")
    }

    /// The `:path` the router sets: the gateway route's, or the path (and
    /// query) of the upstream URL.
    pub fn path(&self) -> String {
        if let Some(path) = self.gateway_route.as_ref().and_then(|r| r.path.clone()) {
            return path;
        }
        match self.url.query() {
            Some(query) => format!("{}?{query}", self.url.path()),
            None => self.url.path().to_owned(),
        }
    }
}

/// Where discovery stands with one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not reached yet since start or reconfiguration.
    Connecting,
    /// Initialized and listed.
    Ready,
    /// The last attempt failed; its tools are withdrawn until it recovers.
    Down,
}

/// One catalogue definition (a tool, prompt, resource or resource
/// template) exactly as the upstream sent it, and where its key sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The JSON object text, byte for byte.
    pub raw: Arc<str>,
    /// Its key: the `name` of a tool or prompt, the `uri` of a resource,
    /// the `uriTemplate` of a template.
    pub key: String,
    /// Byte range of the key's JSON string within `raw`, quotes included.
    pub key_span: std::ops::Range<usize>,
}

impl Definition {
    /// Reads a definition of `entry`'s kind.
    ///
    /// # Errors
    /// Why the definition cannot be offered: not an object, no string key,
    /// a tool without an object `inputSchema`.
    pub fn parse(entry: Entry, raw: &str) -> Result<Definition, String> {
        let key_member = key_member(entry);
        let [key, input_schema] = members::probe(raw, [key_member, "inputSchema"])?;
        let key = key.ok_or_else(|| format!("it has no {key_member:?}"))?;
        let value = key
            .as_str()
            .ok_or_else(|| format!("its {key_member:?} is not a string"))?
            .into_owned();
        if entry == Entry::Tool && !input_schema.is_some_and(|s| s.raw.get().starts_with('{')) {
            return Err("its inputSchema is not a JSON object".to_owned());
        }
        Ok(Definition {
            raw: Arc::from(raw),
            key: value,
            key_span: key.span,
        })
    }

    /// The definition as clients see it: the exposed name spliced over the
    /// key when it differs, every other byte as the upstream sent it.
    pub fn exposed(&self, exposed_key: &str) -> Arc<str> {
        if exposed_key == self.key {
            return self.raw.clone();
        }
        Splice::new(self.key_span.clone(), exposed_key)
            .apply(self.raw.as_bytes())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map_or_else(|| self.raw.clone(), Arc::from)
    }
}

/// The member that keys definitions of `entry`'s kind.
pub fn key_member(entry: Entry) -> &'static str {
    match entry {
        Entry::Tool | Entry::Prompt => "name",
        Entry::Resource => "uri",
        Entry::ResourceTemplate => "uriTemplate",
    }
}

/// A value per catalogue kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerEntry<T> {
    pub tool: T,
    pub prompt: T,
    pub resource: T,
    pub resource_template: T,
}

impl<T> PerEntry<T> {
    pub fn get(&self, entry: Entry) -> &T {
        match entry {
            Entry::Tool => &self.tool,
            Entry::Prompt => &self.prompt,
            Entry::Resource => &self.resource,
            Entry::ResourceTemplate => &self.resource_template,
        }
    }

    pub fn get_mut(&mut self, entry: Entry) -> &mut T {
        match entry {
            Entry::Tool => &mut self.tool,
            Entry::Prompt => &mut self.prompt,
            Entry::Resource => &mut self.resource,
            Entry::ResourceTemplate => &mut self.resource_template,
        }
    }
}

/// What an upstream declared it can do (`initialize`'s `capabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
    pub resources_subscribe: bool,
    pub completions: bool,
    pub logging: bool,
}

impl Capabilities {
    /// Reads the `capabilities` of an `initialize` result.
    pub fn of_initialize_result(result: &str) -> Capabilities {
        let value: serde_json::Value = serde_json::from_str(result).unwrap_or_default();
        let capabilities = &value["capabilities"];
        let has = |name: &str| capabilities.get(name).is_some_and(|v| !v.is_null());
        Capabilities {
            tools: has("tools"),
            prompts: has("prompts"),
            resources: has("resources"),
            resources_subscribe: capabilities["resources"]["subscribe"] == serde_json::json!(true),
            completions: has("completions"),
            logging: has("logging"),
        }
    }

    /// Whether the upstream offers entries of `entry`'s kind.
    pub fn offers(&self, entry: Entry) -> bool {
        match entry {
            Entry::Tool => self.tools,
            Entry::Prompt => self.prompts,
            Entry::Resource | Entry::ResourceTemplate => self.resources,
        }
    }

    /// What several upstreams offer together.
    pub fn union(self, other: Capabilities) -> Capabilities {
        Capabilities {
            tools: self.tools || other.tools,
            prompts: self.prompts || other.prompts,
            resources: self.resources || other.resources,
            resources_subscribe: self.resources_subscribe || other.resources_subscribe,
            completions: self.completions || other.completions,
            logging: self.logging || other.logging,
        }
    }
}

/// The caching hints a stateless-era upstream gave one of its lists (MCP
/// 2026-07-28, "Caching": `ttlMs`, `cacheScope`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheHint {
    /// How long the list may be used, in milliseconds; `None` when the
    /// upstream gave none (handshake-era upstreams never do).
    pub ttl_ms: Option<u64>,
    /// `cacheScope: "private"`: the list depends on who asks.
    pub private: bool,
}

impl CacheHint {
    /// The hint of a list served from several upstreams' lists: the
    /// shortest time, private if any is.
    pub fn combine(self, other: CacheHint) -> CacheHint {
        CacheHint {
            ttl_ms: match (self.ttl_ms, other.ttl_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            private: self.private || other.private,
        }
    }
}

/// A definition discovery left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejected {
    pub entry: Entry,
    /// Its key, or what could be read of it.
    pub name: String,
    pub reason: String,
}

/// What discovery last learned of one upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamState {
    pub health: Health,
    /// Its definitions as the upstream sent them, per kind, in its order.
    pub catalog: PerEntry<Vec<Definition>>,
    pub capabilities: Capabilities,
    /// Definitions left out (malformed), with their reasons.
    pub rejected: Vec<Rejected>,
    /// The caching hints of each list, from a stateless-era upstream.
    pub cache: PerEntry<CacheHint>,
    /// The eras it was found to speak.
    pub era: router_config::ServerEra,
    pub protocol_version: Option<String>,
    pub server_info: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub last_change: SystemTime,
}

impl UpstreamState {
    pub fn connecting() -> Self {
        UpstreamState {
            health: Health::Connecting,
            catalog: PerEntry::default(),
            capabilities: Capabilities::default(),
            rejected: Vec::new(),
            cache: PerEntry::default(),
            era: router_config::ServerEra::Handshake,
            protocol_version: None,
            server_info: None,
            last_error: None,
            last_change: SystemTime::now(),
        }
    }

    /// The keys of its entries of `entry`'s kind, in order.
    pub fn keys(&self, entry: Entry) -> impl Iterator<Item = &str> {
        self.catalog.get(entry).iter().map(|d| d.key.as_str())
    }

    /// The tools' upstream names, in order.
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.keys(Entry::Tool)
    }
}
