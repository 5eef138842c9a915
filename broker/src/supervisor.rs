//! Keeps the running system in line with the configuration: one discovery
//! task per upstream, restarted when its declaration changes; and the
//! publisher, which recomposes the catalog on every change and writes the
//! route table for the local Envoy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use router_config::Entry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, GatewayConfig, RouterAuthMode};
use crate::envoy;
use crate::metrics::ServerLabel;
use crate::session_token::SessionSigner;
use crate::state::{AppState, RouterToken, Runtime};
use crate::upstream::discovery::{self, DiscoveryTiming};
use crate::upstream::{Health, UpstreamSpec};

/// Owns the discovery tasks.
#[derive(Debug)]
pub struct Supervisor {
    state: Arc<AppState>,
    tasks: HashMap<String, Task>,
    shutdown: CancellationToken,
}

#[derive(Debug)]
struct Task {
    spec: Arc<UpstreamSpec>,
    timing: (Duration, Duration, String),
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

/// Resolves a configuration into a runtime (credentials, session key and
/// router token read). `previous` is the runtime in force, whose random
/// session key and generated router token carry over while the
/// configuration still names none.
///
/// # Errors
/// [`ConfigError::Credential`] or [`ConfigError::Secret`] when a secret
/// cannot be read.
pub fn resolve(config: GatewayConfig, previous: Option<&Runtime>) -> Result<Runtime, ConfigError> {
    let credentials = config.credentials()?;
    let specs = config
        .servers
        .iter()
        .zip(credentials)
        .map(|(server, credential)| Arc::new(UpstreamSpec::new(server, credential)))
        .collect();
    let signer = signer(&config, previous.map(|p| &*p.signer))?;
    let router_token = router_token(&config, previous.map(|p| &p.router_token))?;
    Ok(Runtime::new(config, specs, Arc::new(signer), router_token))
}

fn signer(
    config: &GatewayConfig,
    current: Option<&SessionSigner>,
) -> Result<SessionSigner, ConfigError> {
    let max_age = Duration::from_secs(config.session_max_age_seconds);
    match (&config.session_key, current) {
        (Some(source), _) => {
            let key = source.resolve().map_err(|problem| ConfigError::Secret {
                what: "sessionKey",
                problem,
            })?;
            Ok(SessionSigner::new(key.into_bytes(), max_age))
        }
        (None, Some(current)) => Ok(current.with_max_age(max_age)),
        (None, None) => {
            tracing::warn!(
                "no sessionKey configured: sessions are signed with a random key and end with this process; replicas need a shared key"
            );
            Ok(SessionSigner::random(max_age))
        }
    }
}

fn router_token(
    config: &GatewayConfig,
    current: Option<&RouterToken>,
) -> Result<RouterToken, ConfigError> {
    let auth = &config.router_authentication;
    match (auth.mode, &auth.token, current) {
        (RouterAuthMode::Mesh, ..) => Ok(RouterToken::None),
        (RouterAuthMode::Token, Some(source), _) => source
            .resolve()
            .map(|token| RouterToken::Configured(Arc::from(token)))
            .map_err(|problem| ConfigError::Secret {
                what: "routerAuthentication.token",
                problem,
            }),
        (RouterAuthMode::Token, None, Some(RouterToken::Generated(token))) => {
            Ok(RouterToken::Generated(token.clone()))
        }
        (RouterAuthMode::Token, None, _) => {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Ok(RouterToken::Generated(Arc::from(token)))
        }
    }
}

impl Supervisor {
    pub fn new(state: Arc<AppState>, shutdown: CancellationToken) -> Self {
        Supervisor {
            state,
            tasks: HashMap::new(),
            shutdown,
        }
    }

