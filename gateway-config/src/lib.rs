//! `gateway-config`: the gateway configuration file (YAML): upstream
//! servers, listen addresses, limits, and where the local Envoy reads the
//! route table. The broker reads it; the operator writes it, with these
//! same types, so the two cannot disagree on a field.
//!
//! Relative paths in the file are resolved against the file's directory.
//! See the README's "Gateway configuration" for every field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid gateway configuration: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("server {server:?}: credential cannot be read: {problem}")]
    Credential { server: String, problem: String },
    #[error("{what} cannot be read: {problem}")]
    Secret { what: &'static str, problem: String },
}

/// The whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address the broker listens on (MCP endpoint for Envoy, session API,
    /// health, status, metrics). Default `127.0.0.1:8090`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// HTTP path of the MCP endpoint. Default `/mcp`.
    #[serde(default = "default_mcp_path")]
    pub mcp_path: String,
    /// Key that signs gateway session ids. Replicas must share it. Without
    /// one, a random key is made at start (sessions end with the process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<SecretSource>,
    /// Maximum age of a gateway session, in seconds. Default 86400 (24 h).
    #[serde(default = "default_session_max_age")]
    pub session_max_age_seconds: u64,
    /// Origins allowed to call the MCP endpoint from a browser, besides
    /// loopback origins (MCP "Security Warning": DNS rebinding). Checked
    /// by the router on every request of the MCP path, and by the broker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// `Host` values the gateway answers to, besides loopback hosts and the
    /// local Envoy's listen address (`host` for any port, `host:port`).
    /// Empty and no `envoy` section: any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// How the broker knows a request comes from the gateway's Envoy.
    #[serde(default)]
    pub router_authentication: RouterAuthentication,
    /// How a gateway session is bound to the identity that opened it.
    #[serde(default)]
    pub session_binding: SessionBinding,
    /// Bearer-token authentication in the local Envoy and the OAuth
    /// protected resource metadata. Absent: no token is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<AuthenticationConfig>,
    /// Who may use which tools, prompts and resources (identity rules and
    /// virtual servers); the router checks calls and the broker filters
    /// lists with it. Default: everyone may use everything.
    #[serde(default, skip_serializing_if = "router_config::Policy::is_default")]
    pub policy: router_config::Policy,
    /// Token buckets on routed calls, per identity, server or tool (the
    /// local Envoy's `local_ratelimit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    /// OpenTelemetry traces over OTLP, from the local Envoy and the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    /// Where the broker keeps session records (upstream sessions of each
    /// gateway session, ended sessions, logging levels). Default: its own
    /// memory, for one replica; Redis for several. Read at start.
    #[serde(default, skip_serializing_if = "SessionStoreConfig::is_memory")]
    pub session_store: SessionStoreConfig,
    /// Local Envoy: where it reads the router's configuration (ECDS file).
    /// Absent when the operator distributes the route table instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy: Option<EnvoyConfig>,
    /// How the gateway's Envoy reaches the broker, where it differs from
    /// what the broker derives (the local Envoy's broker cluster and the
    /// listen address): in Kubernetes, the Service's mesh cluster and host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_route: Option<BrokerRouteConfig>,
    /// How the first call of a session to an upstream opens its upstream
    /// session: `forward` (default: the router sends the call to the
    /// broker, which opens the session, forwards the call and hands the
    /// router the session with the answer) or `sessionApi` (the router asks
    /// the broker's session API first and routes the call itself, so no
    /// call body or answer ever passes through the broker).
    #[serde(default, skip_serializing_if = "is_forward")]
    pub first_call: router_config::FirstCall,
    /// Upstream MCP servers, in priority order (the first listed keeps a
    /// conflicting tool name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerConfig>,
}

/// Where session records live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionStoreConfig {
    /// A Redis shared by every broker replica; absent: in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisStoreConfig>,
}

impl SessionStoreConfig {
    pub fn is_memory(&self) -> bool {
        self.redis.is_none()
    }
}

/// A Redis session store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// The connection string, `redis://[user:password@]host:port[/db]`
    /// (`rediss://` for TLS): a secret, since it may hold a password.
    pub url: SecretSource,
    /// Prefix of every key the broker writes. Default `mcpgw:`.
    #[serde(default = "default_redis_prefix")]
    pub key_prefix: String,
}

fn default_redis_prefix() -> String {
    "mcpgw:".to_owned()
}

