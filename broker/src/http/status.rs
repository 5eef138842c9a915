//! Health, readiness, status and metrics endpoints.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::catalog::Composite;
use crate::state::AppState;

/// Liveness: the process serves HTTP.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: every upstream was tried once and the route table is in
/// place (written for the local Envoy, when there is one).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: discovering upstreams\n",
        )
            .into_response()
    }
}

/// `GET /status`: upstreams with health and tools, the exposed tools, the
/// route table and what its builder had to leave out (conflicts), sessions.
pub async fn status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let mut status = document(&state.catalog.current(), state.is_ready());
    let counts = state.sessions.counts();
    status["sessions"] = serde_json::json!({
        "store": state.sessions.kind(),
        "upstream": counts.map(|(upstream, _)| upstream),
        "ended": counts.map(|(_, ended)| ended)
    });
    Json(status)
}

/// The catalogue part of `/status`.
pub fn document(composite: &Composite, ready: bool) -> serde_json::Value {
    let route_table = composite.route_table.to_json();
    let tools: Vec<_> = composite.route_table.exposed_tools().collect();
    serde_json::json!({
        "ready": ready,
        "servers": composite.servers,
        "tools": tools,
        "issues": composite.issues.iter().map(ToString::to_string).collect::<Vec<_>>(),
        // The same, typed: the operator turns them into conditions.
        "buildIssues": composite.issues,
        // The table itself, for the operator to distribute unchanged.
        "routeTable": {
            "id": composite.route_table.id,
            "servers": composite.route_table.servers.len(),
            "tools": tools.len(),
            "bytes": route_table.len(),
            "table": composite.route_table,
        },
    })
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
