//! The MCP endpoint (Streamable HTTP, MCP 2025-11-25 "Transports"), for
//! every message the router passes to the broker: `initialize`, `ping`,
//! `tools/list`, notifications, client responses, `GET` streams and
//! `DELETE`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use mcp_protocol::identity::Identity;
use mcp_protocol::message::{self, MessageKind};
use mcp_protocol::{ErrorCode, access, headers, methods, versions};
use serde_json::value::RawValue;
use tokio_stream::wrappers::BroadcastStream;

use super::rpc::{self, RpcFailure};
use crate::session_token::SessionClaims;
use crate::state::AppState;

/// Server name announced in `initialize`.
pub const SERVER_NAME: &str = "mcp-wasm-gateway";

/// `POST {mcpPath}`: one JSON-RPC message.
pub async fn post(
    State(state): State<Arc<AppState>>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(failure) = check_origin(&state, &request_headers) {
        return failure.into_response();
    }
    let message = match message::parse(&body) {
        Ok(message) => message,
        Err(failure) => {
            return RpcFailure {
                status: StatusCode::BAD_REQUEST,
                error: failure.rpc_error(),
                id: failure.id(),
            }
            .into_response();
        }
    };
    let (method, id) = match &message.kind {
        MessageKind::Call { method, .. } => (method.as_ref(), message.id),
        MessageKind::Response => (methods::RESPONSE_LABEL, None),
    };
    state.metrics.count_request(method);

    // A client of the stateless era (2026-07-28) probes first; answering 400
    // with a JSON-RPC error of the handshake era makes it fall back to
    // `initialize` (MCP 2026-07-28, "Streamable HTTP › Backward
    // Compatibility"). Codes -32020..-32099 would read as "modern server".
    if let Some(version) = header_str(&request_headers, headers::PROTOCOL_VERSION)
        && !versions::is_supported(version)
    {
        return RpcFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {version:?}; this gateway speaks {}",
                versions::SUPPORTED.join(", ")
            ),
        )
        .into_response();
    }

    if method == methods::INITIALIZE {
        let Some(id) = id else {
            return RpcFailure::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                "Invalid Request: initialize is a request and needs an \"id\"",
            )
            .into_response();
        };
        return initialize(&state, id, &body, &request_headers);
    }

    let claims = match session(&state, &request_headers) {
        Ok(claims) => claims,
        Err(failure) => return failure.with_id(id).into_response(),
    };
    let Some(id) = id else {
        // Notifications and client responses: accepted, nothing to answer.
        return StatusCode::ACCEPTED.into_response();
    };
    match method {
        methods::PING => rpc::result(id, serde_json::json!({})),
        methods::TOOLS_LIST => {
            // The list of the table the asking proxy routes with.
            let table = header_str(&request_headers, headers::X_MCP_ROUTE_TABLE);
            let composite = state.catalog.for_table(table);
            rpc::result(id, &*composite.tools_list_result)
        }
        methods::TOOLS_CALL => RpcFailure::new(
            StatusCode::OK,
            ErrorCode::MethodNotFound,
            "tools/call is routed by the mcp-router filter: call the gateway's Envoy listener, not the broker",
        )
        .with_id(Some(id))
        .into_response(),
        other => {
            tracing::debug!(method = other, version = claims.protocol_version, "method not offered");
            RpcFailure::new(
                StatusCode::OK,
                ErrorCode::MethodNotFound,
                format!("Method not found: {other}"),
            )
            .with_id(Some(id))
            .into_response()
        }
    }
}

/// `initialize`: agree on a version, mint the gateway session, bound to the
/// identity of the request.
fn initialize(
    state: &AppState,
    id: &RawValue,
    body: &[u8],
    request_headers: &HeaderMap,
) -> Response {
    let requested = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/params/protocolVersion")?
                .as_str()
                .map(str::to_owned)
        });
    let Some(requested) = requested else {
        return RpcFailure::new(
            StatusCode::OK,
            ErrorCode::InvalidParams,
            "Invalid params: initialize needs params.protocolVersion",
        )
        .with_id(Some(id))
        .into_response();
    };
    let version = versions::negotiate(&requested);
    let runtime = state.runtime.load();
    let identity = identity_of(
        request_headers,
        runtime.config.session_binding.identity_header.as_deref(),
    );
    let session_id = runtime.signer.mint(version, identity);
    state.metrics.sessions_started.inc();
    tracing::info!(requested, agreed = version, "gateway session started");
    let mut response = rpc::result(
        id,
        serde_json::json!({
            "protocolVersion": version,
            "capabilities": { "tools": { "listChanged": true } },
            "serverInfo": {
                "name": SERVER_NAME,
                "title": "MCP WASM Gateway",
                "version": env!("CARGO_PKG_VERSION")
            },
            "instructions": "Tools of several MCP servers behind one gateway; tool names carry their server's prefix."
        }),
    );
    if let Ok(value) = HeaderValue::from_str(&session_id) {
        response.headers_mut().insert(headers::SESSION_ID, value);
    }
    response
}

