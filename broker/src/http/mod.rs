//! The broker's HTTP surface: `fn app(state) -> Router`.
//!
//! | route | what |
//! |---|---|
//! | `POST/GET/DELETE {mcpPath}` | the MCP endpoint (Streamable HTTP) for everything the router does not route, and a routed call's first one ([`first_call`]) |
//! | `POST /v1/upstream-sessions` | the router's session API (internal) |
//! | `GET /.well-known/oauth-protected-resource[/{path}]` | OAuth protected resource metadata (RFC 9728), when `authentication` is set |
//! | `GET /healthz`, `/readyz` | liveness, readiness |
//! | `GET /status` | upstreams, health, tools, conflicts (JSON) |
//! | `GET /metrics` | Prometheus metrics |
//!
//! The MCP endpoint and the session API answer only the gateway's Envoy
//! ([`gateway_only`]); health, status and metrics are for operators and
//! probes, and carry no secrets.

mod calls;
mod first_call;
mod gateway_only;
mod mcp;
mod metadata;
mod modern;
mod rpc;
pub(crate) mod session_api;
pub mod status;
pub(crate) mod streams;
mod upstream_sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use crate::state::AppState;

/// Path of the router's session API (the contract's, `router_config`).
pub const SESSION_API_PATH: &str = router_config::session_api::PATH;

/// The broker's routes. The MCP path is read from the configuration once:
/// changing `mcpPath` needs a restart.
pub fn app(state: Arc<AppState>) -> Router {
    let runtime = state.runtime.load();
    let mcp_path = runtime.config.mcp_path.clone();
    let body_limit = runtime.config.limits.max_request_body_bytes as usize;
    // The deadline covers reading the request and making the response's
    // head; an SSE stream's body goes on after it.
    let deadline = runtime.config.limits.request_timeout();
    let gateway = Router::new()
        .route(
            &mcp_path,
            post(mcp::post).get(streams::get).delete(mcp::delete),
        )
        .route(SESSION_API_PATH, post(session_api::post))
        .route(
            router_config::session_api::TABLE_LOADED_PATH,
            post(session_api::table_loaded),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gateway_only::require,
        ));
    Router::new()
        .merge(gateway)
        .route(gateway_config::METADATA_PATH, get(metadata::get))
        .route(
            &format!("{}/{{*path}}", gateway_config::METADATA_PATH),
            get(metadata::get),
        )
        .route("/healthz", get(status::healthz))
        .route("/readyz", get(status::readyz))
        .route("/status", get(status::status))
        .route("/metrics", get(status::metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            deadline,
        ))
        // Handlers log their own failures; `/readyz` answers 503 by design.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span)
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests;
