//! The response side of a request: what comes back from a routed call's
//! upstream (session ids, lost sessions, unreachable upstreams, event
//! streams whose upstream requests get relay ids) and from the broker (a
//! confirmed `DELETE`).

use mcp_protocol::headers;
use mcp_protocol::refusal::Refusal;
use mcp_protocol::versions::Era;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType};

use super::{McpHttp, State, now, remember_ended};
use crate::filter::cache;
use crate::filter::host::{self, log_failure};
use crate::filter::metrics::Metrics;
use crate::response::{self, FirstCallVerdict, RoutedVerdict};
use crate::session_cache::RecordState;
use crate::sse_relay::SseRelay;

impl McpHttp {
    /// `on_http_response_headers`: a routed call's session id mapped back
    /// (and a lost session or an unreachable upstream answered), an event
    /// stream set up for relay ids; a `DELETE` the broker confirmed ends
    /// the session's records.
    pub(super) fn on_response_headers(&mut self, end_of_stream: bool) -> Action {
        let status: u32 = host::response_header(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if let State::Routed {
            first_call: true, ..
        } = &self.state
            && let Some(action) = self.first_call_headers(status)
        {
            return action;
        }
        let verdict = match &self.state {
            State::Routed {
                call,
                upstream_session,
                ..
            } => {
                if let (crate::decision::RouteKey::Tool(tool), Some(table)) =
                    (&call.key, &self.table)
                    && let Some(server) = table.servers().get(call.server_index)
                {
                    let outcome = router_config::envoy::call_outcome(status);
                    self.metrics.tool_call(&server.name, tool, outcome);
                }
                let has_session_id = host::response_header(headers::SESSION_ID).is_some();
                if has_session_id {
                    // The client only ever sees its gateway session id (and
                    // a stateless-era client none).
                    let gateway = Some(call.gateway_session.as_str()).filter(|g| !g.is_empty());
                    host::set_response_header(headers::SESSION_ID, gateway);
                }
                response::on_routed_headers(status, upstream_session.is_some(), has_session_id)
            }
            State::Broker {
                ending_session: Some(gateway_session),
            } => {
                if response::ends_session(&self.head.method, status) {
                    self.end_session(gateway_session);
                }
                return Action::Continue;
            }
            _ => return Action::Continue,
        };
        match verdict {
            RoutedVerdict::Pass { .. } => {
                self.relay_events();
                Action::Continue
            }
            RoutedVerdict::ReadBody if end_of_stream => Action::Continue,
            RoutedVerdict::ReadBody => {
                if let State::Routed { classifying, .. } = &mut self.state {
                    *classifying = true;
                }
                // Hold the 400 until its body says what it means.
                Action::Pause
            }
            RoutedVerdict::SessionLost => self.session_lost(status),
            RoutedVerdict::Unreachable => self.unreachable(status),
        }
    }

    /// The response to a first call the broker forwarded: the session it
    /// opened cached (and its header removed: it may hold the upstream's
    /// credential), or the broker's refusal passed on. `None`: go on judging
    /// the response as a routed call's.
    fn first_call_headers(&mut self, status: u32) -> Option<Action> {
        let record = host::response_header(headers::X_MCP_UPSTREAM_SESSION);
        if record.is_some() {
            host::remove_response_header(headers::X_MCP_UPSTREAM_SESSION);
        }
        let verdict = response::on_first_call_headers(status, record.as_deref().map(str::as_bytes));
        let State::Routed {
            call,
            upstream_session,
            first_call,
            ..
        } = &mut self.state
        else {
            return Some(Action::Continue);
        };
        *first_call = false;
        let table = self.table.clone()?;
        let server = table.servers().get(call.server_index)?.name.as_str();
        match verdict {
            FirstCallVerdict::Opened(session) => {
                let gateway_session = call.gateway_session.clone();
                *upstream_session = session.session_id.clone();
                self.remember_session(&table, server, &gateway_session, &session);
                None
            }
            FirstCallVerdict::Pass {
                unreadable_record: true,
            } => {
                log::warn!("mcp-router: the broker sent an unreadable session for {server:?}");
                Metrics::inc(self.metrics.session_api_error);
                None
            }
            FirstCallVerdict::Pass { .. } => {
                self.state = State::Pass;
                Some(Action::Continue)
            }
            FirstCallVerdict::SessionEnded => {
                remember_ended(&table, server, &call.gateway_session);
                self.state = State::Pass;
                Some(Action::Continue)
            }
            FirstCallVerdict::BrokerUnreachable => {
                let refusal = Refusal::UpstreamUnavailable {
                    server: server.to_owned(),
                    detail: format!("the gateway broker cannot be reached (HTTP {status})"),
                };
                log::warn!("mcp-router: broker unreachable for a first call (HTTP {status})");
                Metrics::inc(self.metrics.session_api_error);
                let id = call.id.clone();
                Some(self.reply(&refusal, id.as_deref()))
            }
        }
    }

    /// `on_http_response_body`: a held `400` classified, or an event
    /// stream's chunk passed on with relay ids.
    pub(super) fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let classifying = match &mut self.state {
            State::Routed {
                relay: Some(relay),
                classifying: false,
                ..
            } => {
                let chunk = match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size)
                {
                    Ok(Some(chunk)) => chunk,
                    _ => return Action::Continue,
                };
                if let Some(replacement) = relay.push(&chunk, end_of_stream) {
                    log_failure(
                        "rewrite response events",
                        hostcalls::set_buffer(
                            BufferType::HttpResponseBody,
                            0,
                            chunk.len(),
                            &replacement,
                        ),
                    );
                }
                return Action::Continue;
            }
            State::Routed { classifying, .. } => *classifying,
            _ => false,
        };
        if !classifying {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let read = body_size.min(response::MAX_CLASSIFIED_BODY);
        let body = match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, read) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        if response::says_session_unknown(&body) {
            return self.session_lost(400);
        }
        // The upstream's verdict on the request itself: the client gets it
        // as sent, and the session stays.
        if let State::Routed { classifying, .. } = &mut self.state {
            *classifying = false;
        }
        Action::Continue
    }

    /// A routed call answered with an event stream: relay ids for the
    /// upstream's requests in it. Its length changes, so it loses any
    /// `content-length` (SSE answers are chunked anyway).
    fn relay_events(&mut self) {
        let is_stream = host::response_header("content-type")
            .is_some_and(|t| t.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return;
        }
        // A stateless-era upstream sends no requests to the client.
        let server = match &self.state {
            State::Routed { call, .. } if call.era == Era::Handshake => {
                self.server_name(call.server_index)
            }
            _ => return,
        };
        if let State::Routed { relay, .. } = &mut self.state {
            *relay = Some(SseRelay::new(&server));
            host::remove_response_header("content-length");
        }
    }

    /// The routed call's upstream no longer knows its session: mark the
    /// record stale (unless another request already replaced it) and answer
    /// with an error asking for a retry.
    fn session_lost(&mut self, status: u32) -> Action {
        let State::Routed {
            call,
            upstream_session,
            ..
        } = std::mem::replace(&mut self.state, State::Pass)
        else {
            return Action::Continue;
        };
        let server = self.server_name(call.server_index);
        if let Some(table) = &self.table {
            let lost = upstream_session.unwrap_or_default();
            cache::replace_if(
                table,
                &server,
                &call.gateway_session,
                |state| matches!(state, RecordState::Live { session, .. } if session.session_id.as_deref() == Some(lost.as_str())),
                RecordState::Stale {
                    session_id: lost.clone(),
                },
            );
        }
        log::info!("mcp-router: upstream {server:?} answered {status} for its session; reset");
        Metrics::inc(self.metrics.upstream_session_lost);
        self.reply(&Refusal::UpstreamSessionLost { server }, call.id.as_deref())
    }

    /// A routed call's upstream could not be reached: a JSON-RPC error.
    fn unreachable(&mut self, status: u32) -> Action {
        let State::Routed { call, .. } = std::mem::replace(&mut self.state, State::Pass) else {
            return Action::Continue;
        };
        let server = self.server_name(call.server_index);
        log::warn!("mcp-router: upstream {server:?} unreachable (HTTP {status})");
        let refusal = Refusal::UpstreamUnavailable {
            server,
            detail: format!("HTTP {status} (connection failed, reset or timed out)"),
        };
        self.reply(&refusal, call.id.as_deref())
    }

    /// The broker confirmed the end of `gateway_session`: its records in
    /// the cache refuse further calls at once. Only records that exist are
    /// touched (the pairs this proxy cached); the rest are misses anyway,
    /// which the broker refuses.
    fn end_session(&self, gateway_session: &str) {
        let Some(table) = &self.table else {
            return;
        };
        let until = now().saturating_add(u64::from(table.config().sessions.revalidate_seconds));
        for server in table.servers() {
            cache::replace_if(
                table,
                &server.name,
                gateway_session,
                |_| true,
                RecordState::Ended { until },
            );
        }
    }
}