    /// Makes `runtime` current: stops discovery of removed or changed
    /// upstreams (closing the upstream sessions held on them), starts it
    /// for new or changed ones, and recomposes.
    pub fn apply(&mut self, runtime: Runtime) {
        let timing = DiscoveryTiming {
            refresh_interval: runtime.config.discovery.refresh_interval(),
            request_timeout: runtime.config.discovery.request_timeout(),
            min_protocol_version: runtime.config.discovery.min_protocol_version.clone(),
        };
        let wanted: HashMap<&str, &Arc<UpstreamSpec>> =
            runtime.specs.iter().map(|s| (s.name.as_str(), s)).collect();
        let key = (
            timing.refresh_interval,
            timing.request_timeout,
            timing.min_protocol_version.clone(),
        );

        let stale: Vec<String> = self
            .tasks
            .iter()
            .filter(|(name, task)| {
                wanted
                    .get(name.as_str())
                    .is_none_or(|spec| ***spec != *task.spec || task.timing != key)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(task) = self.tasks.remove(&name) {
                task.cancel.cancel();
                task.handle.abort();
                // Upstream sessions survive changes that do not touch how the
                // upstream is reached (a new prefix, new timings).
                let reached_the_same = wanted.get(name.as_str()).is_some_and(|spec| {
                    spec.url == task.spec.url && spec.authorization == task.spec.authorization
                });
                if reached_the_same {
                    tracing::info!(server = %name, "restarting discovery (declaration changed)");
                    continue;
                }
                let state = self.state.clone();
                let spec = task.spec.clone();
                let server = name.clone();
                tokio::spawn(async move {
                    let ids = match state.sessions.forget_server(&server).await {
                        Ok(ids) => ids,
                        Err(error) => {
                            tracing::warn!(%server, %error, "upstream sessions not forgotten");
                            return;
                        }
                    };
                    for id in ids {
                        crate::upstream::handshake::close(&state.http, &spec, &id).await;
                    }
                });
                tracing::info!(server = %name, "stopped discovery (removed or changed)");
            }
        }
        for spec in &runtime.specs {
            if self.tasks.contains_key(&spec.name) {
                continue;
            }
            let cancel = self.shutdown.child_token();
            let handle = tokio::spawn(discovery::run(
                spec.clone(),
                self.state.http.clone(),
                timing.clone(),
                self.state.catalog.clone(),
                cancel.clone(),
            ));
            self.tasks.insert(
                spec.name.clone(),
                Task {
                    spec: spec.clone(),
                    timing: key.clone(),
                    cancel,
                    handle,
                },
            );
        }
        let names: Vec<String> = runtime.specs.iter().map(|s| s.name.clone()).collect();
        self.state.sessions.set_limits(
            runtime.store_limits(),
            runtime.config.limits.upstream_session_idle(),
        );
        if runtime.signer.key_id() != self.state.signer().key_id() {
            tracing::info!(
                "the session key changed: every gateway session signed with the old one has ended"
            );
        }
        // Stored before the catalog is told, so the publisher's next table
        // carries this runtime's settings (the key id among them).
        self.state.runtime.store(Arc::new(runtime));
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.state.catalog.retain(&names);
    }
}

/// Recomposes the catalog whenever it changes, writes the route table for
/// the local Envoy, updates gauges and readiness. Runs until `shutdown`.
pub async fn publish(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut changes = state.catalog.subscribe_changes();
    loop {
        // Coalesce bursts (many upstreams answering at start) into one write.
        tokio::time::sleep(Duration::from_millis(50)).await;
        changes.borrow_and_update();
        publish_once(&state);
        loop {
            tokio::select! {
                result = changes.changed() => if result.is_err() { return } else { break },
                () = shutdown.cancelled() => return,
                // A change no proxy reported is announced anyway, late.
                () = tokio::time::sleep(Duration::from_secs(1)) => state.catalog.announce_overdue(),
            }
        }
    }
}

fn publish_once(state: &AppState) {
    let runtime = state.runtime.load_full();
    let composite = state.catalog.compose_current(
        &runtime.route_table_settings(),
        &runtime.specs,
        runtime.clusters(),
    );
    for issue in &composite.issues {
        tracing::warn!(%issue, "route table");
    }
    for server in &composite.servers {
        let label = ServerLabel {
            server: server.name.clone(),
        };
        state
            .metrics
            .upstream_up
            .get_or_create(&label)
            .set(i64::from(server.health == Health::Ready));
        state
            .metrics
            .upstream_tools
            .get_or_create(&label)
            .set(server.tools.len() as i64);
    }

    let mut written = true;
    if let Some(envoy_config) = &runtime.config.envoy {
        // Secrets and clusters first: the route table names the clusters.
        let specs: Vec<&UpstreamSpec> = runtime.specs.iter().map(|s| &**s).collect();
        let secrets = envoy::sds_documents(runtime.router_token.value(), &specs);
        let names: Vec<String> = secrets.iter().map(|(name, _)| name.clone()).collect();
        let clusters = envoy::cds_document(&runtime.config, envoy_config, &specs);
        let files = secrets
            .into_iter()
            .map(|(name, document)| (envoy::secret_file(envoy_config, &name), document))
            .chain([(envoy::clusters_file(envoy_config), clusters)]);
        if let Err(error) = envoy::remove_other_secret_files(envoy_config, &names) {
            tracing::warn!(%error, "cannot remove the secret files of removed servers");
        }
        for (file, document) in files {
            let bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
            if let Err(error) = envoy::write_if_changed(&file, &bytes) {
                written = false;
                tracing::error!(file = %file.display(), %error, "cannot write a file for Envoy");
            }
        }
        let document = envoy::ecds_document(envoy_config, &composite.route_table);
        let bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
        match envoy::write_if_changed(&envoy_config.route_table_file, &bytes) {
            Ok(true) => {
                state.metrics.route_table_writes.inc();
                tracing::info!(
                    file = %envoy_config.route_table_file.display(),
                    servers = composite.route_table.servers.len(),
                    tools = composite.route_table.servers.iter().map(|s| s.tools.len()).sum::<usize>(),
                    "route table written for Envoy"
                );
            }
            Ok(false) => {}
            Err(error) => {
                written = false;
                tracing::error!(
                    file = %envoy_config.route_table_file.display(),
                    %error,
                    "cannot write the route table for Envoy"
                );
            }
        }
    }
    // In force (listed, announced) once the proxy can load it: lists must
    // not name what the router cannot route yet.
    let changed = state.catalog.install(composite.clone(), false);
    for entry in Entry::ALL.into_iter().filter(|entry| *changed.get(*entry)) {
        tracing::info!(
            entries = composite.list(entry).definitions.len(),
            "aggregated {} list changed",
            entry.noun()
        );
    }
    let discovered = composite
        .servers
        .iter()
        .all(|s| s.health != Health::Connecting);
    state.set_ready(written && discovered);
}
