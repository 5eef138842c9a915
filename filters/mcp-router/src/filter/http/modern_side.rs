//! The body of a stateless-era call routed from its headers: held until it
//! has all arrived, checked against those headers, its name spliced.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType};

use super::{McpHttp, State, internal};
use crate::decision::{self, BodyRefusal, CheckedBody};
use crate::filter::host::log_failure;
use crate::filter::metrics::Metrics;
use mcp_protocol::refusal::Refusal;

impl McpHttp {
    /// A stateless-era call's body: held until it has all arrived, then
    /// checked against the headers it was routed by, its name spliced.
    pub(super) fn modern_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(table) = self.table.clone() else {
            return Action::Continue;
        };
        if body_size > table.max_body_bytes() {
            let limit = table.max_body_bytes();
            return self.reply(&Refusal::BodyTooLarge { limit }, None);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let State::ModernBody { call } = std::mem::replace(&mut self.state, State::Pass) else {
            return Action::Continue;
        };
        let body = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(Some(body)) => body,
            _ => Vec::new(),
        };
        let CheckedBody { id, splice } = match decision::on_modern_body(&call, &body) {
            Ok(checked) => checked,
            Err(BodyRefusal { refusal, id }) => return self.reply(&refusal, id.as_deref()),
        };
        if let Some(splice) = splice {
            let Some(spliced) = splice.apply(&body) else {
                return self.reply(&internal("splice span outside the body"), Some(&id));
            };
            log_failure(
                "replace request body",
                hostcalls::set_buffer(BufferType::HttpRequestBody, 0, body.len(), &spliced),
            );
        }
        let mut call = call.call;
        call.id = Some(id);
        if call.bridged {
            Metrics::inc(self.metrics.to_broker);
            self.state = State::Broker {
                ending_session: None,
            };
        } else {
            Metrics::inc(self.metrics.routed);
            self.state = State::Routed {
                call,
                upstream_session: None,
                classifying: false,
                relay: None,
            };
        }
        Action::Continue
    }
}
