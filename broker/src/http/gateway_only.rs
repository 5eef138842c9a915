//! Only the gateway's Envoy may use the MCP endpoint and the session API:
//! the session API hands out upstream sessions (and credentials, where
//! Envoy does not inject them), and the MCP endpoint must not be a way
//! around the router's checks. Envoy adds `x-mcp-gateway-token` to every
//! request on the broker cluster (an upstream `credential_injector` filter
//! with the token from a secret), overwriting any copy a client sent; a
//! request without the right token is refused `401`. In `mesh` mode the
//! service mesh admits only the gateway's workload, and nothing is checked
//! here.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use mcp_protocol::headers;
use mcp_protocol::refusal::Refusal;

use super::rpc;
use crate::state::AppState;

/// The middleware: passes requests that carry the token in force.
pub async fn require(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let runtime = state.runtime.load();
    if let Some(token) = runtime.router_token.value() {
        let presented = request
            .headers()
            .get(headers::X_MCP_GATEWAY_TOKEN)
            .map(|v| v.as_bytes());
        if !presented.is_some_and(|p| constant_time_eq(p, token.as_bytes())) {
            tracing::warn!(
                path = request.uri().path(),
                "refused a request that did not come through the gateway's Envoy"
            );
            return rpc::refuse(Refusal::NotFromGateway);
        }
    }
    drop(runtime);
    next.run(request).await
}

/// Compares without an early exit, so timing does not reveal how much of
/// a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_tokens_only() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
