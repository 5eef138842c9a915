//! What the broker discovered and built: its `GET /status`
//! (`servers[].{name, health, tools}`, the route table, the build's
//! issues), read through a pluggable [`StatusSource`] so tests can point it
//! at a local broker or script it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;

/// The broker's `/status`, the parts the operator reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatus {
    /// Every upstream was tried once.
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub servers: Vec<UpstreamStatus>,
    /// The route table the broker built, to distribute unchanged.
    #[serde(default)]
    pub route_table: PublishedTable,
    /// What the broker's table build left out, for the conditions.
    #[serde(default)]
    pub build_issues: Vec<router_config::BuildIssue>,
}

/// `routeTable` of the broker's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PublishedTable {
    #[serde(default)]
    pub table: Option<router_config::RouterConfig>,
}

/// One upstream as the broker sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamStatus {
    pub name: String,
    /// `connecting`, `ready` or `down`.
    pub health: String,
    /// Upstream tool names (empty unless ready).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Upstream prompt names (empty unless ready).
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Resource URIs (empty unless ready).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Resource templates (empty unless ready).
    #[serde(default)]
    pub resource_templates: Vec<String>,
    /// Definitions the broker left out, with why.
    #[serde(default)]
    pub rejected: Vec<RejectedDefinition>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A definition the broker's discovery left out (malformed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedDefinition {
    /// `tool`, `prompt`, `resource` or `resourceTemplate`.
    pub entry: String,
    pub name: String,
    pub reason: String,
}

impl BrokerStatus {
    pub fn server(&self, name: &str) -> Option<&UpstreamStatus> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The tools of `name` the router should route: its discovered tools
    /// while it is ready, none otherwise.
    pub fn ready_tools(&self, name: &str) -> Vec<String> {
        self.server(name)
            .filter(|s| s.health == "ready")
            .map(|s| s.tools.clone())
            .unwrap_or_default()
    }
}

/// The last word from a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// The broker could not be read (not deployed yet, not ready, …).
    Unknown {
        error: String,
    },
    Reported(Box<BrokerStatus>),
}

impl Discovery {
    pub fn status(&self) -> Option<&BrokerStatus> {
        match self {
            Discovery::Reported(status) => Some(status),
            Discovery::Unknown { .. } => None,
        }
    }
}

/// Where a broker is: its namespace, Service name and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    pub namespace: String,
    pub service: String,
    pub host: String,
    pub port: u16,
}

/// Reads a broker's `/status`.
pub trait StatusSource: Send + Sync + std::fmt::Debug {
    fn fetch<'a>(
        &'a self,
        broker: &'a BrokerAddress,
    ) -> Pin<Box<dyn Future<Output = Result<BrokerStatus, String>> + Send + 'a>>;
}

/// Reads `/status` over HTTP: from the broker Service in cluster, or from
/// one fixed URL (out of cluster, tests).
#[derive(Debug, Clone)]
pub struct HttpStatusSource {
    client: reqwest::Client,
    fixed_url: Option<String>,
}

impl HttpStatusSource {
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(fixed_url: Option<String>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(HttpStatusSource { client, fixed_url })
    }
}

impl StatusSource for HttpStatusSource {
    fn fetch<'a>(
        &'a self,
        broker: &'a BrokerAddress,
    ) -> Pin<Box<dyn Future<Output = Result<BrokerStatus, String>> + Send + 'a>> {
        Box::pin(async move {
            let url = match &self.fixed_url {
                Some(url) => url.clone(),
                None => format!("http://{}:{}/status", broker.host, broker.port),
            };
            let response = self
                .client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("GET {url}: HTTP {}", response.status()));
            }
            response
                .json::<BrokerStatus>()
                .await
                .map_err(|e| format!("GET {url}: not a broker status: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_status_reads_servers_health_and_tools() {
        // The shape of the broker's `GET /status` (broker/src/http/status.rs).
        let body = serde_json::json!({
            "ready": true,
            "servers": [
                {"name": "team-a.weather", "url": "http://w/mcp", "prefix": "weather_", "health": "ready",
                 "tools": ["forecast", "alerts"], "since": 1},
                {"name": "team-b.db", "url": "http://d/mcp", "prefix": "", "health": "down",
                 "tools": [], "lastError": "connection refused", "since": 2}
            ],
            "tools": [], "issues": [], "routeTable": {"servers": 1, "tools": 2, "bytes": 300},
            "sessions": {"upstream": 0}
        });
        let status: BrokerStatus = serde_json::from_value(body).expect("status");
        assert!(status.ready);
        assert_eq!(status.ready_tools("team-a.weather"), ["forecast", "alerts"]);
        assert!(status.ready_tools("team-b.db").is_empty());
        assert_eq!(
            status
                .server("team-b.db")
                .and_then(|s| s.last_error.as_deref()),
            Some("connection refused")
        );
        assert!(status.ready_tools("missing").is_empty());
    }
}
