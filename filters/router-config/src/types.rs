//! The route table's wire types: JSON, camelCase, as carried in
//! `WasmPlugin.spec.pluginConfig` or an ECDS `Wasm.config.configuration`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema version this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The route table: everything the router needs to route MCP requests.
///
/// Unknown fields are ignored, so an older filter accepts a table written by
/// a newer operator (it routes what it understands).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterConfig {
    /// Schema version of this document; the router refuses versions it does
    /// not know.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Names this table (a digest of its content, set by the builder). The
    /// router sends it with the list requests it passes to the broker, so
    /// lists answer from the same table the proxy routes with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// HTTP path of the gateway's MCP endpoint. Requests to other paths pass
    /// through the filter untouched.
    #[serde(default = "default_mcp_path")]
    pub mcp_path: String,
    /// Per-request limits.
    #[serde(default)]
    pub limits: Limits,
    /// How the router reaches the broker's session API.
    pub broker: BrokerRoute,
    /// How the router checks gateway sessions and caches upstream sessions.
    #[serde(default)]
    pub sessions: SessionSettings,
    /// Which browser origins and hosts may use the MCP endpoint.
    #[serde(default)]
    pub access: AccessRules,
    /// Who may use which tools, prompts and resources (identity rules,
    /// virtual servers).
    #[serde(default, skip_serializing_if = "crate::policy::Policy::is_default")]
    pub policy: crate::policy::Policy,
    /// Upstream servers, in priority order (the first one listed wins a
    /// name conflict).
    #[serde(default)]
    pub servers: Vec<ServerRoute>,
}

/// Per-request limits the router enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Largest POST body the router buffers, in bytes. Larger bodies are
    /// answered `413` with a JSON-RPC error. Default 4 MiB.
    #[serde(default = "default_max_request_body_bytes")]
    pub max_request_body_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body_bytes: default_max_request_body_bytes(),
        }
    }
}

/// Gateway sessions as the router checks them on every routed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSettings {
    /// Identifies the key that signs gateway session ids (a fingerprint of
    /// it, never the key). The router ignores cached sessions verified
    /// under another key, so a new key ends every session at once.
    #[serde(default)]
    pub key_id: String,
    /// Seconds a cached upstream session is used before the router asks the
    /// broker again, which re-checks the gateway session (ended on another
    /// replica, expired) and keeps the broker's record of it alive.
    /// Default 60.
    #[serde(default = "default_revalidate_seconds")]
    pub revalidate_seconds: u32,
    /// Slots of the router's upstream-session cache in proxy-wasm shared
    /// data, rounded up to a power of two: its size is bounded whatever the
    /// number of sessions. Default 16384 (about 5 MB at most).
    #[serde(default = "default_cache_slots")]
    pub cache_slots: u32,
    /// The request header that carries the identity the authentication
    /// layer established (e.g. a JWT claim Envoy's `jwt_authn` copies into
    /// a header). Absent: a session is bound to the `Authorization` value
    /// that opened it. See `mcp_protocol::identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            key_id: String::new(),
            revalidate_seconds: default_revalidate_seconds(),
            cache_slots: default_cache_slots(),
            identity_header: None,
        }
    }
}

/// The DNS-rebinding guard (MCP "Transports › Security Warning"), applied
/// by the router to every request on the MCP path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRules {
    /// Browser origins allowed besides loopback ones (`scheme://host[:port]`).
    /// A request with another `Origin` is answered `403`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// `Host` values the gateway answers to (`host` for any port,
    /// `host:port` for one); loopback hosts always pass. Empty: any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
}

/// The broker, as seen from inside the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerRoute {
    /// Envoy cluster name of the broker, used for `dispatch_http_call`
    /// (in Istio: `outbound|PORT||SVC.NS.svc.cluster.local`).
    pub cluster: String,
    /// `:authority` sent with session API calls.
    pub authority: String,
    /// Path of the broker's upstream-session API. Default
    /// `/v1/upstream-sessions`.
    #[serde(default = "default_session_path")]
    pub session_path: String,
    /// Timeout of one session API call, in milliseconds. It includes the
    /// upstream `initialize` handshake on a first call. Default 10000.
    #[serde(default = "default_session_timeout_ms")]
    pub timeout_ms: u32,
    /// How a call opens its upstream session when the router has none
    /// cached for it. Default `forward`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub first_call: FirstCall,
}

