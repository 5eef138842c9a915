//! The MCP endpoint (Streamable HTTP, MCP 2025-11-25 "Transports"), for
//! every message the router does not route to an upstream itself:
//! `initialize`, `ping`, the aggregated lists, `logging/setLevel`,
//! notifications and `DELETE`. `GET` streams are in [`super::streams`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_protocol::identity::Identity;
use mcp_protocol::message::{self, MessageKind};
use mcp_protocol::refusal::Refusal;
use mcp_protocol::versions::{self, Era};
use mcp_protocol::{access, headers, methods};
use router_config::Entry;
use serde_json::value::RawValue;

use super::rpc::{self, RpcFailure};
use super::upstream_sessions;
use crate::client_capabilities::ClientCapabilities;
use crate::session_token::SessionClaims;
use crate::state::AppState;
use crate::upstream::Capabilities;

/// Server name announced in `initialize`.
pub const SERVER_NAME: &str = "mcp-wasm-gateway";

/// `POST {mcpPath}`: one JSON-RPC message.
pub async fn post(
    State(state): State<Arc<AppState>>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = check_access(&state, &request_headers) {
        return rpc::refuse(refusal);
    }
    // The era is the request's own (MCP 2026-07-28, "Versioning › Backward
    // Compatibility"): its MCP-Protocol-Version header, as the router reads it.
    match versions::era_of(header_str(&request_headers, headers::PROTOCOL_VERSION)) {
        Ok(Era::Modern) => return super::modern::post(state, request_headers, body).await,
        Ok(Era::Handshake) => {}
        Err(version) => {
            return super::modern::refuse(
                &Refusal::UnsupportedProtocolVersion {
                    version: version.to_owned(),
                },
                None,
            );
        }
    }
    let message = match message::parse(&body) {
        Ok(message) => message,
        Err(failure) => {
            let id = failure.id();
            return RpcFailure::from(Refusal::Malformed(failure))
                .with_id(id.as_deref())
                .into_response();
        }
    };
    let (method, id) = match &message.kind {
        MessageKind::Call { method, .. } => (method.as_ref(), message.id),
        MessageKind::Response => (methods::RESPONSE_LABEL, None),
    };
    state.metrics.count_request(method);

    if method == methods::INITIALIZE {
        let Some(id) = id else {
            return rpc::refuse(Refusal::InvalidMessage {
                detail: "initialize is a request and needs an \"id\"".to_owned(),
            });
        };
        return initialize(&state, id, &body, &request_headers);
    }

    if let Some(first_call) = header_str(&request_headers, headers::X_MCP_FIRST_CALL) {
        // A routed call the router had no upstream session for: its
        // checks are the session API's, made once inside.
        let server = header_str(&request_headers, headers::X_MCP_SERVERNAME).unwrap_or_default();
        let stale = Some(first_call).filter(|s| *s != "-");
        return super::first_call::forward(
            &state,
            &request_headers,
            server,
            stale,
            id,
            body.clone(),
        )
        .await;
    }
    let (gateway, claims) = match session(&state, &request_headers).await {
        Ok(session) => session,
        Err(refusal) => return RpcFailure::from(refusal).with_id(id).into_response(),
    };
    let bridged = header_str(&request_headers, headers::X_MCP_SERVERNAME);
    let Some(id) = id else {
        // Client responses: the router relays answers to upstream requests
        // itself (`mcp_protocol::relay_id`); one that reaches the broker
        // answers a request the bridge relayed, or nothing it asked.
        // Notifications: relayed where the upstreams need them.
        match message.kind {
            MessageKind::Call { .. } => {
                upstream_sessions::relay_notification(state.clone(), gateway, method, &body);
            }
            MessageKind::Response
                if bridged.is_some() || crate::bridge::to_modern::answers_a_held_call(&body) =>
            {
                if let Err(refusal) = crate::bridge::to_modern::answer(&state.bridge, &body).await {
                    return RpcFailure::from(refusal).into_response();
                }
            }
            MessageKind::Response => {}
        }
        return StatusCode::ACCEPTED.into_response();
    };
    let refuse = |refusal: Refusal| RpcFailure::from(refusal).with_id(Some(id)).into_response();
    let list = |entry: Entry| {
        if has_cursor(&body) {
            return refuse(Refusal::InvalidCursor);
        }
        // The list of the table the asking proxy routes with.
        let table = header_str(&request_headers, headers::X_MCP_ROUTE_TABLE);
        let composite = state.catalog.for_table(table);
        let policy = &composite.route_table.policy;
        match access_of(policy, &request_headers) {
            Ok(access) => rpc::result(id, &*composite.list_for(entry, &access, policy.is_active())),
            Err(refusal) => refuse(refusal),
        }
    };
    match method {
        methods::PING => rpc::result(id, serde_json::json!({})),
        methods::TOOLS_LIST => list(Entry::Tool),
        methods::PROMPTS_LIST => list(Entry::Prompt),
        methods::RESOURCES_LIST => list(Entry::Resource),
        methods::RESOURCES_TEMPLATES_LIST => list(Entry::ResourceTemplate),
        methods::LOGGING_SET_LEVEL => {
            if !state.catalog.current().capabilities.logging {
                return refuse(Refusal::MethodNotFound {
                    method: method.to_owned(),
                });
            }
            match upstream_sessions::set_log_level(&state, gateway, &claims, &body).await {
                Ok(()) => rpc::result(id, serde_json::json!({})),
                Err(refusal) => refuse(refusal),
            }
        }
        methods::TOOLS_CALL
        | methods::PROMPTS_GET
        | methods::RESOURCES_READ
        | methods::COMPLETION_COMPLETE
            if bridged.is_some() =>
        {
            let server = bridged.unwrap_or_default();
            let runtime = state.runtime.load_full();
            let Some(spec) = runtime.spec(server).cloned() else {
                return refuse(Refusal::ServerNotConfigured {
                    server: server.to_owned(),
                });
            };
            if method == methods::TOOLS_CALL
                && let Some(tool) =
                    crate::bridge::approval::needed(&state, server, &request_headers)
            {
                return match crate::bridge::approval::call(
                    state.clone(),
                    request_headers.clone(),
                    &claims,
                    spec,
                    tool,
                    body.to_vec(),
                ) {
                    Ok(messages) => super::streams::events(messages),
                    Err(refusal) => refuse(refusal),
                };
            }
            match crate::bridge::to_modern::call(
                state.bridge.clone(),
                state.http.clone(),
                spec,
                &claims,
                &body,
            ) {
                Ok(messages) => super::streams::events(messages),
                Err(refusal) => refuse(refusal),
            }
        }
        methods::TOOLS_CALL
        | methods::PROMPTS_GET
        | methods::RESOURCES_READ
        | methods::RESOURCES_SUBSCRIBE
        | methods::RESOURCES_UNSUBSCRIBE
        | methods::COMPLETION_COMPLETE => refuse(Refusal::RoutedByFilter {
            method: method.to_owned(),
        }),
        other => {
            tracing::debug!(
                method = other,
                version = claims.protocol_version,
                "method not offered"
            );
            refuse(Refusal::MethodNotFound {
                method: other.to_owned(),
            })
        }
    }
}

