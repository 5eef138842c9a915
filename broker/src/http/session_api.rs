//! The router's session API (see `router_config::session_api` for the
//! contract): the upstream session of a gateway session on one upstream,
//! opened on first use, one handshake however many calls ask at once.
//!
//! Internal: only the gateway's Envoy may call it ([`super::gateway_only`]).
//! Every call checks the gateway session as the MCP endpoint does
//! (signature, expiry, end, identity binding), and the answer carries the
//! session's expiry, so the router's cache never outlives it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_protocol::headers;
use mcp_protocol::refusal::Refusal;
use router_config::session_api::{UpstreamSessionRequest, UpstreamSessionResponse};

use super::rpc;
use crate::metrics::HandshakeLabels;
use crate::sessions::{Opened, StoreError};
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
            return rpc::refuse(Refusal::BadInternalRequest {
                detail: format!("session API body: {error}"),
            });
        }
    };
    let Some(gateway) = request_headers
        .get(headers::X_MCP_GATEWAY_SESSION)
        .and_then(|v| v.to_str().ok())
    else {
        return rpc::refuse(Refusal::BadInternalRequest {
            detail: "session API: x-mcp-gateway-session header is required".to_owned(),
        });
    };
    match open(
        &state,
        &request_headers,
        gateway,
        &request.server,
        request.stale_session_id.as_deref(),
    )
    .await
    {
        Ok(session) => Json(session).into_response(),
        Err(refusal) => rpc::refuse(refusal),
    }
}

/// The upstream session of `gateway` on `server`, opened on first use
/// (one handshake however many ask at once), after the checks every use of
/// a gateway session makes: signature, expiry, end, and the identity of
/// `request_headers` (MCP "Security Best Practices › Session Hijacking").
/// `stale`: an upstream session id the upstream no longer knows.
///
/// # Errors
/// [`Refusal::SessionNotFound`], [`Refusal::SessionOfAnotherIdentity`],
/// [`Refusal::ServerNotConfigured`], the handshake's and the store's.
pub async fn open(
    state: &Arc<AppState>,
    request_headers: &HeaderMap,
    gateway: &str,
    server: &str,
    stale: Option<&str>,
) -> Result<UpstreamSessionResponse, Refusal> {
    let runtime = state.runtime.load_full();
    let claims = match runtime.signer.verify(gateway) {
        Ok(claims) => claims,
        Err(error) => return Err(session_not_found(&error.to_string())),
    };
    match state.sessions.is_ended(gateway).await {
        Ok(false) => {}
        Ok(true) => return Err(session_not_found("ended")),
        Err(error) => return Err(error.into()),
    }
    // The router forwards the headers the client's request identified with.
    let identity = super::mcp::identity_of(request_headers, runtime.config.identity_header());
    if !claims.is_bound_to(identity) {
        return Err(Refusal::SessionOfAnotherIdentity);
    }
    let Some(spec) = runtime.spec(server).cloned() else {
        return Err(Refusal::ServerNotConfigured {
            server: server.to_owned(),
        });
    };

    let timeout = runtime.handshake_timeout();
    let result = state
        .sessions
        .upstream_session(gateway, &spec.name, stale, || {
            // The handshake may outlive this request (other callers
            // share it), so it owns what it uses.
            let state = state.clone();
            let spec = spec.clone();
            // Declared as the client declared it; the level it set, if any.
            let capabilities = claims.client_capabilities.to_json();
            let gateway_owned = gateway.to_owned();
            async move {
                // Only a handshake needs the level, so only it reads it;
                // unreadable, the upstream gets none (it is advice).
                let log_level = match state.sessions.log_level(&gateway_owned).await {
                    Ok(level) => level,
                    Err(error) => {
                        tracing::warn!(%error, "logging level not read for the handshake");
                        None
                    }
                };
                let result = handshake::open(
                    &state.http,
                    &spec,
                    claims.protocol_version,
                    capabilities,
                    log_level,
                    timeout,
                )
                .await;
                state
                    .metrics
                    .upstream_handshakes
                    .get_or_create(&HandshakeLabels {
                        server: spec.name.clone(),
                        result: if result.is_ok() { "ok" } else { "error" },
                    })
                    .inc();
                match &result {
                    Ok(session) => {
                        tracing::info!(
                            server = %spec.name,
                            protocol_version = %session.protocol_version,
                            "upstream session opened"
                        );
                        super::streams::attach(&state, &gateway_owned, &spec, session).await;
                    }
                    Err(error) => {
                        tracing::warn!(server = %spec.name, %error, "upstream handshake failed")
                    }
                }
                result
            }
        })
        .await;
    if let Ok(Opened { to_close, .. }) = &result
        && !to_close.is_empty()
    {
        // A stale session the upstream rejected, or ours when another
        // replica's reached the store first: tell the upstream, in the
        // background.
        let (http, spec, to_close) = (state.http.clone(), spec.clone(), to_close.clone());
        tokio::spawn(async move {
            for id in to_close {
                handshake::close(&http, &spec, &id).await;
            }
        });
    }
    let ended_meanwhile = result.is_ok() && state.sessions.is_ended(gateway).await.unwrap_or(false);
    match result {
        // The gateway session ended while its handshake ran: nobody will
        // use or close the upstream sessions stored since (ours among
        // them), so take them out of the store and close them now.
        Ok(opened) if ended_meanwhile => {
            let mut stored = state
                .sessions
                .end(gateway, runtime.session_max_age())
                .await
                .unwrap_or_default();
            if let Some(id) = opened.session.session_id
                && !stored.iter().any(|(_, held)| *held == id)
            {
                stored.push((spec.name.clone(), id));
            }
            for (server, id) in stored {
                if let Some(spec) = runtime.spec(&server) {
                    handshake::close(&state.http, spec, &id).await;
                }
            }
            Err(session_not_found("ended while its upstream handshake ran"))
        }
        Ok(Opened { session, .. }) => Ok(UpstreamSessionResponse {
            session_id: session.session_id,
            protocol_version: session.protocol_version,
            expires_at: claims.expires_at_unix(),
            // The local Envoy injects credentials itself, from its own
            // secret: the router never holds them.
            authorization: if runtime.envoy_injects_credentials() {
                None
            } else {
                spec.authorization.clone()
            },
        }),
        Err(StoreError::Handshake(error)) => Err(Refusal::HandshakeFailed {
            detail: error.to_string(),
        }),
        Err(refusal @ StoreError::TooManyHandshakes { .. }) => {
            tracing::warn!(server = %spec.name, %refusal, "upstream handshake refused");
            Err(Refusal::TooManyHandshakes {
                detail: refusal.to_string(),
            })
        }
        Err(StoreError::Records(error)) => Err(error.into()),
        Err(refusal @ StoreError::AtCapacity { .. }) => {
            tracing::warn!(server = %spec.name, %refusal, "upstream handshake refused");
            Err(Refusal::AtCapacity {
                detail: refusal.to_string(),
            })
        }
    }
}

fn session_not_found(reason: &str) -> Refusal {
    tracing::debug!(reason, "session API: gateway session not found");
    Refusal::SessionNotFound
}

/// `POST /v1/route-tables/loaded`: a router reports the table it routes
/// with; the catalogue change that table brought is announced now.
pub async fn table_loaded(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<router_config::session_api::TableLoaded>(&body) {
        Ok(loaded) => {
            state.catalog.table_in_use(&loaded.id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => rpc::refuse(Refusal::BadInternalRequest {
            detail: format!("route table report: {error}"),
        }),
    }
}
