//! The broker's shared state, reached by every HTTP handler and task.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use router_config::{BrokerRoute, Limits, RouteTableSettings};

use crate::catalog::{Catalog, Clusters};
use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::session_token::SessionSigner;
use crate::sessions::SessionStore;
use crate::upstream::UpstreamSpec;

/// What the current configuration resolves to.
#[derive(Debug)]
pub struct Runtime {
    pub config: GatewayConfig,
    /// Configured upstreams, in priority order.
    pub specs: Vec<Arc<UpstreamSpec>>,
    by_name: HashMap<String, Arc<UpstreamSpec>>,
}

impl Runtime {
    pub fn new(config: GatewayConfig, specs: Vec<Arc<UpstreamSpec>>) -> Self {
        let by_name = specs.iter().map(|s| (s.name.clone(), s.clone())).collect();
        Runtime {
            config,
            specs,
            by_name,
        }
    }

    pub fn spec(&self, name: &str) -> Option<&Arc<UpstreamSpec>> {
        self.by_name.get(name)
    }

    /// The non-upstream part of the route table.
    pub fn route_table_settings(&self) -> RouteTableSettings {
        let config = &self.config;
        RouteTableSettings {
            mcp_path: config.mcp_path.clone(),
            limits: Limits {
                max_request_body_bytes: config.limits.max_request_body_bytes,
            },
            broker: BrokerRoute {
                cluster: config
                    .envoy
                    .as_ref()
                    .map_or_else(|| "mcp_broker".to_owned(), |e| e.broker_cluster.clone()),
                authority: config.listen.to_string(),
                session_path: crate::http::SESSION_API_PATH.to_owned(),
                timeout_ms: config.limits.session_api_timeout_ms,
            },
        }
    }

    pub fn clusters(&self) -> Clusters {
        if self.config.envoy.is_some() {
            Clusters::LocalEnvoy
        } else {
            Clusters::Unnamed
        }
    }

    /// Timeout of an upstream handshake for a gateway session: the
    /// discovery request timeout, but inside the router's wait for the
    /// session API, so the router gets the broker's error and not a timeout.
    pub fn handshake_timeout(&self) -> Duration {
        let router_wait =
            Duration::from_millis(u64::from(self.config.limits.session_api_timeout_ms));
        self.config
            .discovery
            .request_timeout()
            .min(router_wait.mul_f32(0.8))
    }

    pub fn session_max_age(&self) -> Duration {
        Duration::from_secs(self.config.session_max_age_seconds)
    }
}

/// Shared by handlers and tasks.
#[derive(Debug)]
pub struct AppState {
    pub runtime: ArcSwap<Runtime>,
    pub signer: SessionSigner,
    pub sessions: SessionStore,
    pub catalog: Arc<Catalog>,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl AppState {
    pub fn new(runtime: Runtime, signer: SessionSigner, http: reqwest::Client) -> Self {
        let catalog = Arc::new(Catalog::new(runtime.route_table_settings()));
        AppState {
            runtime: ArcSwap::from_pointee(runtime),
            signer,
            sessions: SessionStore::default(),
            catalog,
            http,
            metrics: Metrics::new(),
            ready: AtomicBool::new(false),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}