/// How the broker knows that a request comes from the gateway's Envoy, not
/// from anyone who can reach its port: the session API hands out upstream
/// sessions (and, in Kubernetes, credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterAuthentication {
    #[serde(default)]
    pub mode: RouterAuthMode,
    /// The shared token (`token` mode). Default: a random token per broker
    /// process, which it writes for the local Envoy (needs `envoy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretSource>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RouterAuthMode {
    /// Envoy adds `x-mcp-gateway-token` to every request on the broker
    /// cluster; the broker refuses requests without it.
    #[default]
    Token,
    /// The service mesh proves it: mutual TLS, and an authorization policy
    /// admitting only the gateway's workload identity (what the operator
    /// writes in Kubernetes). The broker itself checks nothing.
    Mesh,
}

/// Session binding (MCP "Security Best Practices › Session Hijacking").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionBinding {
    /// A request header carrying the identity that authentication
    /// established (set by the policy layer in front of the router, e.g.
    /// Envoy `jwt_authn`'s `claim_to_headers`). Absent: a session is bound
    /// to the `Authorization` value that opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Seconds between re-lists of each upstream's catalogue (a backstop to
    /// `notifications/*/list_changed`, and the health check). Default 30.
    #[serde(default = "default_refresh")]
    pub refresh_interval_seconds: u64,
    /// Timeout of one upstream request (connect, initialize, list), in
    /// seconds. Default 10.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// The oldest MCP version an upstream may agree to; an upstream that
    /// speaks an older one is left out (its reason in `/status`). One of
    /// the versions the gateway speaks. Default `2025-03-26`, the oldest
    /// version with Streamable HTTP.
    #[serde(default = "default_min_protocol_version")]
    pub min_protocol_version: String,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            refresh_interval_seconds: default_refresh(),
            request_timeout_seconds: default_request_timeout(),
            min_protocol_version: default_min_protocol_version(),
        }
    }
}

fn default_min_protocol_version() -> String {
    "2025-03-26".to_owned()
}

impl DiscoveryConfig {
    pub fn refresh_interval(&self) -> Duration {
        Duration::from_secs(self.refresh_interval_seconds.max(1))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds.max(1))
    }
}

/// The local Envoy that loads the router filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvoyConfig {
    /// Envoy's MCP listener (the gateway's public address). Default
    /// `127.0.0.1:8080`.
    #[serde(default = "default_envoy_listen")]
    pub listen: SocketAddr,
    /// Envoy's admin interface. Default `127.0.0.1:9901`.
    #[serde(default = "default_envoy_admin")]
    pub admin_listen: SocketAddr,
    /// The ECDS file the broker writes and Envoy watches. Its directory is
    /// watched for renames, so keep it in a directory of its own.
    pub route_table_file: PathBuf,
    /// The router filter, `mcp_router.wasm`.
    pub wasm_file: PathBuf,
    /// Envoy cluster name of the broker. Default `mcp_broker`.
    #[serde(default = "default_broker_cluster")]
    pub broker_cluster: String,
}

/// One upstream MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Unique name: `x-mcp-servername`, metrics label.
    pub name: String,
    /// Streamable HTTP endpoint, e.g. `http://127.0.0.1:3001/mcp`.
    pub url: Url,
    /// Prefix added to this server's tool names (`^[a-z0-9][a-z0-9_]*$`);
    /// empty or absent for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// `Authorization` header value sent to this server (e.g.
    /// `Bearer …`), by the broker and, for routed calls, by the router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<SecretSource>,
    /// Forward the client's own `Authorization` to this server. Off by
    /// default: MCP forbids token passthrough.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_authorization: bool,
    /// Other client credential headers to forward to this server (`cookie`,
    /// `proxy-authorization`, `x-api-key`, `api-key`, `x-auth-token`); the
    /// router removes them otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
    /// How the gateway's Envoy reaches this server, where it differs from
    /// `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_route: Option<GatewayRoute>,
    /// Which MCP eras the gateway speaks to this server: `auto` (default:
    /// discovered, `server/discover` then `initialize`), `handshake`
    /// (2025-11-25 and earlier only) or `modern` (2026-07-28 only). A
    /// client of an era the server does not speak is bridged.
    #[serde(default, skip_serializing_if = "EraChoice::is_auto")]
    pub era: EraChoice,
}

/// How the gateway chooses the eras it speaks to a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EraChoice {
    /// What the server answers: `server/discover` for the stateless era,
    /// `initialize` for the handshake era, both where both work.
    #[default]
    Auto,
    /// The handshake era only.
    Handshake,
    /// The stateless era only.
    Modern,
}

