//! The per-request context: applies the core's decisions to one request.
//!
//! Flow (DESIGN.md, "The request path"):
//! headers → [`decision::on_request_head`] → buffer the body (Pause) →
//! at its end, or at the trailers, [`decision::on_request_body`] → broker
//! (Continue) | local reply | routed call → session from shared data →
//! apply and Continue, or on a miss `dispatch_http_call` to the broker →
//! Pause → `on_http_call_response` → apply and `resume_http_request`. On
//! the response: map the upstream session id back to the gateway's, or
//! reset a lost session.

use std::rc::Rc;
use std::time::Duration;

use mcp_protocol::{headers, methods};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use router_config::session_api::UpstreamSessionResponse;
use serde_json::value::RawValue;

use super::host::{self, log_failure};
use super::metrics::Metrics;
use crate::decision::{self, BodyDecision, HeadDecision, RequestHead, RoutedCall};
use crate::rejection::Rejection;
use crate::session_cache::{self, CachedSession};
use crate::table::RouteTable;
use crate::upstream;

pub struct McpHttp {
    table: Option<Rc<RouteTable>>,
    metrics: Rc<Metrics>,
    head: OwnedHead,
    state: State,
}

/// The request headers the core reads, owned so they outlive the callback.
#[derive(Default)]
struct OwnedHead {
    method: String,
    path: String,
    session_id: Option<String>,
    protocol_version: Option<String>,
    content_length: Option<String>,
}

impl OwnedHead {
    /// Picks the headers the core reads out of the full header list (one
    /// host call for all of them). Values that are not UTF-8 count as
    /// absent: every value the router reads is ASCII when valid. A repeated
    /// header keeps its first value, as a single-header lookup would.
    fn from_pairs(pairs: Vec<(String, Vec<u8>)>) -> Self {
        let mut head = OwnedHead::default();
        for (name, value) in pairs {
            let Ok(value) = String::from_utf8(value) else {
                continue;
            };
            match name.as_str() {
                ":method" => head.method = value,
                ":path" => head.path = value,
                headers::SESSION_ID => _ = head.session_id.get_or_insert(value),
                headers::PROTOCOL_VERSION => _ = head.protocol_version.get_or_insert(value),
                "content-length" => _ = head.content_length.get_or_insert(value),
                _ => {}
            }
        }
        head
    }

    fn view(&self) -> RequestHead<'_> {
        RequestHead {
            method: &self.method,
            path: &self.path,
            session_id: self.session_id.as_deref(),
            protocol_version: self.protocol_version.as_deref(),
            content_length: self.content_length.as_deref(),
        }
    }
}

enum State {
    /// Nothing to do (not the MCP endpoint, no table, or already answered).
    Pass,
    /// Buffering a POST body.
    Buffering,
    /// Waiting for the broker's session API; the request is paused.
    AwaitingSession { token: u32, call: RoutedCall },
    /// Sent to an upstream with this session.
    Routed {
        call: RoutedCall,
        upstream_session: Option<String>,
    },
    /// Sent to the broker; a `DELETE` clears this session's cached
    /// upstream sessions once the broker confirms.
    Broker { ending_session: Option<String> },
}

impl McpHttp {
    pub fn new(table: Option<Rc<RouteTable>>, metrics: Rc<Metrics>) -> Self {
        McpHttp {
            table,
            metrics,
            head: OwnedHead::default(),
            state: State::Pass,
        }
    }

    /// Answers the request locally and stops handling it.
    fn reply(&mut self, rejection: &Rejection, id: Option<&RawValue>) -> Action {
        let reply = rejection.reply(id);
        log::debug!(
            "mcp-router: answering {} ({})",
            reply.status,
            rejection.label()
        );
        Metrics::inc(self.metrics.rejected);
        log_failure(
            "send local reply",
            hostcalls::send_http_response(
                reply.status,
                vec![("content-type", "application/json")],
                Some(&reply.body),
            ),
        );
        self.state = State::Pass;
        Action::Pause
    }