/// How the first call of a (gateway session, upstream) pair reaches its
/// upstream (`crate::session_api`, "The first call").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FirstCall {
    /// The router sends the call itself to the broker, which opens the
    /// upstream session, forwards the call and returns the session record
    /// with the upstream's answer: one proxied request, no callout.
    #[default]
    Forward,
    /// The router asks the session API first (a callout, the request
    /// paused), then routes the call to the upstream itself: the broker
    /// never carries a call's body or answer.
    SessionApi,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// One upstream MCP server and the tools it serves through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerRoute {
    /// Server name: `x-mcp-servername` and metrics label.
    pub name: String,
    /// Prefix added to the server's tool names; empty for none. A tool name
    /// not in `tools` but starting with this prefix is routed here too,
    /// with the prefix removed (so tools added upstream are reachable before
    /// the next discovery).
    #[serde(default)]
    pub prefix: String,
    /// `:authority` the router sets for requests to this server.
    pub authority: String,
    /// `:path` the router sets for requests to this server.
    pub path: String,
    /// Envoy cluster of this server, sent as `x-mcp-cluster` for
    /// `cluster_header` routing; absent where routes match on `:authority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Forward the client's `Authorization` header to this server. Off by
    /// default: MCP forbids token passthrough (MCP 2025-06-18, "Security Best
    /// Practices › Token Passthrough").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_authorization: bool,
    /// Other client credential headers this server receives (lower case,
    /// from `mcp_protocol::headers::CLIENT_CREDENTIALS`: `cookie`,
    /// `x-api-key`, ...). Every credential header not listed, and
    /// `Authorization` unless `forward_authorization`, is removed from
    /// calls routed to this server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
    /// Upstream names of the tools routed to this server. Each is exposed to
    /// clients as `prefix + name`.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Upstream names of its prompts, exposed as `prefix + name` like tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
    /// URIs of its resources, exposed unchanged (`resources/read` of one
    /// goes here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// URI templates (RFC 6570) of its resource templates, exposed
    /// unchanged: a URI they match goes here, as does any URI of a scheme
    /// only this server uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_templates: Vec<String>,
    /// Which MCP eras the server speaks. A call of a client of the other
    /// era goes to the broker, which bridges it. Default `handshake`.
    #[serde(default, skip_serializing_if = "ServerEra::is_default")]
    pub era: ServerEra,
    /// The router sets this server's credential itself, from the session
    /// API's answer (where Envoy does not inject it). A stateless-era call
    /// makes no session API call, so it is bridged through the broker,
    /// which holds the credential.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credential_via_router: bool,
    /// Upstream names of its tools whose calls need the caller's approval
    /// (`policy.approval`): the router sends them to the broker, which asks
    /// the client first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval: Vec<String>,
}

/// The MCP eras an upstream speaks (MCP 2026-07-28, "Versioning").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerEra {
    /// `initialize` and sessions only (2025-11-25 and earlier).
    #[default]
    Handshake,
    /// The stateless era only (2026-07-28).
    Modern,
    /// Both, chosen per request.
    Both,
}

impl ServerEra {
    /// Whether a client of `era` can be routed to the server directly.
    pub fn speaks(self, era: mcp_protocol::versions::Era) -> bool {
        use mcp_protocol::versions::Era;
        matches!(
            (self, era),
            (ServerEra::Both, _)
                | (ServerEra::Handshake, Era::Handshake)
                | (ServerEra::Modern, Era::Modern)
        )
    }

    fn is_default(&self) -> bool {
        *self == ServerEra::Handshake
    }
}

impl ServerRoute {
    /// A server route without catalogue entries.
    pub fn new(name: &str, prefix: &str, authority: &str, path: &str) -> Self {
        ServerRoute {
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            authority: authority.to_owned(),
            path: path.to_owned(),
            cluster: None,
            forward_authorization: false,
            forward_headers: Vec::new(),
            tools: Vec::new(),
            prompts: Vec::new(),
            resources: Vec::new(),
            resource_templates: Vec::new(),
            era: ServerEra::Handshake,
            credential_via_router: false,
            approval: Vec::new(),
        }
    }

