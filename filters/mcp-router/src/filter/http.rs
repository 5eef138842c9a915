//! The per-request context: applies the core's decisions to one request.
//!
//! Flow (docs/architecture.md, "The request path"): headers →
//! [`decision::on_request_head`] → buffer the body (Pause) → at its end, or
//! at the trailers, [`decision::on_request_body`] → broker (Continue) |
//! local reply | routed call → [`plan::route_plan`] applied → the pair's
//! record from the session cache → [`session_cache::decide`]: route now,
//! refuse, or `dispatch_http_call` to the broker → Pause →
//! `on_http_call_response` → record cached, route, `resume_http_request`.
//! On the response: [`response::on_routed_headers`] (session id mapped
//! back, lost session reset, unreachable upstream answered), and a
//! `DELETE` the broker confirmed marks the session's records ended.

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use mcp_protocol::headers;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use router_config::session_api::UpstreamSessionResponse;
use serde_json::value::RawValue;

use super::cache;
use super::host::{self, log_failure};
use super::metrics::Metrics;
use crate::decision::{self, BodyDecision, HeadDecision, ModernCall, RoutedCall};
use crate::plan::{self, HeaderOp};
use crate::session_cache::{self, Lookup, RecordState};
use crate::sse_relay::SseRelay;
use crate::table::RouteTable;
use crate::upstream;
use mcp_protocol::refusal::Refusal;

mod head;
mod modern_side;
mod response_side;

use router_config::envoy::audit;

use head::OwnedHead;

pub struct McpHttp {
    table: Option<Rc<RouteTable>>,
    metrics: Rc<Metrics>,
    head: OwnedHead,
    state: State,
}

enum State {
    /// Nothing to do (not the MCP endpoint, no table, or already answered).
    Pass,
    /// Buffering a POST body.
    Buffering,
    /// A stateless-era call whose headers went on, routed; buffering its
    /// body to check it against them.
    ModernBody { call: Box<ModernCall> },
    /// Waiting for the broker's session API; the request is paused.
    AwaitingSession { token: u32, call: RoutedCall },
    /// Sent to an upstream with this session; `classifying` while a `400`
    /// is held to read its body; `relay` once its answer is an event stream
    /// (upstream requests in it get relay ids).
    Routed {
        call: RoutedCall,
        upstream_session: Option<String>,
        classifying: bool,
        relay: Option<SseRelay>,
    },
    /// Sent to the broker; a `DELETE` it confirms ends this session.
    Broker { ending_session: Option<String> },
}

