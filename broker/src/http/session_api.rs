//! The router's session API (see `router_config::session_api` for the
//! contract): the upstream session of a gateway session on one upstream,
//! opened on first use, one handshake however many calls ask at once.
//!
//! Internal: it hands out upstream credentials, so only the proxy may reach
//! it (the local Envoy routes nothing but the MCP path to the broker).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_protocol::{ErrorCode, headers};
use router_config::session_api::{UpstreamSessionRequest, UpstreamSessionResponse};

use super::rpc::RpcFailure;
use crate::metrics::HandshakeLabels;
use crate::state::AppState;
use crate::upstream::handshake;

pub async fn post(
    State(state): State<Arc<AppState>>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: UpstreamSessionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return RpcFailure::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                format!("session API body: {error}"),
            )
            .into_response();
        }
    };
    let Some(gateway) = request_headers
        .get(headers::X_MCP_GATEWAY_SESSION)
        .and_then(|v| v.to_str().ok())
    else {
        return RpcFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "session API: x-mcp-gateway-session header is required",
        )
        .into_response();
    };
    let claims = match state.signer.verify(gateway) {
        Ok(claims) if !state.sessions.is_ended(gateway) => claims,
        _ => {
            return RpcFailure::new(
                StatusCode::NOT_FOUND,
                ErrorCode::SessionNotFound,
                "gateway session not found",
            )
            .into_response();
        }
    };
    let runtime = state.runtime.load_full();
    let Some(spec) = runtime.spec(&request.server).cloned() else {
        return RpcFailure::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            format!("server {:?} is not configured", request.server),
        )
        .into_response();
    };

    let timeout = runtime.handshake_timeout();
    let result = state
        .sessions
        .upstream_session(
            gateway,
            &spec.name,
            request.stale_session_id.as_deref(),
            || {
                // The handshake may outlive this request (other callers
                // share it), so it owns what it uses.
                let state = state.clone();
                let spec = spec.clone();
                async move {
                    let result =
                        handshake::open(&state.http, &spec, claims.protocol_version, timeout).await;
                    state
                        .metrics
                        .upstream_handshakes
                        .get_or_create(&HandshakeLabels {
                            server: spec.name.clone(),
                            result: if result.is_ok() { "ok" } else { "error" },
                        })
                        .inc();
                    match &result {
                        Ok(session) => tracing::info!(
                            server = %spec.name,
                            protocol_version = %session.protocol_version,
                            "upstream session opened"
                        ),
                        Err(error) => {
                            tracing::warn!(server = %spec.name, %error, "upstream handshake failed")
                        }
                    }
                    result
                }
            },
        )
        .await;
    match result {
        // The gateway session ended while its handshake ran: nobody will
        // use or close this upstream session, so close it now.
        Ok(session) if state.sessions.is_ended(gateway) => {
            if let Some(id) = &session.session_id {
                handshake::close(&state.http, &spec, id).await;
            }
            RpcFailure::new(
                StatusCode::NOT_FOUND,
                ErrorCode::SessionNotFound,
                "gateway session ended",
            )
            .into_response()
        }
        Ok(session) => Json(UpstreamSessionResponse {
            session_id: session.session_id,
            protocol_version: session.protocol_version,
            authorization: spec.authorization.clone(),
        })
        .into_response(),
        Err(error) => RpcFailure::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            error.to_string(),
        )
        .into_response(),
    }
}