/// The access of a request under `policy` (its route table's): the
/// verified claims header and the virtual server the router set (it strips
/// a client's `x-mcp-virtualserver`; only the gateway's Envoy reaches the
/// broker).
///
/// # Errors
/// The claims header is unreadable, or the virtual server unknown.
pub fn access_of<'p>(
    policy: &'p router_config::Policy,
    request_headers: &HeaderMap,
) -> Result<router_config::Access<'p>, Refusal> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let request = router_config::policy::RequestIdentity {
        claims: request_headers
            .get(policy.claims_header.as_str())
            .map(|v| v.as_bytes()),
        authorized: request_headers
            .get(headers::X_MCP_AUTHORIZED)
            .map(|v| v.as_bytes()),
        virtual_server: header_str(request_headers, headers::X_MCP_VIRTUALSERVER),
    };
    policy.access_of_request(&request, now)
}

/// Whether a list request names a cursor: the gateway issues none.
fn has_cursor(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/params/cursor").cloned())
        .is_some_and(|cursor| !cursor.is_null())
}

/// `initialize`: agree on a version, mint the gateway session, bound to the
/// identity of the request and carrying what its client declared.
fn initialize(
    state: &AppState,
    id: &RawValue,
    body: &[u8],
    request_headers: &HeaderMap,
) -> Response {
    let params = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("params").cloned())
        .unwrap_or_default();
    let Some(requested) = params["protocolVersion"].as_str() else {
        return RpcFailure::from(Refusal::InvalidParams {
            detail: "initialize needs params.protocolVersion".to_owned(),
        })
        .with_id(Some(id))
        .into_response();
    };
    let version = versions::negotiate(requested);
    let client = ClientCapabilities::of_initialize_params(&params["capabilities"]);
    let runtime = state.runtime.load();
    let identity = identity_of(request_headers, runtime.config.identity_header());
    let session_id = runtime.signer.mint(version, identity, client);
    state.metrics.sessions_started.inc();
    tracing::info!(requested, agreed = version, "gateway session started");
    let mut response = rpc::result(
        id,
        serde_json::json!({
            "protocolVersion": version,
            "capabilities": advertised(&state.catalog.current().capabilities),
            "serverInfo": {
                "name": SERVER_NAME,
                "title": "MCP WASM Gateway",
                "version": env!("CARGO_PKG_VERSION")
            },
            "instructions": "Tools and prompts of several MCP servers behind one gateway; their names carry their server's prefix. Resource URIs are the servers' own."
        }),
    );
    if let Ok(value) = HeaderValue::from_str(&session_id) {
        response.headers_mut().insert(headers::SESSION_ID, value);
    }
    response
}

