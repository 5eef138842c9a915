//! The whole body of a stateless-era call routed from its headers (held by
//! `McpHttp::on_held_body` until it has all arrived): checked against those
//! headers, its name spliced.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType};

use super::{McpHttp, State, internal};
use crate::decision::{self, BodyRefusal, CheckedBody, ModernCall};
use crate::filter::host::log_failure;
use crate::filter::metrics::Metrics;

impl McpHttp {
    /// A stateless-era call's whole body: checked against the headers it
    /// was routed by, its name spliced.
    pub(super) fn modern_body(&mut self, call: ModernCall, body: &[u8]) -> Action {
        let CheckedBody { id, splice } = match decision::on_modern_body(&call, body) {
            Ok(checked) => checked,
            Err(BodyRefusal { refusal, id }) => return self.reply(&refusal, id.as_deref()),
        };
        if let Some(splice) = splice {
            let Some(spliced) = splice.apply(body) else {
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
                first_call: false,
                classifying: false,
                relay: None,
            };
        }
        Action::Continue
    }
}
