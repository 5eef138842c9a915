//! A first call with `firstCall: sessionApi`: the router asks the broker's
//! session API for the upstream session (`dispatch_http_call`, the request
//! paused), caches the answer and routes the call itself.

use std::time::Duration;

use mcp_protocol::headers;
use mcp_protocol::refusal::Refusal;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::Context;
use proxy_wasm::types::{Action, BufferType, MapType};

use super::{McpHttp, State, remember_ended};
use crate::decision::RoutedCall;
use crate::filter::host::log_failure;
use crate::filter::metrics::Metrics;
use crate::table::RouteTable;
use crate::upstream;

impl McpHttp {
    /// One session API call for the routed call; the request waits.
    pub(super) fn ask_broker(
        &mut self,
        table: &RouteTable,
        call: RoutedCall,
        stale: Option<&str>,
    ) -> Action {
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
        match upstream::read_session_response(&server, status, &body) {
            Ok(session) => {
                self.remember_session(&table, &server, &call.gateway_session, &session);
                self.apply_session(call, session);
                log_failure("resume request", hostcalls::resume_http_request());
            }
            Err(refusal) => {
                if refusal == Refusal::SessionNotFound {
                    remember_ended(&table, &server, &call.gateway_session);
                } else if refusal != Refusal::SessionOfAnotherIdentity {
                    log::warn!("mcp-router: no upstream session for {server:?}: {refusal:?}");
                    Metrics::inc(self.metrics.session_api_error);
                }
                self.reply(&refusal, call.id.as_deref());
            }
        }
    }
}