impl EraChoice {
    fn is_auto(&self) -> bool {
        *self == EraChoice::Auto
    }
}

/// The broker as the gateway's Envoy reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrokerRouteConfig {
    /// Envoy cluster of the broker (Istio: `outbound|PORT||HOST`).
    pub cluster: String,
    /// `:authority` of the router's session API calls.
    pub authority: String,
}

/// A server as the gateway's Envoy reaches it, where that differs from its
/// `url` (which the broker connects to): in Kubernetes, the route's host
/// name or the Service's cluster-local name, and the mesh cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayRoute {
    /// `:authority` the router sets.
    pub authority: String,
    /// `:path` the router sets; default the URL's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Envoy cluster the router names in `x-mcp-cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// Where a secret comes from. Exactly one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// A file holding the value (trailing newline removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The value itself (avoid outside local testing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl SecretSource {
    /// Reads the secret.
    ///
    /// # Errors
    /// A message when not exactly one source is set, the variable is unset,
    /// the file is unreadable, or the value is empty.
    pub fn resolve(&self) -> Result<String, String> {
        let value = match (&self.env, &self.file, &self.value) {
            (Some(var), None, None) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
            }
            (None, Some(path), None) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None, Some(value)) => value.clone(),
            _ => return Err("set exactly one of env, file, value".to_owned()),
        };
        if value.is_empty() {
            return Err("the value is empty".to_owned());
        }
        Ok(value)
    }
}

impl Default for GatewayConfig {
    /// Every field at its documented default: no servers, no local Envoy.
    fn default() -> Self {
        GatewayConfig {
            listen: default_listen(),
            mcp_path: default_mcp_path(),
            session_key: None,
            session_max_age_seconds: default_session_max_age(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            router_authentication: RouterAuthentication::default(),
            session_binding: SessionBinding::default(),
            authentication: None,
            policy: router_config::Policy::default(),
            rate_limits: Vec::new(),
            tracing: None,
            limits: LimitsConfig::default(),
            discovery: DiscoveryConfig::default(),
            session_store: SessionStoreConfig::default(),
            envoy: None,
            broker_route: None,
            first_call: router_config::FirstCall::default(),
            servers: Vec::new(),
        }
    }
}

fn is_forward(first_call: &router_config::FirstCall) -> bool {
    *first_call == router_config::FirstCall::Forward
}

impl GatewayConfig {
    /// The configuration as the file's YAML text.
    pub fn to_yaml(&self) -> String {
        // Strings, numbers and paths: serialising cannot fail.
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// Reads, parses and validates a configuration file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Absolute, so the Envoy bootstrap rendered from it works from any
        // working directory.
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        Self::parse(&text, path, &base)
    }

    /// Parses configuration text; `base` resolves relative paths.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let mut config: GatewayConfig =
            serde_yaml_ng::from_str(text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
        config.resolve_paths(base);
        config.validate().map_err(|problem| ConfigError::Invalid {
            path: path.to_owned(),
            problem,
        })?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(envoy) = &mut self.envoy {
            resolve(&mut envoy.route_table_file);
            resolve(&mut envoy.wasm_file);
        }
        for server in &mut self.servers {
            if let Some(SecretSource {
                file: Some(file), ..
            }) = &mut server.credential
            {
                resolve(file);
            }
        }
        if let Some(authentication) = &mut self.authentication {
            authentication.resolve_paths(resolve);
        }
        if let Some(SecretSource {
            file: Some(file), ..
        }) = &mut self.session_key
        {
            resolve(file);
        }
        if let Some(SecretSource {
            file: Some(file), ..
        }) = &mut self.router_authentication.token
        {
            resolve(file);
        }
    }