    /// Routes a decided `tools/call`: splices the body and sets the headers
    /// that do not depend on the upstream session, then finds the session.
    fn route(&mut self, table: &RouteTable, call: RoutedCall, body: &[u8]) -> Action {
        let Some(server) = table.servers().get(call.server_index) else {
            return self.reply(
                &internal("route points past the server list"),
                Some(&call.id),
            );
        };
        if let Some(splice) = &call.splice {
            let Some(new_body) = splice.apply(body) else {
                return self.reply(&internal("tool name span outside the body"), Some(&call.id));
            };
            log_failure(
                "replace request body",
                hostcalls::set_buffer(BufferType::HttpRequestBody, 0, body.len(), &new_body),
            );
            if self.head.content_length.is_some() {
                host::set_request_header("content-length", Some(&new_body.len().to_string()));
            }
        }
        host::set_request_header(":authority", Some(&server.authority));
        host::set_request_header(":path", Some(&server.path));
        host::set_request_header(headers::X_MCP_METHOD, Some(methods::TOOLS_CALL));
        host::set_request_header(headers::X_MCP_SERVERNAME, Some(&server.name));
        host::set_request_header(headers::X_MCP_TOOLNAME, Some(&call.upstream_name));
        if let Some(cluster) = &server.cluster {
            host::set_request_header(headers::X_MCP_CLUSTER, Some(cluster));
        }
        if !server.forward_authorization {
            host::set_request_header("authorization", None);
        }

        let key = session_cache::key(&server.name, &call.gateway_session);
        let stale = match hostcalls::get_shared_data(&key) {
            Ok((Some(value), _)) => match CachedSession::decode(&value) {
                Some(CachedSession::Live(session)) => {
                    Metrics::inc(self.metrics.session_cache_hit);
                    self.apply_session(call, &session);
                    return Action::Continue;
                }
                Some(CachedSession::Stale { session_id }) => Some(session_id),
                None => None,
            },
            _ => None,
        };
        Metrics::inc(self.metrics.session_cache_miss);
        let broker = table.broker();
        let request_body = upstream::session_request_body(&server.name, stale.as_deref());
        let dispatched = hostcalls::dispatch_http_call(
            &broker.cluster,
            vec![
                (":method", "POST"),
                (":path", &broker.session_path),
                (":authority", &broker.authority),
                ("content-type", "application/json"),
                (headers::X_MCP_GATEWAY_SESSION, &call.gateway_session),
            ],
            Some(&request_body),
            vec![],
            Duration::from_millis(u64::from(broker.timeout_ms)),
        );
        match dispatched {
            Ok(token) => {
                self.state = State::AwaitingSession { token, call };
                Action::Pause
            }
            Err(status) => {
                log::warn!(
                    "mcp-router: cannot call the broker (cluster {:?}): {status:?}",
                    broker.cluster
                );
                Metrics::inc(self.metrics.session_api_error);
                let rejection = Rejection::UpstreamUnavailable {
                    server: server.name.clone(),
                    detail: "the gateway broker cannot be reached".to_owned(),
                };
                self.reply(&rejection, Some(&call.id))
            }
        }
    }

    /// Sets the session-dependent headers; the request is ready to go.
    fn apply_session(&mut self, call: RoutedCall, session: &UpstreamSessionResponse) {
        host::set_request_header(headers::SESSION_ID, session.session_id.as_deref());
        host::set_request_header(headers::PROTOCOL_VERSION, Some(&session.protocol_version));
        if let Some(authorization) = &session.authorization {
            host::set_request_header("authorization", Some(authorization));
        }
        Metrics::inc(self.metrics.routed);
        self.state = State::Routed {
            call,
            upstream_session: session.session_id.clone(),
        };
    }

    /// Applies the core's decision on a complete POST body.
    fn decide_on_body(&mut self, table: &RouteTable, body: &[u8]) -> Action {
        match decision::on_request_body(table, &self.head.view(), body) {
            BodyDecision::Broker { method_label } => {
                host::set_request_header(headers::X_MCP_METHOD, Some(&method_label));
                Metrics::inc(self.metrics.to_broker);
                self.state = State::Broker {
                    ending_session: None,
                };
                Action::Continue
            }
            BodyDecision::Reject { rejection, id } => self.reply(&rejection, id.as_deref()),
            BodyDecision::Route(call) => self.route(table, call, body),
        }
    }

    fn server_name(&self, index: usize) -> String {
        self.table
            .as_ref()
            .and_then(|t| t.servers().get(index))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }
}

fn internal(detail: &str) -> Rejection {
    log::error!("mcp-router: internal error: {detail}");
    Rejection::Internal {
        detail: detail.to_owned(),
    }
}

impl Context for McpHttp {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let State::AwaitingSession { token, call } =
            std::mem::replace(&mut self.state, State::Pass)
        else {
            return;
        };
        if token != token_id {
            return;
        }
        let server = self.server_name(call.server_index);
        let status = if num_headers == 0 {
            None
        } else {
            match hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status") {
                Ok(Some(value)) => std::str::from_utf8(&value)
                    .ok()
                    .and_then(|s| s.parse().ok()),
                _ => None,
            }
        };
        let body = match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        match upstream::read_session_response(&server, status, &body) {
            Ok(session) => {
                let key = session_cache::key(&server, &call.gateway_session);
                log_failure(
                    "cache upstream session",
                    hostcalls::set_shared_data(
                        &key,
                        Some(&CachedSession::Live(session.clone()).encode()),
                        None,
                    ),
                );
                self.apply_session(call, &session);
                log_failure("resume request", hostcalls::resume_http_request());
            }
            Err(rejection) => {
                if !matches!(rejection, Rejection::SessionNotFound) {
                    log::warn!("mcp-router: no upstream session for {server:?}: {rejection:?}");
                    Metrics::inc(self.metrics.session_api_error);
                }
                self.reply(&rejection, Some(&call.id));
            }
        }
    }
}