    /// Its entries of `entry`'s kind.
    pub fn entries(&self, entry: Entry) -> &[String] {
        match entry {
            Entry::Tool => &self.tools,
            Entry::Prompt => &self.prompts,
            Entry::Resource => &self.resources,
            Entry::ResourceTemplate => &self.resource_templates,
        }
    }

    fn entries_mut(&mut self, entry: Entry) -> &mut Vec<String> {
        match entry {
            Entry::Tool => &mut self.tools,
            Entry::Prompt => &mut self.prompts,
            Entry::Resource => &mut self.resources,
            Entry::ResourceTemplate => &mut self.resource_templates,
        }
    }

    /// Takes its entries of `entry`'s kind out (the builder refills them).
    pub(crate) fn take_entries(&mut self, entry: Entry) -> Vec<String> {
        std::mem::take(self.entries_mut(entry))
    }

    pub(crate) fn push_entry(&mut self, entry: Entry, value: String) {
        self.entries_mut(entry).push(value);
    }
}

/// The kinds of catalogue entries a server offers through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Entry {
    Tool,
    Prompt,
    Resource,
    ResourceTemplate,
}

impl Entry {
    pub const ALL: [Entry; 4] = [
        Entry::Tool,
        Entry::Prompt,
        Entry::Resource,
        Entry::ResourceTemplate,
    ];

    /// Whether entries of this kind are exposed with the server's prefix
    /// (names), or unchanged (URIs).
    pub fn is_prefixed(self) -> bool {
        matches!(self, Entry::Tool | Entry::Prompt)
    }

    /// How it reads in a sentence.
    pub fn noun(self) -> &'static str {
        match self {
            Entry::Tool => "tool",
            Entry::Prompt => "prompt",
            Entry::Resource => "resource",
            Entry::ResourceTemplate => "resource template",
        }
    }
}

/// One catalogue entry as clients see it, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExposedTool {
    /// The name clients call: the server's prefix plus `upstream_name`.
    pub name: String,
    /// The owning server's name.
    pub server: String,
    /// The name the upstream server knows the tool by.
    pub upstream_name: String,
}

/// A route table that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("route table is not valid JSON for this schema: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("route table has schema version {found}; this router reads version {expected}")]
    Version { found: u32, expected: u32 },
}

impl RouterConfig {
    /// Reads a route table from its JSON form.
    ///
    /// # Errors
    /// [`ParseError::Json`] when the bytes are not a route table,
    /// [`ParseError::Version`] when its schema version is not
    /// [`SCHEMA_VERSION`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        let config: RouterConfig =
            serde_json::from_slice(bytes).map_err(|source| ParseError::Json { source })?;
        if config.version != SCHEMA_VERSION {
            return Err(ParseError::Version {
                found: config.version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(config)
    }

    /// The table as compact JSON, byte-for-byte deterministic for equal
    /// tables (fields and lists keep their order).
    pub fn to_json(&self) -> String {
        // Plain structs of strings and numbers always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Every tool routed by exact name, in table order.
    pub fn exposed_tools(&self) -> impl Iterator<Item = ExposedTool> + '_ {
        self.exposed(Entry::Tool)
    }

    /// Every entry of `entry`'s kind, in table order, with the name (or
    /// URI) clients use.
    pub fn exposed(&self, entry: Entry) -> impl Iterator<Item = ExposedTool> + '_ {
        self.servers.iter().flat_map(move |server| {
            server.entries(entry).iter().map(move |name| ExposedTool {
                name: if entry.is_prefixed() {
                    mcp_protocol::names::exposed_name(&server.prefix, name)
                } else {
                    name.clone()
                },
                server: server.name.clone(),
                upstream_name: name.clone(),
            })
        })
    }

    /// The JSON Schema of the route table.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(RouterConfig)
    }
}

fn default_version() -> u32 {
    SCHEMA_VERSION
}

fn default_mcp_path() -> String {
    "/mcp".to_owned()
}

fn default_max_request_body_bytes() -> u32 {
    4 * 1024 * 1024
}

fn default_session_path() -> String {
    crate::session_api::PATH.to_owned()
}

fn default_session_timeout_ms() -> u32 {
    crate::session_api::DEFAULT_TIMEOUT_MS
}

fn default_revalidate_seconds() -> u32 {
    60
}

fn default_cache_slots() -> u32 {
    16_384
}
