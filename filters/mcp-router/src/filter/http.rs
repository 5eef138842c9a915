//! The per-request context: applies the core's decisions to one request.
//!
//! Flow (docs/architecture.md, "The request path"): headers →
//! [`decision::on_request_head`] → buffer the body (Pause) → at its end, or
//! at the trailers, [`decision::on_request_body`] → broker (Continue) |
//! local reply | routed call → the pair's record from the session cache →
//! [`session_cache::decide`]: refuse, or [`plan::route_plan`] applied and
//! route now (hit), or on a miss send the call to the broker as a first
//! call (`firstCall: forward`; its answer's session record cached,
//! [`response::on_first_call_headers`]) or `dispatch_http_call` the session
//! API (`sessionApi`) → Pause → `on_http_call_response` → record cached,
//! route, `resume_http_request`. On the response:
//! [`response::on_routed_headers`] (session id mapped back, lost session
//! reset, unreachable upstream answered), and a `DELETE` the broker
//! confirmed marks the session's records ended.

use std::rc::Rc;
use std::time::UNIX_EPOCH;

use mcp_protocol::headers;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::{Action, BufferType};
use router_config::session_api::UpstreamSessionResponse;
use serde_json::value::RawValue;

use super::cache;
use super::host::{self, log_failure};
use super::metrics::Metrics;
use crate::decision::{self, BodyDecision, HeadDecision, ModernCall, RoutedCall};
use crate::plan::{self, HeaderOp, Via};
use crate::session_cache::{self, Lookup, RecordState};
use crate::sse_relay::SseRelay;
use crate::table::RouteTable;
use mcp_protocol::refusal::Refusal;

mod head;
mod modern_side;
mod response_side;
mod session_api_side;

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
    /// (upstream requests in it get relay ids). `first_call`: sent to the
    /// broker, which opens the session and forwards the call; the session
    /// comes back with the answer.
    Routed {
        call: RoutedCall,
        upstream_session: Option<String>,
        first_call: bool,
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

    /// Routes a decided call: finds its upstream session in the cache,
    /// then applies its plan (to the upstream, or to the broker when it
    /// bridges the call or opens the session on a first call), or asks the
    /// broker's session API first where the table says so.
    fn route(&mut self, table: &RouteTable, call: RoutedCall, body: &[u8]) -> Action {
        let Some(server) = table.servers().get(call.server_index) else {
            return self.reply(
                &internal("route points past the server list"),
                call.id.as_deref(),
            );
        };
        if call.bridged {
            // The broker bridges it, with its own upstream session.
            let via = Via::known_session(&call);
            if let Err(action) = self.apply_plan(table, server, &call, via, body) {
                return action;
            }
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
                    if let Err(action) = self.apply_plan(table, server, &call, Via::Upstream, body)
                    {
                        return action;
                    }
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
        match Via::on_miss(table.broker().first_call, stale.as_deref()) {
            Some(via) => {
                if let Err(action) = self.apply_plan(table, server, &call, via, body) {
                    return action;
                }
                Metrics::inc(self.metrics.first_call_forwarded);
                Metrics::inc(self.metrics.routed);
                self.state = State::Routed {
                    call,
                    upstream_session: None,
                    first_call: true,
                    classifying: false,
                    relay: None,
                };
                Action::Continue
            }
            None => {
                if let Err(action) = self.apply_plan(table, server, &call, Via::Upstream, body) {
                    return action;
                }
                self.ask_broker(table, call, stale.as_deref())
            }
        }
    }

    /// Applies the route plan of `call` going `via`: the body rewritten
    /// where the name was spliced, the headers set and removed. `Err`: the
    /// request was answered instead.
    fn apply_plan(
        &mut self,
        table: &RouteTable,
        server: &router_config::ServerRoute,
        call: &RoutedCall,
        via: Via<'_>,
        body: &[u8],
    ) -> Result<(), Action> {
        let plan = match plan::route_plan(
            server,
            call,
            via,
            &self.head.view(),
            body,
            &table.broker().cluster,
        ) {
            Ok(plan) => plan,
            Err(refusal) => return Err(self.reply(&refusal, call.id.as_deref())),
        };
        if let Some(new_body) = &plan.body {
            log_failure(
                "replace request body",
                hostcalls::set_buffer(BufferType::HttpRequestBody, 0, body.len(), new_body),
            );
        }
        apply(plan.headers);
        if via != Via::Upstream {
            // The broker serves one path and learns the virtual server from
            // its header, as for anything else passed to it.
            apply(plan::virtual_server_headers(table, &self.head.view()));
        }
        Ok(())
    }

    /// Sets the session-dependent headers; the request is ready to go.
    fn apply_session(&mut self, call: RoutedCall, session: UpstreamSessionResponse) {
        apply(plan::session_headers(&session, &self.head.view()));
        Metrics::inc(self.metrics.routed);
        self.state = State::Routed {
            call,
            upstream_session: session.session_id,
            first_call: false,
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

    /// Caches the upstream session the broker opened for (server, gateway
    /// session), bound to this request's identity, until the gateway
    /// session expires or the next revalidation, whichever is sooner.
    pub(super) fn remember_session(
        &self,
        table: &RouteTable,
        server: &str,
        gateway_session: &str,
        session: &UpstreamSessionResponse,
    ) {
        let now = now();
        let sessions = &table.config().sessions;
        let binding = session_cache::binding_hash(&sessions.key_id, self.head.view().identity());
        let valid_until = session
            .expires_at
            .min(now.saturating_add(u64::from(sessions.revalidate_seconds)));
        let state = RecordState::Live {
            valid_until,
            key_id: sessions.key_id.clone(),
            binding,
            session: session.clone(),
        };
        cache::store(table, server, gateway_session, state, now);
    }

    pub(super) fn server_name(&self, index: usize) -> String {
        self.table
            .as_ref()
            .and_then(|t| t.servers().get(index))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }
}

/// The broker said the gateway session is unknown or ended: further calls
/// of it to `server` are refused without asking, for one revalidation
/// period.
pub(super) fn remember_ended(table: &RouteTable, server: &str, gateway_session: &str) {
    let now = now();
    let until = now.saturating_add(u64::from(table.config().sessions.revalidate_seconds));
    cache::store(
        table,
        server,
        gateway_session,
        RecordState::Ended { until },
        now,
    );
}

pub(super) fn internal(detail: &str) -> Refusal {
    log::error!("mcp-router: internal error: {detail}");
    Refusal::Internal {
        detail: detail.to_owned(),
    }
}

impl HttpContext for McpHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let map = proxy_header_map::fetch(proxy_wasm::types::MapType::HttpRequestHeaders);
        // Policies downstream trust x-mcp-* headers: only the router sets
        // them. The one exception is the signed x-mcp-authorized where the
        // policy reads it (a client cannot forge its signature): the broker
        // filters lists with it, and routed calls drop it (plan). Envoy's
        // codecs accept only token characters in names, so every name
        // arrives as UTF-8.
        let keep_authorized = self
            .table
            .as_ref()
            .is_some_and(|t| t.config().policy.authorized_header.is_some());
        for (name, _) in proxy_header_map::pairs(&map) {
            // The prefix on the bytes first: only the router's own names
            // are checked for UTF-8 here (OwnedHead checks the rest once).
            if name.starts_with(headers::ROUTER_PREFIX.as_bytes())
                && let Ok(name) = std::str::from_utf8(name)
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
            proxy_header_map::pairs(&map),
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