impl HttpContext for McpHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let pairs = host::request_headers();
        // Policies downstream trust x-mcp-* headers: only the router sets them.
        for (name, _) in &pairs {
            if name.starts_with(headers::ROUTER_PREFIX) {
                host::remove_request_header(name);
            }
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        self.head = OwnedHead::from_pairs(pairs);
        match decision::on_request_head(&table, &self.head.view()) {
            HeadDecision::NotMcp => Action::Continue,
            HeadDecision::Broker => {
                Metrics::inc(self.metrics.to_broker);
                let ending = self.head.method.eq_ignore_ascii_case("DELETE");
                self.state = State::Broker {
                    ending_session: ending.then(|| self.head.session_id.clone()).flatten(),
                };
                Action::Continue
            }
            HeadDecision::Reject(rejection) => self.reply(&rejection, None),
            HeadDecision::ReadBody if end_of_stream => self.reply(&Rejection::EmptyBody, None),
            HeadDecision::ReadBody => {
                self.state = State::Buffering;
                // Hold the headers: routing rewrites them once the body is read.
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !matches!(self.state, State::Buffering) {
            return Action::Continue;
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        if body_size > table.max_body_bytes() {
            let limit = table.max_body_bytes();
            return self.reply(&Rejection::BodyTooLarge { limit }, None);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        self.decide_on_body(&table, &body)
    }

    /// Trailers end the request instead of a body chunk with
    /// `end_of_stream` (HTTP/2, chunked HTTP/1 with trailers). The body is
    /// still held here, so decide on it now: without this, such a request
    /// would pass undecided, unrouted and unlabelled.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if !matches!(self.state, State::Buffering) {
            return Action::Continue;
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        let limit = table.max_body_bytes();
        let body =
            match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, limit.saturating_add(1)) {
                Ok(Some(body)) => body,
                _ => Vec::new(),
            };
        if body.len() > limit {
            return self.reply(&Rejection::BodyTooLarge { limit }, None);
        }
        self.decide_on_body(&table, &body)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let status: u32 = host::response_header(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match &self.state {
            State::Routed {
                call,
                upstream_session,
            } => {
                if upstream::is_session_lost(status, upstream_session.is_some()) {
                    let server = self.server_name(call.server_index);
                    let key = session_cache::key(&server, &call.gateway_session);
                    mark_stale(&key, upstream_session.as_deref().unwrap_or_default());
                    log::info!(
                        "mcp-router: upstream {server:?} answered {status} for its session; reset"
                    );
                    Metrics::inc(self.metrics.upstream_session_lost);
                    let id = call.id.clone();
                    return self.reply(&Rejection::UpstreamSessionLost { server }, Some(&id));
                }
                if upstream::is_unreachable(status) {
                    let server = self.server_name(call.server_index);
                    log::warn!("mcp-router: upstream {server:?} unreachable (HTTP {status})");
                    let rejection = Rejection::UpstreamUnavailable {
                        server,
                        detail: format!("HTTP {status} (connection failed, reset or timed out)"),
                    };
                    let id = call.id.clone();
                    return self.reply(&rejection, Some(&id));
                }
                // The client only ever sees its gateway session id.
                if host::response_header(headers::SESSION_ID).is_some() {
                    host::set_response_header(headers::SESSION_ID, Some(&call.gateway_session));
                }
                Action::Continue
            }
            State::Broker {
                ending_session: Some(gateway_session),
            } if (200..300).contains(&status) => {
                if let Some(table) = &self.table {
                    for server in table.servers() {
                        let key = session_cache::key(&server.name, gateway_session);
                        log_failure(
                            "clear upstream session",
                            hostcalls::set_shared_data(&key, None, None),
                        );
                    }
                }
                Action::Continue
            }
            _ => Action::Continue,
        }
    }
}

/// Marks a cached session stale, unless another request already replaced it
/// (compare-and-swap on the entry's version).
fn mark_stale(key: &str, session_id: &str) {
    let Ok((Some(value), cas)) = hostcalls::get_shared_data(key) else {
        return;
    };
    let still_current = matches!(
        CachedSession::decode(&value),
        Some(CachedSession::Live(session)) if session.session_id.as_deref() == Some(session_id)
    );
    if still_current {
        let stale = CachedSession::Stale {
            session_id: session_id.to_owned(),
        };
        // A CAS mismatch means someone else updated it first: fine.
        let _ = hostcalls::set_shared_data(key, Some(&stale.encode()), cas);
    }
}
