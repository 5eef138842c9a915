//! The HTTP surface: MCP at `/mcp`, plus `/stats` and `/admin/enable-late` for tests.

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, routing};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

use crate::tools::{Stats, TestServer, Upstream};

/// Cancelling `shutdown` ends every MCP session (and its SSE streams), so a
/// graceful shutdown does not wait on long-lived streams.
pub fn app(upstream: Arc<Upstream>, shutdown: &CancellationToken) -> Router {
    let for_sessions = upstream.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(TestServer::new(for_sessions.clone())),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default()
            // rmcp accepts only loopback Host headers by default (DNS-rebinding
            // protection for servers on a developer's machine). This server sits
            // behind Envoy, which rewrites :authority to whatever the route table
            // says (e.g. `weather.mcp.local`), so any Host must be accepted.
            .disable_allowed_hosts()
            .with_cancellation_token(shutdown.child_token()),
    );
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/stats", routing::get(stats))
        .route("/admin/enable-late", routing::post(enable_late))
        .with_state(upstream)
}

async fn stats(State(upstream): State<Arc<Upstream>>) -> Json<Stats> {
    Json(upstream.stats())
}

async fn enable_late(State(upstream): State<Arc<Upstream>>) -> StatusCode {
    upstream.enable_late().await;
    StatusCode::NO_CONTENT
}