    fn validate(&self) -> Result<(), String> {
        if !self.mcp_path.starts_with('/') {
            return Err(format!("mcpPath {:?} must start with '/'", self.mcp_path));
        }
        if self.router_authentication.mode == RouterAuthMode::Token
            && self.router_authentication.token.is_none()
            && self.envoy.is_none()
        {
            return Err(
                "routerAuthentication: set a token (Envoy must send it as x-mcp-gateway-token), or mode: mesh where a service mesh admits only the gateway; a token is generated only when the broker writes the local Envoy's configuration (envoy section)"
                    .to_owned(),
            );
        }
        if !mcp_protocol::versions::SUPPORTED
            .contains(&self.discovery.min_protocol_version.as_str())
        {
            return Err(format!(
                "discovery.minProtocolVersion {:?}: use one of {}",
                self.discovery.min_protocol_version,
                mcp_protocol::versions::SUPPORTED.join(", ")
            ));
        }
        let limits = &self.limits;
        if u64::from(limits.session_revalidate_seconds) * 2 > limits.upstream_session_idle_seconds {
            return Err(format!(
                "limits.sessionRevalidateSeconds ({}) must be at most half of limits.upstreamSessionIdleSeconds ({}), or routed sessions would idle out between checks",
                limits.session_revalidate_seconds, limits.upstream_session_idle_seconds
            ));
        }
        if let Some(authentication) = &self.authentication {
            authentication.validate()?;
        }
        policy::validate(&self.policy)?;
        rate_limits::validate(&self.rate_limits, self.identity_header())?;
        if let Some(tracing) = &self.tracing {
            tracing.validate()?;
        }
        if let Some(header) = &self.session_binding.identity_header
            && !authentication::valid_header_name(header)
        {
            return Err(format!(
                "sessionBinding.identityHeader {header:?}: a lower-case header name (a-z 0-9 -) outside x-mcp-*, which the router removes from client requests"
            ));
        }
        let mut names = std::collections::HashSet::new();
        for server in &self.servers {
            if !mcp_protocol::names::is_valid_server_name(&server.name) {
                return Err(format!(
                    "server name {:?}: use 1 to 63 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
                    server.name
                ));
            }
            if !names.insert(server.name.as_str()) {
                return Err(format!("server name {:?} is used twice", server.name));
            }
            if !matches!(server.url.scheme(), "http" | "https") || server.url.host_str().is_none() {
                return Err(format!(
                    "server {:?}: url {} must be http(s)://host[:port]/path",
                    server.name, server.url
                ));
            }
            if let Some(header) = server.forward_headers.iter().find(|h| {
                *h == mcp_protocol::headers::AUTHORIZATION
                    || !mcp_protocol::headers::CLIENT_CREDENTIALS.contains(&h.as_str())
            }) {
                return Err(format!(
                    "server {:?}: forwardHeaders entry {header:?} is not one of {} (Authorization has forwardAuthorization)",
                    server.name,
                    mcp_protocol::headers::CLIENT_CREDENTIALS[1..].join(", ")
                ));
            }
            if !mcp_protocol::names::is_valid_prefix(&server.prefix) {
                return Err(format!(
                    "server {:?}: prefix {:?} must match ^[a-z0-9][a-z0-9_]*$",
                    server.name, server.prefix
                ));
            }
        }
        Ok(())
    }

    /// The header a gateway session is bound to: `sessionBinding`'s, else
    /// the verified `sub` header of `authentication`, else none (the
    /// `Authorization` value binds it).
    pub fn identity_header(&self) -> Option<&str> {
        self.session_binding.identity_header.as_deref().or_else(|| {
            self.authentication
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| jwt.subject_header.as_str())
        })
    }

    /// Resolves every server's credential.
    ///
    /// # Errors
    /// [`ConfigError::Credential`] for the first credential that cannot be
    /// read or is not a valid header value.
    pub fn credentials(&self) -> Result<Vec<Option<String>>, ConfigError> {
        self.servers
            .iter()
            .map(|server| {
                let Some(source) = &server.credential else {
                    return Ok(None);
                };
                let value = source
                    .resolve()
                    .map_err(|problem| ConfigError::Credential {
                        server: server.name.clone(),
                        problem,
                    })?;
                if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
                    return Err(ConfigError::Credential {
                        server: server.name.clone(),
                        problem: "the value holds control characters".to_owned(),
                    });
                }
                Ok(Some(value))
            })
            .collect()
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8090))
}
fn default_mcp_path() -> String {
    "/mcp".to_owned()
}
fn default_session_max_age() -> u64 {
    86_400
}
fn default_refresh() -> u64 {
    30
}
fn default_request_timeout() -> u64 {
    10
}
fn default_envoy_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_envoy_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}
fn default_broker_cluster() -> String {
    "mcp_broker".to_owned()
}

mod authentication;
mod limits;
mod policy;
mod rate_limits;
mod telemetry;
pub use authentication::{
    AuthenticationConfig, JwksSource, JwtConfig, METADATA_PATH, ResourceMetadataConfig,
};
pub use limits::LimitsConfig;
pub use rate_limits::{RateLimit, RateLimitKey};
pub use telemetry::TracingConfig;

#[cfg(test)]
mod tests;
