//! The first call of an upstream session, forwarded for the router
//! (`router_config::session_api`, "The first call"): the router had no
//! upstream session cached for the call, so it sent the call here instead
//! of asking the session API and pausing. The broker opens the upstream
//! session with every check the session API makes ([`session_api::open`]),
//! forwards the call on it, and answers with the upstream's response as
//! the upstream sent it (status, body, content type, session id; the
//! router maps the id back) plus the session in `x-mcp-upstream-session`,
//! which the router caches and removes.
//!
//! The call reaches the upstream as a routed call would: the body as the
//! router left it (byte for byte), the client's headers but for the
//! credentials the server did not opt into and the gateway's internal
//! ones, the router's routing headers (`x-mcp-servername`, …), the
//! upstream session's id and version, and the server's credential.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mcp_protocol::headers;
use mcp_protocol::refusal::Refusal;
use router_config::session_api::UpstreamSessionResponse;
use serde_json::value::RawValue;

use super::rpc::RpcFailure;
use super::session_api;
use crate::state::AppState;
use crate::upstream::UpstreamSpec;

/// The router's own headers a routed call carries to its upstream (and
/// the policies on the way): what the call is, and where it goes.
const ROUTING_HEADERS: [&str; 5] = [
    headers::X_MCP_METHOD,
    headers::X_MCP_SERVERNAME,
    headers::X_MCP_TOOLNAME,
    headers::X_MCP_PROMPTNAME,
    headers::X_MCP_RESOURCEURI,
];

/// Request headers that never go on to the upstream: the hop's own
/// (RFC 9110 §7.6.1), those the broker sets for the upstream session, the
/// gateway's internal ones (every `x-mcp-*` but [`ROUTING_HEADERS`], its
/// Envoy token among them; Envoy's), and the body framing (the body is sent
/// as it is).
fn is_gateway_or_hop(name: &str) -> bool {
    if ROUTING_HEADERS.contains(&name) {
        return false;
    }
    matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "accept-encoding"
            | headers::SESSION_ID
            | headers::PROTOCOL_VERSION
    ) || name.starts_with(headers::ROUTER_PREFIX)
        || name.starts_with("x-envoy-")
}

/// The client headers the upstream receives with a forwarded first call:
/// everything but [`is_gateway_or_hop`] and the credential headers
/// (`mcp_protocol::headers::CLIENT_CREDENTIALS`) the server did not opt
/// into (`forwardAuthorization`, `forwardHeaders`), the rule the router's
/// route plan applies to every routed call.
pub fn forwarded_headers(request_headers: &HeaderMap, spec: &UpstreamSpec) -> HeaderMap {
    let mut forwarded = HeaderMap::with_capacity(request_headers.len());
    for (name, value) in request_headers {
        let name_str = name.as_str();
        if is_gateway_or_hop(name_str) {
            continue;
        }
        let credential = headers::CLIENT_CREDENTIALS.contains(&name_str);
        let opted_in = if name_str == headers::AUTHORIZATION {
            spec.forward_authorization
        } else {
            spec.forward_headers.iter().any(|h| h == name_str)
        };
        if credential && !opted_in {
            continue;
        }
        forwarded.append(name.clone(), value.clone());
    }
    forwarded
}