/// The host's clock, Unix seconds (0 if the host has none: every record
/// then reads as current, and the broker still decides on misses).
pub(super) fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn apply(ops: Vec<HeaderOp>) {
    for op in ops {
        match op {
            HeaderOp::Set(name, value) => host::set_request_header(name, Some(&value)),
            HeaderOp::Remove(name) => host::remove_request_header(name),
        }
    }
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
    pub(super) fn reply(&mut self, refusal: &Refusal, id: Option<&RawValue>) -> Action {
        let reply = refusal.reply_in(self.head.view().era(), id);
        host::set_audit_value(audit::OUTCOME, refusal.label());
        if matches!(refusal, Refusal::NotAllowed { .. }) {
            Metrics::inc(self.metrics.forbidden);
        }
        log::debug!(
            "mcp-router: answering {} ({})",
            reply.status,
            refusal.label()
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

    /// Routes a decided `tools/call`: applies its plan, then finds its
    /// upstream session in the cache or asks the broker for it.
    fn route(&mut self, table: &RouteTable, call: RoutedCall, body: &[u8]) -> Action {
        let Some(server) = table.servers().get(call.server_index) else {
            return self.reply(
                &internal("route points past the server list"),
                call.id.as_deref(),
            );
        };
        let plan = match plan::route_plan(
            server,
            &call,
            &self.head.view(),
            body,
            &table.broker().cluster,
        ) {
            Ok(plan) => plan,
            Err(refusal) => return self.reply(&refusal, call.id.as_deref()),
        };
        if let Some(new_body) = &plan.body {
            log_failure(
                "replace request body",
                hostcalls::set_buffer(BufferType::HttpRequestBody, 0, body.len(), new_body),
            );
        }
        apply(plan.headers);
        if call.bridged {
            // The broker bridges it, with its own upstream session.
            Metrics::inc(self.metrics.to_broker);
            self.state = State::Broker {
                ending_session: None,
            };
            return Action::Continue;
        }

        let now = now();
        let sessions = &table.config().sessions;
        let binding = session_cache::binding_hash(&sessions.key_id, self.head.view().identity());
        let found = cache::find(table, &server.name, &call.gateway_session);
        let stale =
            match session_cache::decide(found.map(|f| f.state), now, &sessions.key_id, binding) {
                Lookup::Hit(session) => {
                    Metrics::inc(self.metrics.session_cache_hit);
                    self.apply_session(call, session);
                    return Action::Continue;
                }
                Lookup::Refuse(refusal) => {
                    Metrics::inc(self.metrics.session_cache_hit);
                    return self.reply(&refusal, call.id.as_deref());
                }
                Lookup::AskBroker { stale } => stale,
            };
        Metrics::inc(self.metrics.session_cache_miss);
        self.ask_broker(table, call, stale.as_deref())
    }

    /// One session API call for the routed call; the request waits.
    fn ask_broker(&mut self, table: &RouteTable, call: RoutedCall, stale: Option<&str>) -> Action {
        let server = self.server_name(call.server_index);
        let broker = table.broker();
        let request_body = upstream::session_request_body(&server, stale);
        let mut call_headers = vec![
            (":method", "POST"),
            (":path", broker.session_path.as_str()),
            (":authority", broker.authority.as_str()),
            ("content-type", "application/json"),
            (
                headers::X_MCP_GATEWAY_SESSION,
                call.gateway_session.as_str(),
            ),
        ];
        // The broker checks the session's identity binding with the same
        // headers the client sent (mcp_protocol::identity).
        if let Some(authorization) = &self.head.authorization {
            call_headers.push((headers::AUTHORIZATION, authorization.as_str()));
        }
        if let (Some(name), Some(value)) = (
            table.config().sessions.identity_header.as_deref(),
            &self.head.identity,
        ) {
            call_headers.push((name, value.as_str()));
        }
        let dispatched = hostcalls::dispatch_http_call(
            &broker.cluster,
            call_headers,
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
                let refusal = Refusal::UpstreamUnavailable {
                    server,
                    detail: "the gateway broker cannot be reached".to_owned(),
                };
                self.reply(&refusal, call.id.as_deref())
            }
        }
    }

    /// Sets the session-dependent headers; the request is ready to go.
    fn apply_session(&mut self, call: RoutedCall, session: UpstreamSessionResponse) {
        apply(plan::session_headers(&session, &self.head.view()));
        Metrics::inc(self.metrics.routed);
        self.state = State::Routed {
            call,
            upstream_session: session.session_id,
            classifying: false,
            relay: None,
        };
    }

    /// Applies the core's decision on a complete POST body.
    fn decide_on_body(&mut self, table: &RouteTable, body: &[u8]) -> Action {
        match decision::on_request_body(table, &self.head.view(), body) {
            BodyDecision::Broker { method_label } => {
                apply(plan::broker_headers(&table.config().id, &method_label));
                apply(plan::virtual_server_headers(table, &self.head.view()));
                Metrics::inc(self.metrics.to_broker);
                self.state = State::Broker {
                    ending_session: None,
                };
                Action::Continue
            }
            BodyDecision::Reject { refusal, id } => self.reply(&refusal, id.as_deref()),
            BodyDecision::Route(call) => self.route(table, call, body),
        }
    }

    /// A request body the router holds (a POST to decide on, or a
    /// stateless-era call to check): at its end, read whole and decided on;
    /// before, held. `body_size` is what Envoy has buffered (`None` at the
    /// trailers, where it is not given: then up to one byte past the limit
    /// is read, to tell an oversized body).
    fn on_held_body(&mut self, body_size: Option<usize>, end_of_stream: bool) -> Action {
        if !matches!(self.state, State::Buffering | State::ModernBody { .. }) {
            return Action::Continue;
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        let limit = table.max_body_bytes();
        if body_size.is_some_and(|size| size > limit) {
            return self.reply(&Refusal::BodyTooLarge { limit }, None);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let read = body_size.unwrap_or(limit.saturating_add(1));
        let body = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, read) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        if body.len() > limit {
            return self.reply(&Refusal::BodyTooLarge { limit }, None);
        }
        if !matches!(self.state, State::ModernBody { .. }) {
            return self.decide_on_body(&table, &body);
        }
        match std::mem::replace(&mut self.state, State::Pass) {
            State::ModernBody { call } => self.modern_body(*call, &body),
            _ => Action::Continue,
        }
    }

    pub(super) fn server_name(&self, index: usize) -> String {
        self.table
            .as_ref()
            .and_then(|t| t.servers().get(index))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }
}

pub(super) fn internal(detail: &str) -> Refusal {
    log::error!("mcp-router: internal error: {detail}");
    Refusal::Internal {
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
        let Some(table) = self.table.clone() else {
            return;
        };
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
        let now = now();
        let sessions = &table.config().sessions;
        match upstream::read_session_response(&server, status, &body) {
            Ok(session) => {
                let binding =
                    session_cache::binding_hash(&sessions.key_id, self.head.view().identity());
                let valid_until = session
                    .expires_at
                    .min(now.saturating_add(u64::from(sessions.revalidate_seconds)));
                let state = RecordState::Live {
                    valid_until,
                    key_id: sessions.key_id.clone(),
                    binding,
                    session: session.clone(),
                };
                cache::store(&table, &server, &call.gateway_session, state, now);
                self.apply_session(call, session);
                log_failure("resume request", hostcalls::resume_http_request());
            }
            Err(refusal) => {
                if refusal == Refusal::SessionNotFound {
                    // Refuse further calls of this session without asking,
                    // for one revalidation period.
                    let until = now.saturating_add(u64::from(sessions.revalidate_seconds));
                    let state = RecordState::Ended { until };
                    cache::store(&table, &server, &call.gateway_session, state, now);
                } else if refusal != Refusal::SessionOfAnotherIdentity {
                    log::warn!("mcp-router: no upstream session for {server:?}: {refusal:?}");
                    Metrics::inc(self.metrics.session_api_error);
                }
                self.reply(&refusal, call.id.as_deref());
            }
        }
    }
}

impl HttpContext for McpHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let pairs = host::request_headers();
        // Policies downstream trust x-mcp-* headers: only the router sets
        // them. The one exception is the signed x-mcp-authorized where the
        // policy reads it (a client cannot forge its signature): the broker
        // filters lists with it, and routed calls drop it (plan).
        let keep_authorized = self
            .table
            .as_ref()
            .is_some_and(|t| t.config().policy.authorized_header.is_some());
        for (name, _) in &pairs {
            if name.starts_with(headers::ROUTER_PREFIX)
                && !(keep_authorized && name == headers::X_MCP_AUTHORIZED)
            {
                host::remove_request_header(name);
            }
        }
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        let policy = &table.config().policy;
        self.head = OwnedHead::from_pairs(
            pairs,
            table.config().sessions.identity_header.as_deref(),
            (!policy.rules.is_empty()).then_some(policy.claims_header.as_str()),
        );
        if policy.authorized_header.is_some() {
            self.head.now = now();
        }
        let decision = decision::on_request_head(&table, &self.head.view());
        if let (false, Some(session)) = (
            matches!(decision, HeadDecision::NotMcp),
            &self.head.session_id,
        ) {
            // The access log names the session by its tag: an id is a
            // bearer credential.
            host::set_audit_value(audit::SESSION, mcp_protocol::session_id::log_tag(session));
        }
        match decision {
            HeadDecision::NotMcp => Action::Continue,
            HeadDecision::Broker => {
                apply(plan::virtual_server_headers(&table, &self.head.view()));
                Metrics::inc(self.metrics.to_broker);
                self.state = State::Broker {
                    ending_session: self.head.session_id.clone(),
                };
                Action::Continue
            }
            HeadDecision::Reject(refusal) => self.reply(&refusal, None),
            HeadDecision::ModernBroker { method } => {
                apply(plan::broker_headers(&table.config().id, &method));
                apply(plan::virtual_server_headers(&table, &self.head.view()));
                Metrics::inc(self.metrics.to_broker);
                self.state = State::Broker {
                    ending_session: None,
                };
                Action::Continue
            }
            HeadDecision::Modern(_) if end_of_stream => self.reply(&Refusal::EmptyBody, None),
            HeadDecision::Modern(call) => {
                let Some(server) = table.servers().get(call.call.server_index) else {
                    return self.reply(&internal("route points past the server list"), None);
                };
                apply(plan::modern_plan(
                    server,
                    &call,
                    &self.head.view(),
                    &table.broker().cluster,
                ));
                self.state = State::ModernBody {
                    call: Box::new(call),
                };
                // Routed from the headers: they go on now; the body is
                // held and checked when it has all arrived.
                Action::Continue
            }
            HeadDecision::ReadBody if end_of_stream => self.reply(&Refusal::EmptyBody, None),
            HeadDecision::ReadBody => {
                self.state = State::Buffering;
                // Hold the headers: routing rewrites them once the body is read.
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.on_held_body(Some(body_size), end_of_stream)
    }

    /// Trailers end the request instead of a body chunk with
    /// `end_of_stream` (HTTP/2, chunked HTTP/1 with trailers). The body is
    /// still held here, so decide on it now: without this, such a request
    /// would pass undecided, unrouted and unlabelled.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.on_held_body(None, true)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.on_response_headers(end_of_stream)
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.on_response_body(body_size, end_of_stream)
    }
}
