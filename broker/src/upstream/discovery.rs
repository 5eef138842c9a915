//! Discovery of one upstream's tools, as an MCP client (rmcp), for as long
//! as the upstream is configured.
//!
//! Connect (`initialize`), list all tools, then re-list on
//! `notifications/tools/list_changed` or every refresh interval (the
//! backstop, and the health check). A failure marks the upstream down and
//! withdraws its tools; reconnection backs off from 1 s up to the refresh
//! interval, so a returning upstream gets its tools back within one interval.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Health, UpstreamSpec, UpstreamState, handshake::CLIENT_NAME};
use crate::catalog::Catalog;

/// The discovery client's handler: turns `list_changed` into a wake-up.
#[derive(Clone)]
struct DiscoveryHandler {
    changed: Arc<Notify>,
}

impl ClientHandler for DiscoveryHandler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(CLIENT_NAME, env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// Timing of discovery.
#[derive(Debug, Clone, Copy)]
pub struct DiscoveryTiming {
    pub refresh_interval: Duration,
    pub request_timeout: Duration,
}

/// Runs discovery of `spec` until `cancel` fires, publishing every change
/// of its state to `catalog`.
pub async fn run(
    spec: Arc<UpstreamSpec>,
    http: reqwest::Client,
    timing: DiscoveryTiming,
    catalog: Arc<Catalog>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let changed = Arc::new(Notify::new());
        match connect(&spec, &http, &changed, timing.request_timeout).await {
            Ok(client) => {
                backoff = Duration::from_secs(1);
                let info = client.peer_info().map(|info| {
                    (
                        info.protocol_version.as_str().to_owned(),
                        serde_json::to_value(&info.server_info).ok(),
                    )
                });
                tracing::info!(server = %spec.name, url = %spec.url, "connected to upstream");
                let stop =
                    watch_tools(&spec, &client, info, &changed, timing, &catalog, &cancel).await;
                // Closing sends DELETE for the discovery session; bounded so
                // a dead upstream cannot stall reconnection.
                let _ = tokio::time::timeout(Duration::from_secs(2), client.cancel()).await;
                if stop {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(server = %spec.name, url = %spec.url, %error, "cannot connect to upstream");
                catalog.publish(&spec.name, down(error));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(timing.refresh_interval);
    }
}

type Client = RunningService<RoleClient, DiscoveryHandler>;

async fn connect(
    spec: &UpstreamSpec,
    http: &reqwest::Client,
    changed: &Arc<Notify>,
    timeout: Duration,
) -> Result<Client, String> {
    let config = StreamableHttpClientTransportConfig::with_uri(spec.url.as_str())
        .custom_headers(spec.headers());
    let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
    let handler = DiscoveryHandler {
        changed: changed.clone(),
    };
    match tokio::time::timeout(timeout, handler.serve(transport)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => Err(format!("initialize failed: {error}")),
        Err(_) => Err(format!("initialize timed out after {timeout:?}")),
    }
}

/// Lists tools until the upstream fails (`false`) or discovery is
/// cancelled (`true`).
async fn watch_tools(
    spec: &UpstreamSpec,
    client: &Client,
    info: Option<(String, Option<serde_json::Value>)>,
    changed: &Notify,
    timing: DiscoveryTiming,
    catalog: &Catalog,
    cancel: &CancellationToken,
) -> bool {
    let (protocol_version, server_info) = info.unzip();
    loop {
        match tokio::time::timeout(timing.request_timeout, client.list_all_tools()).await {
            Ok(Ok(tools)) => {
                let tools = tools
                    .iter()
                    .filter_map(|tool| match serde_json::to_value(tool) {
                        Ok(serde_json::Value::Object(map)) => Some(map),
                        _ => None,
                    })
                    .collect();
                catalog.publish(
                    &spec.name,
                    UpstreamState {
                        health: Health::Ready,
                        tools,
                        protocol_version: protocol_version.clone(),
                        server_info: server_info.clone().flatten(),
                        last_error: None,
                        last_change: SystemTime::now(),
                    },
                );
            }
            Ok(Err(error)) => {
                tracing::warn!(server = %spec.name, %error, "tools/list failed; upstream marked down");
                catalog.publish(&spec.name, down(format!("tools/list failed: {error}")));
                return false;
            }
            Err(_) => {
                tracing::warn!(server = %spec.name, "tools/list timed out; upstream marked down");
                catalog.publish(
                    &spec.name,
                    down(format!(
                        "tools/list timed out after {:?}",
                        timing.request_timeout
                    )),
                );
                return false;
            }
        }
        tokio::select! {
            () = changed.notified() => {
                tracing::info!(server = %spec.name, "tools/list_changed received");
            }
            () = tokio::time::sleep(timing.refresh_interval) => {}
            () = cancel.cancelled() => return true,
        }
    }
}

fn down(error: String) -> UpstreamState {
    UpstreamState {
        health: Health::Down,
        last_error: Some(error),
        ..UpstreamState::connecting()
    }
}