/// The capabilities `initialize` advertises: exactly what the federated
/// upstreams offer. Tools are always listed (the list may be empty, and
/// fills as upstreams come up); every list announces its changes.
pub fn advertised(offered: &Capabilities) -> serde_json::Value {
    let mut capabilities = serde_json::json!({ "tools": { "listChanged": true } });
    if offered.prompts {
        capabilities["prompts"] = serde_json::json!({ "listChanged": true });
    }
    if offered.resources {
        capabilities["resources"] =
            serde_json::json!({ "subscribe": offered.resources_subscribe, "listChanged": true });
    }
    if offered.completions {
        capabilities["completions"] = serde_json::json!({});
    }
    if offered.logging {
        capabilities["logging"] = serde_json::json!({});
    }
    capabilities
}

/// `DELETE {mcpPath}`: ends the gateway session and its upstream sessions.
pub async fn delete(State(state): State<Arc<AppState>>, request_headers: HeaderMap) -> Response {
    if let Err(refusal) = check_access(&state, &request_headers) {
        return rpc::refuse(refusal);
    }
    if is_modern(&request_headers) {
        return super::modern::refuse(&Refusal::MethodNotAllowed, None);
    }
    let gateway = match session(&state, &request_headers).await {
        Ok((gateway, _)) => gateway.to_owned(),
        Err(refusal) => return rpc::refuse(refusal),
    };
    let runtime = state.runtime.load_full();
    let upstream = match state
        .sessions
        .end(&gateway, runtime.session_max_age())
        .await
    {
        Ok(upstream) => upstream,
        Err(error) => return rpc::refuse(error.into()),
    };
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

/// The request's gateway session id and claims: 400 without one (MCP
/// "Session Management": the server SHOULD answer 400), 404 when it is not
/// one of ours, expired or ended (the client MUST then start a new
/// session), 403 when another identity opened it.
pub async fn session<'h>(
    state: &AppState,
    request_headers: &'h HeaderMap,
) -> Result<(&'h str, SessionClaims), Refusal> {
    let Some(id) = header_str(request_headers, headers::SESSION_ID) else {
        return Err(Refusal::MissingSession);
    };
    let runtime = state.runtime.load();
    let claims = runtime.signer.verify(id).map_err(|error| {
        tracing::debug!(%error, "gateway session not found");
        Refusal::SessionNotFound
    })?;
    if state.sessions.is_ended(id).await? {
        return Err(Refusal::SessionNotFound);
    }
    let identity = identity_of(request_headers, runtime.config.identity_header());
    if !claims.is_bound_to(identity) {
        return Err(Refusal::SessionOfAnotherIdentity);
    }
    Ok((id, claims))
}

/// MCP 2025-11-25 "Transports › Security Warning": a present Origin that is
/// not allowed gets 403 (DNS rebinding), and so does a Host the gateway does
/// not serve. The router applies the same rules (`mcp_protocol::access`)
/// before anything reaches the broker; the broker checks again for where no
/// router runs in front of it.
pub fn check_access(state: &AppState, request_headers: &HeaderMap) -> Result<(), Refusal> {
    let runtime = state.runtime.load();
    let origin = header_str(request_headers, header::ORIGIN.as_str());
    if !access::origin_allowed(origin, &runtime.config.allowed_origins) {
        return Err(Refusal::OriginNotAllowed {
            origin: origin.unwrap_or_default().to_owned(),
        });
    }
    let host = header_str(request_headers, header::HOST.as_str()).unwrap_or_default();
    if !access::host_allowed(host, &runtime.allowed_hosts()) {
        return Err(Refusal::HostNotAllowed {
            host: host.to_owned(),
        });
    }
    Ok(())
}

/// Whether a request says it is of the stateless era (its
/// `MCP-Protocol-Version`).
pub fn is_modern(request_headers: &HeaderMap) -> bool {
    header_str(request_headers, headers::PROTOCOL_VERSION).is_some_and(versions::is_modern)
}

pub fn header_str<'h>(request_headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    request_headers.get(name).and_then(|v| v.to_str().ok())
}