/// Opens the upstream session of the call's gateway session on `server`
/// (`stale`: the upstream session id to replace), forwards `body` on it and
/// answers with the upstream's response and the session record.
///
/// A refusal (the gateway session's checks, the handshake, the store's
/// bounds, an unreachable upstream) is a JSON-RPC error answering `id`,
/// without the record header.
pub async fn forward(
    state: &Arc<AppState>,
    request_headers: &HeaderMap,
    server: &str,
    stale: Option<&str>,
    id: Option<&RawValue>,
    body: Bytes,
) -> Response {
    let refuse = |refusal: Refusal| RpcFailure::from(refusal).with_id(id).into_response();
    let Some(gateway) = super::mcp::header_str(request_headers, headers::SESSION_ID) else {
        return refuse(Refusal::MissingSession);
    };
    let session = match session_api::open(state, request_headers, gateway, server, stale).await {
        Ok(session) => session,
        Err(refusal) => return refuse(refusal),
    };
    let Some(spec) = state.runtime.load().spec(server).cloned() else {
        return refuse(Refusal::ServerNotConfigured {
            server: server.to_owned(),
        });
    };
    let Ok(record) = HeaderValue::from_str(&serde_json::to_string(&session).unwrap_or_default())
    else {
        return refuse(Refusal::Internal {
            detail: "the upstream session does not fit a header".to_owned(),
        });
    };
    let upstream = match send(state, request_headers, &spec, &session, body).await {
        Ok(upstream) => upstream,
        Err(error) => {
            tracing::warn!(server, %error, "forwarded first call did not reach the upstream");
            return refuse(Refusal::UpstreamUnavailable {
                server: server.to_owned(),
                detail: format!("the gateway broker could not reach it: {error}"),
            });
        }
    };
    let mut response = Response::builder().status(upstream.status().as_u16());
    for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
        if let Some(value) = upstream.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    if let Some(value) = upstream.headers().get(headers::SESSION_ID) {
        response = response.header(headers::SESSION_ID, value);
    }
    response
        .header(
            HeaderName::from_static(headers::X_MCP_UPSTREAM_SESSION),
            record,
        )
        .body(Body::from_stream(upstream.bytes_stream()))
        .unwrap_or_else(|error| {
            refuse(Refusal::Internal {
                detail: format!("forwarded response: {error}"),
            })
        })
}

/// The call on the upstream session: the body as it is.
async fn send(
    state: &AppState,
    request_headers: &HeaderMap,
    spec: &UpstreamSpec,
    session: &UpstreamSessionResponse,
    body: Bytes,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut outgoing = forwarded_headers(request_headers, spec);
    if let Some(id) = session
        .session_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        outgoing.insert(headers::SESSION_ID, id);
    }
    if let Ok(version) = HeaderValue::from_str(&session.protocol_version) {
        outgoing.insert(headers::PROTOCOL_VERSION, version);
    }
    // The server's own credential, where it has one, as on every call the
    // gateway makes to it.
    if let Some(authorization) = spec
        .authorization
        .as_deref()
        .and_then(|a| HeaderValue::from_str(a).ok())
    {
        outgoing.insert(header::AUTHORIZATION, authorization);
    }
    state
        .http
        .post(spec.url.as_str())
        .headers(outgoing)
        .body(body)
        .send()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(forward_authorization: bool, forward_headers: &[&str]) -> UpstreamSpec {
        UpstreamSpec {
            name: "weather".to_owned(),
            url: "http://127.0.0.1:1/mcp".parse().expect("url"),
            prefix: String::new(),
            authorization: None,
            forward_authorization,
            forward_headers: forward_headers.iter().map(|h| (*h).to_owned()).collect(),
            gateway_route: None,
            era: Default::default(),
        }
    }

    fn client_headers() -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("host", "gateway.example"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("user-agent", "sdk/1"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("authorization", "Bearer client"),
            ("cookie", "a=b"),
            ("x-api-key", "k"),
            ("mcp-session-id", "gateway-session"),
            ("mcp-protocol-version", "2025-06-18"),
            ("x-mcp-first-call", "-"),
            ("x-mcp-servername", "weather"),
            ("x-mcp-gateway-token", "secret"),
            ("x-envoy-expected-rq-timeout-ms", "15000"),
            ("content-length", "42"),
        ] {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    fn names(map: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn the_upstream_gets_the_client_headers_but_credentials_and_the_gateways_own() {
        assert_eq!(
            names(&forwarded_headers(&client_headers(), &spec(false, &[]))),
            [
                "accept",
                "content-type",
                "traceparent",
                "user-agent",
                "x-mcp-servername"
            ]
        );
    }

    #[test]
    fn credentials_the_server_opted_into_go_on() {
        assert_eq!(
            names(&forwarded_headers(
                &client_headers(),
                &spec(true, &["cookie"])
            )),
            [
                "accept",
                "authorization",
                "content-type",
                "cookie",
                "traceparent",
                "user-agent",
                "x-mcp-servername"
            ]
        );
    }
}
