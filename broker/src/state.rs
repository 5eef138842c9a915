//! The broker's shared state, reached by every HTTP handler and task.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use router_config::{AccessRules, BrokerRoute, Limits, RouteTableSettings, SessionSettings};

use crate::catalog::{Catalog, Clusters};
use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use crate::session_token::SessionSigner;
use crate::sessions::records::Records;
use crate::sessions::{SessionStore, StoreLimits};
use crate::upstream::UpstreamSpec;

/// What the current configuration resolves to.
#[derive(Debug)]
pub struct Runtime {
    pub config: GatewayConfig,
    /// Configured upstreams, in priority order.
    pub specs: Vec<Arc<UpstreamSpec>>,
    by_name: HashMap<String, Arc<UpstreamSpec>>,
    /// Signs and verifies gateway session ids.
    pub signer: Arc<SessionSigner>,
    /// How requests from the gateway's Envoy prove it.
    pub router_token: RouterToken,
}

/// The token requests from the gateway's Envoy carry (`x-mcp-gateway-token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterToken {
    /// `mesh` mode: nothing to check here.
    None,
    /// From the configuration.
    Configured(Arc<str>),
    /// Made by this process for the local Envoy (kept across reloads).
    Generated(Arc<str>),
}

impl RouterToken {
    pub fn value(&self) -> Option<&str> {
        match self {
            RouterToken::None => None,
            RouterToken::Configured(token) | RouterToken::Generated(token) => Some(token),
        }
    }
}

impl Runtime {
    pub fn new(
        config: GatewayConfig,
        specs: Vec<Arc<UpstreamSpec>>,
        signer: Arc<SessionSigner>,
        router_token: RouterToken,
    ) -> Self {
        let by_name = specs.iter().map(|s| (s.name.clone(), s.clone())).collect();
        Runtime {
            config,
            specs,
            by_name,
            signer,
            router_token,
        }
    }

    /// Whether Envoy injects each upstream's credential itself (the local
    /// Envoy the broker configures): the session API then never hands
    /// credentials to the router.
    pub fn envoy_injects_credentials(&self) -> bool {
        self.config.envoy.is_some()
    }

    /// The bounds of the session store.
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            max_upstream_sessions: self.config.limits.max_upstream_sessions,
            handshakes_per_minute: self.config.limits.handshakes_per_session_per_minute,
        }
    }

    /// `Host` values the router lets through: the configured ones, plus the
    /// local Envoy's listen address when it is a specific one. Empty (any
    /// host) only without either.
    pub fn allowed_hosts(&self) -> Vec<String> {
        let mut hosts = self.config.allowed_hosts.clone();
        if let Some(envoy) = &self.config.envoy
            && !envoy.listen.ip().is_unspecified()
        {
            hosts.push(envoy.listen.to_string());
        }
        hosts
    }

    pub fn spec(&self, name: &str) -> Option<&Arc<UpstreamSpec>> {
        self.by_name.get(name)
    }

    /// The non-upstream part of the route table.
    pub fn route_table_settings(&self) -> RouteTableSettings {
        let config = &self.config;
        RouteTableSettings {
            sessions: SessionSettings {
                key_id: self.signer.key_id(),
                revalidate_seconds: config.limits.session_revalidate_seconds,
                cache_slots: config.limits.session_cache_slots,
                identity_header: config.identity_header().map(str::to_owned),
            },
            access: AccessRules {
                allowed_origins: config.allowed_origins.clone(),
                allowed_hosts: self.allowed_hosts(),
            },
            policy: config.policy.clone(),
            mcp_path: config.mcp_path.clone(),
            limits: Limits {
                max_request_body_bytes: config.limits.max_request_body_bytes,
            },
            broker: BrokerRoute {
                cluster: match (&config.broker_route, &config.envoy) {
                    (Some(route), _) => route.cluster.clone(),
                    (None, Some(envoy)) => envoy.broker_cluster.clone(),
                    (None, None) => "mcp_broker".to_owned(),
                },
                authority: config
                    .broker_route
                    .as_ref()
                    .map_or_else(|| config.listen.to_string(), |r| r.authority.clone()),
                session_path: router_config::session_api::PATH.to_owned(),
                timeout_ms: config.limits.session_api_timeout_ms,
                first_call: config.first_call,
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
    pub sessions: SessionStore,
    /// Calls held between the rounds of a bridged call.
    pub bridge: Arc<crate::bridge::Bridge>,
    pub catalog: Arc<Catalog>,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl AppState {
    /// State with its session records in memory.
    pub fn new(runtime: Runtime, http: reqwest::Client) -> Self {
        AppState::with_records(runtime, http, Records::default())
    }

    /// State with its session records in `records`.
    pub fn with_records(runtime: Runtime, http: reqwest::Client, records: Records) -> Self {
        let catalog = Arc::new(Catalog::new(runtime.route_table_settings()));
        let idle = runtime.config.limits.upstream_session_idle();
        AppState {
            sessions: SessionStore::new(runtime.store_limits(), idle, records),
            bridge: Arc::default(),
            runtime: ArcSwap::from_pointee(runtime),
            catalog,
            http,
            metrics: Metrics::new(),
            ready: AtomicBool::new(false),
        }
    }

    /// The signer in force (a new key ends every session).
    pub fn signer(&self) -> Arc<SessionSigner> {
        self.runtime.load().signer.clone()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}