/// `GET {mcpPath}`: the session's server-to-client stream, carrying
/// `notifications/tools/list_changed` when the aggregated list changes.
pub async fn get(State(state): State<Arc<AppState>>, request_headers: HeaderMap) -> Response {
    if let Err(failure) = check_origin(&state, &request_headers) {
        return failure.into_response();
    }
    let accepts_sse = header_str(&request_headers, header::ACCEPT.as_str())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if !accepts_sse {
        return RpcFailure::new(
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::InvalidRequest,
            "Not Acceptable: GET opens an SSE stream; send Accept: text/event-stream",
        )
        .into_response();
    }
    if let Err(failure) = session(&state, &request_headers) {
        return failure.into_response();
    }
    let notification = serde_json::json!({
        "jsonrpc": "2.0",
        "method": methods::NOTIFICATION_TOOLS_LIST_CHANGED
    })
    .to_string();
    let events = BroadcastStream::new(state.catalog.subscribe_tools_changed())
        .map(move |_| Ok::<_, Infallible>(Event::default().data(notification.clone())));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `DELETE {mcpPath}`: ends the gateway session and its upstream sessions.
pub async fn delete(State(state): State<Arc<AppState>>, request_headers: HeaderMap) -> Response {
    if let Err(failure) = check_origin(&state, &request_headers) {
        return failure.into_response();
    }
    if let Err(failure) = session(&state, &request_headers) {
        return failure.into_response();
    }
    let Some(gateway) = header_str(&request_headers, headers::SESSION_ID) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let runtime = state.runtime.load_full();
    let upstream = state.sessions.end(gateway, runtime.session_max_age());
    state.metrics.sessions_ended.inc();
    tracing::info!(upstream_sessions = upstream.len(), "gateway session ended");
    let http = state.http.clone();
    tokio::spawn(async move {
        for (server, session_id) in upstream {
            if let Some(spec) = runtime.spec(&server) {
                crate::upstream::handshake::close(&http, spec, &session_id).await;
            }
        }
    });
    StatusCode::OK.into_response()
}

/// Who a request comes from (`mcp_protocol::identity`, the router's rule).
pub fn identity_of<'h>(
    request_headers: &'h HeaderMap,
    identity_header: Option<&str>,
) -> Identity<'h> {
    let value = |name: &str| request_headers.get(name).map(HeaderValue::as_bytes);
    Identity::of_request(
        identity_header.and_then(value),
        value(headers::AUTHORIZATION),
    )
}

/// The request's gateway session: 400 without one (MCP "Session
/// Management": the server SHOULD answer 400), 404 when it is not one of
/// ours, expired or ended (the client MUST then start a new session), 403
/// when another identity opened it.
fn session(state: &AppState, request_headers: &HeaderMap) -> Result<SessionClaims, RpcFailure> {
    let Some(id) = header_str(request_headers, headers::SESSION_ID) else {
        return Err(RpcFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "Bad Request: Mcp-Session-Id header is required; send initialize first",
        ));
    };
    let not_found = |reason: &str| {
        RpcFailure::new(
            StatusCode::NOT_FOUND,
            ErrorCode::SessionNotFound,
            format!("Session not found ({reason}); initialize a new session"),
        )
    };
    let runtime = state.runtime.load();
    let claims = runtime
        .signer
        .verify(id)
        .map_err(|error| not_found(&error.to_string()))?;
    if state.sessions.is_ended(id) {
        return Err(not_found("session ended"));
    }
    let identity = identity_of(
        request_headers,
        runtime.config.session_binding.identity_header.as_deref(),
    );
    if !claims.is_bound_to(identity) {
        return Err(another_identity());
    }
    Ok(claims)
}

/// The refusal of a session opened by another identity.
pub fn another_identity() -> RpcFailure {
    RpcFailure::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "Forbidden: this session was opened by another identity; initialize a session of your own",
    )
}

/// MCP 2025-11-25 "Transports › Security Warning": a present Origin that is
/// not allowed gets 403 (DNS rebinding), and so does a Host the gateway does
/// not serve. The router applies the same rules (`mcp_protocol::access`)
/// before anything reaches the broker; the broker checks again for where no
/// router runs in front of it.
fn check_origin(state: &AppState, request_headers: &HeaderMap) -> Result<(), RpcFailure> {
    let runtime = state.runtime.load();
    let origin = header_str(request_headers, header::ORIGIN.as_str());
    if !access::origin_allowed(origin, &runtime.config.allowed_origins) {
        return Err(RpcFailure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "Forbidden: origin {:?} is not allowed (see allowedOrigins)",
                origin.unwrap_or_default()
            ),
        ));
    }
    let host = header_str(request_headers, header::HOST.as_str()).unwrap_or_default();
    if !access::host_allowed(host, &runtime.allowed_hosts()) {
        return Err(RpcFailure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("Forbidden: host {host:?} is not served by this gateway (see allowedHosts)"),
        ));
    }
    Ok(())
}

fn header_str<'h>(request_headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    request_headers.get(name).and_then(|v| v.to_str().ok())
}
