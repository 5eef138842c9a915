//! `mcp-broker`: the gateway's broker.
//!
//! It serves the MCP endpoint for everything the router filter does not
//! route (`initialize`, `ping`, aggregated `tools/list`, notifications,
//! streams, session end), mints signed gateway sessions, is the MCP client
//! of every upstream (discovery, and the upstream handshakes of gateway
//! sessions, behind the router's session API), and publishes the route
//! table: to the local Envoy through an ECDS file, and on `/status` for the
//! operator. Architecture: docs/architecture.md.

pub mod bridge;
pub mod catalog;
pub mod client_capabilities;
pub use gateway_config as config;
pub mod envoy;
pub mod http;
pub mod metrics;
pub mod reload;
pub mod server;
pub mod session_token;
pub mod sessions;
#[cfg(feature = "test-util")]
pub mod simulate;
pub mod state;
pub mod supervisor;
pub mod telemetry;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, GatewayConfig};
use crate::state::AppState;
use crate::supervisor::Supervisor;

/// The broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    SessionStore(#[from] sessions::records::RecordsError),
}

/// Runs the broker with the configuration at `config_path` until `shutdown`
/// fires, reloading the file when it changes.
///
/// # Errors
/// [`StartError`] when the configuration, session key or listen address
/// cannot be used; after start, problems are logged and served around.
pub async fn run(config_path: PathBuf, shutdown: CancellationToken) -> Result<(), StartError> {
    let config = GatewayConfig::load(&config_path)?;
    let runtime = supervisor::resolve(config, None)?;
    if runtime.router_token == state::RouterToken::None {
        tracing::warn!(
            "routerAuthentication.mode is mesh: the broker does not check who calls it; only a mesh policy admitting the gateway alone keeps others off its session API"
        );
    }
    let listen = runtime.config.listen;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let records = sessions::records::Records::from_config(&runtime.config.session_store)?;
    tracing::info!(store = records.kind(), "session records");
    let state = Arc::new(AppState::with_records(runtime, http, records));

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Listen {
            address: listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(listen);
    tracing::info!(address = %local, "broker listening");

    let mut supervisor = Supervisor::new(state.clone(), shutdown.clone());
    let initial = state.runtime.load_full();
    supervisor.apply(supervisor::resolve(initial.config.clone(), Some(&initial))?);
    tokio::spawn(supervisor::publish(state.clone(), shutdown.clone()));
    tokio::spawn(sweep(state.clone(), shutdown.clone()));

    let reload_state = state.clone();
    let _watcher = match reload::watch(&config_path) {
        Ok((watcher, mut configs)) => {
            tokio::spawn(async move {
                while let Some(config) = configs.recv().await {
                    let current = reload_state.runtime.load_full();
                    match supervisor::resolve(config, Some(&current)) {
                        Ok(runtime) => supervisor.apply(runtime),
                        Err(error) => tracing::error!(%error, "configuration change rejected"),
                    }
                }
            });
            Some(watcher)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch the configuration file; changes need a restart");
            None
        }
    };

    let limits = state.runtime.load().config.limits.clone();
    let app = http::app(state);
    server::serve(listener, app, &limits, shutdown)
        .await
        .map_err(|source| StartError::Listen {
            address: listen,
            source,
        })
}

/// Closes upstream sessions nobody used for the idle timeout, and forgets
/// ended sessions past their time.
async fn sweep(state: Arc<AppState>, shutdown: CancellationToken) {
    loop {
        let idle = state.runtime.load().config.limits.upstream_session_idle();
        tokio::select! {
            () = tokio::time::sleep((idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))) => {}
            () = shutdown.cancelled() => return,
        }
        let runtime = state.runtime.load_full();
        for (server, session_id) in state.sessions.sweep() {
            if let Some(spec) = runtime.spec(&server) {
                upstream::handshake::close(&state.http, spec, &session_id).await;
            }
        }
    }
}
