//! Calls that wait for the caller's approval (`policy.approval`; the
//! router sends them here instead of to their upstream). The client is
//! asked with an elicitation, a form without fields whose answer is
//! `accept`, `decline` or `cancel` (MCP 2025-06-18 "Client Features ›
//! Elicitation"); only an accepted call is forwarded.
//!
//! - A handshake-era client is asked on the call's own event stream:
//!   `elicitation/create` with an id of the bridge's (`bridge:<held>:approval`),
//!   whose answer the router passes to the broker ([`super::to_modern::answer`]).
//!   Accepted, the call goes to the upstream in the gateway session's own
//!   upstream session, and its messages follow on the stream (requests the
//!   upstream makes of the client carry relay ids, as the router's do).
//! - A stateless-era client gets an `input_required` result asking the same
//!   (MCP 2026-07-28 "Multi Round-Trip Requests"), and retries with
//!   `inputResponses.approval` ([`modern_answer`]).
//!
//! Without an elicitation capability, or on anything but `accept`, the call
//! is not forwarded and the client gets a JSON-RPC error saying why. Every
//! decision is logged (target `mcp_audit`) and counted
//! (`mcp_broker_approvals_total{outcome}`).

use std::sync::Arc;

use axum::http::HeaderMap;
use futures::StreamExt;
use mcp_protocol::refusal::Refusal;
use mcp_protocol::{members, relay_id};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Pending, ROUND_TIMEOUT};
use crate::session_token::SessionClaims;
use crate::state::AppState;
use crate::upstream::UpstreamSpec;
use crate::upstream::client::Connection;
use crate::upstream::wire::Envelope;

/// The key of the approval among a stateless-era call's input requests.
pub const INPUT_KEY: &str = "approval";

/// What the client answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accepted,
    Declined,
    Cancelled,
}

impl Decision {
    /// Reads an elicitation result's `action`; anything else cancels.
    pub fn of_result(result: &str) -> Decision {
        let action = members::probe(result, ["action"])
            .ok()
            .and_then(|[action]| action)
            .and_then(|a| a.as_str().map(|a| a.into_owned()));
        match action.as_deref() {
            Some("accept") => Decision::Accepted,
            Some("decline") => Decision::Declined,
            _ => Decision::Cancelled,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Decision::Accepted => "approved",
            Decision::Declined => "declined",
            Decision::Cancelled => "cancelled",
        }
    }
}

/// The `elicitation/create` params asking to approve `tool` on `server`
/// with `arguments` (JSON text, shown cut to 500 characters).
pub fn request_params(server: &str, tool: &str, arguments: &str) -> serde_json::Value {
    let shown: String = arguments.chars().take(500).collect();
    json!({
        "message": format!(
            "Approve the call of tool {tool:?} on server {server:?} with arguments {shown}?"
        ),
        "requestedSchema": { "type": "object", "properties": {} }
    })
}

/// The arguments of a `tools/call` body, as JSON text (`{}` without).
pub fn arguments_of(body: &str) -> String {
    members::probe(body, ["params"])
        .ok()
        .and_then(|[params]| params)
        .and_then(|params| members::probe(params.raw.get(), ["arguments"]).ok())
        .and_then(|[arguments]| arguments.map(|a| a.raw.get().to_owned()))
        .unwrap_or_else(|| "{}".to_owned())
}

/// The exposed name of the tool a call routed to `server` (its upstream
/// name in `x-mcp-toolname`, as the router set it) calls, when its calls
/// need approval under the current route table.
pub fn needed(state: &AppState, server: &str, request_headers: &HeaderMap) -> Option<String> {
    let upstream = request_headers
        .get(mcp_protocol::headers::X_MCP_TOOLNAME)
        .and_then(|v| v.to_str().ok())?;
    let composite = state.catalog.current();
    let route = composite
        .route_table
        .servers
        .iter()
        .find(|s| s.name == server)?;
    route
        .approval
        .iter()
        .any(|t| t == upstream)
        .then(|| mcp_protocol::names::exposed_name(&route.prefix, upstream))
}

/// Logs and counts a decision.
pub fn audit(state: &AppState, server: &str, tool: &str, outcome: &str) {
    tracing::info!(target: "mcp_audit", server, tool, outcome, "tool call approval");
    state.metrics.count_approval(outcome);
}

/// The refusal of a call that was not approved.
pub fn refusal(tool: &str, outcome: &str) -> Refusal {
    Refusal::NotApproved {
        tool: tool.to_owned(),
        outcome: outcome.to_owned(),
    }
}

/// A handshake-era client's call of `tool` (its exposed name): asks, then
/// forwards; the messages for the client's event stream, the last one the
/// response.
///
/// # Errors
/// The client declared no elicitation capability.
pub fn call(
    state: Arc<AppState>,
    request_headers: HeaderMap,
    claims: &SessionClaims,
    spec: Arc<UpstreamSpec>,
    tool: String,
    body: Vec<u8>,
) -> Result<mpsc::Receiver<String>, Refusal> {
    if !claims.client_capabilities.elicitation() {
        audit(&state, &spec.name, &tool, "unavailable");
        return Err(Refusal::MissingClientCapability {
            capability: "elicitation".to_owned(),
        });
    }
    let text = String::from_utf8(body).map_err(|_| Refusal::EmptyBody)?;
    let client_id = members::probe(&text, ["id"])
        .ok()
        .and_then(|[id]| id.map(|i| i.raw.get().to_owned()))
        .unwrap_or_else(|| "null".to_owned());
    let (events, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let outcome =
            ask_then_forward(&state, &request_headers, &spec, &tool, &text, &events).await;
        if let Err(refusal) = outcome {
            super::send_refusal(&events, &refusal, client_id).await;
        }
    });
    Ok(receiver)
}

async fn ask_then_forward(
    state: &Arc<AppState>,
    request_headers: &HeaderMap,
    spec: &Arc<UpstreamSpec>,
    tool: &str,
    text: &str,
    events: &mpsc::Sender<String>,
) -> Result<(), Refusal> {
    let unavailable = |detail: String| super::unavailable(&spec.name, detail);
    let (sender, mut answers) = mpsc::channel(1);
    let held = state
        .bridge
        .hold(Pending::ToModern(sender))
        .ok_or_else(|| {
            unavailable("the broker holds as many pending calls as it may".to_owned())
        })?;
    let id = format!(
        "{}{}:{INPUT_KEY}",
        super::to_modern::RELAYED,
        super::hex(&held)
    );
    let ask = json!({
        "jsonrpc": "2.0", "id": id, "method": "elicitation/create",
        "params": request_params(&spec.name, tool, &arguments_of(text)),
    });
    if events.send(ask.to_string()).await.is_err() {
        state.bridge.forget(&held);
        return Ok(());
    }
    let answered = tokio::time::timeout(ROUND_TIMEOUT, answers.recv()).await;
    state.bridge.forget(&held);
    let decision = match answered {
        Ok(Some((_, result))) => Decision::of_result(&result),
        _ => Decision::Cancelled,
    };
    audit(state, &spec.name, tool, decision.label());
    if decision != Decision::Accepted {
        return Err(refusal(tool, decision.label()));
    }
    let modern = state
        .catalog
        .current()
        .route_table
        .servers
        .iter()
        .any(|s| s.name == spec.name && !s.era.speaks(mcp_protocol::versions::Era::Handshake));
    if modern {
        // A stateless-era upstream: across the bridge, as any such call.
        let runtime = state.runtime.load_full();
        let claims = request_headers
            .get(mcp_protocol::headers::SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|gateway| runtime.signer.verify(gateway).ok())
            .ok_or(Refusal::SessionNotFound)?;
        let mut messages = super::to_modern::call(
            state.bridge.clone(),
            state.http.clone(),
            spec.clone(),
            &claims,
            text.as_bytes(),
        )?;
        while let Some(message) = messages.recv().await {
            if events.send(message).await.is_err() {
                break;
            }
        }
        return Ok(());
    }
    forward(state, request_headers, spec, text, events).await
}

/// The accepted call, to its handshake-era upstream in the gateway
/// session's upstream session; its messages onto `events`.
async fn forward(
    state: &Arc<AppState>,
    request_headers: &HeaderMap,
    spec: &Arc<UpstreamSpec>,
    text: &str,
    events: &mpsc::Sender<String>,
) -> Result<(), Refusal> {
    let unavailable = |detail: String| super::unavailable(&spec.name, detail);
    let gateway = request_headers
        .get(mcp_protocol::headers::SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .ok_or(Refusal::MissingSession)?;
    let session =
        crate::http::session_api::open(state, request_headers, gateway, &spec.name, None).await?;
    let connection = Connection::resume(
        &state.http,
        spec.clone(),
        session.session_id,
        session.protocol_version,
    );
    let answer = connection
        .send_raw(None, text.as_bytes().to_vec())
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut messages = answer.messages;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| unavailable(e.to_string()))?;
        let relayed = match Envelope::read(&message) {
            // A request of the upstream's: its answer must reach the
            // upstream, so its id names it (the router routes by it).
            Some(envelope) if envelope.method.is_some() && envelope.id.is_some() => {
                relay(&spec.name, &message).unwrap_or(message)
            }
            _ => message,
        };
        if events.send(relayed).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// `message` with its id replaced by a relay id naming `server`.
fn relay(server: &str, message: &str) -> Option<String> {
    let parsed = mcp_protocol::message::parse(message.as_bytes()).ok()?;
    let (id, span) = (parsed.id?, parsed.id_span?);
    let relayed = relay_id::encode(server, id.get())?;
    let mut out = String::with_capacity(message.len() + relayed.len());
    out.push_str(&message[..span.start]);
    out.push_str(&relayed);
    out.push_str(&message[span.end..]);
    Some(out)
}

/// A stateless-era call's answer to the approval it was asked for: `None`
/// when the call carries none (it is asked then), else the decision.
pub fn modern_answer(body: &str) -> Option<Decision> {
    let [params] = members::probe(body, ["params"]).ok()?;
    let [responses] = members::probe(params?.raw.get(), ["inputResponses"]).ok()?;
    let [approval] = members::probe(responses?.raw.get(), [INPUT_KEY]).ok()?;
    Some(Decision::of_result(approval?.raw.get()))
}

/// An approved stateless-era call as its upstream gets it: without the
/// answer to the gateway's own question, which the upstream never asked
/// (an `inputResponses` left empty goes too).
pub fn without_answer(body: Vec<u8>) -> Vec<u8> {
    let edited = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| super::edit::remove_in_params(text, "inputResponses", &[INPUT_KEY]).ok());
    match edited {
        Some(text) => text.into_bytes(),
        // Not reached: the call was read before it was approved.
        None => body,
    }
}

/// The `input_required` result asking a stateless-era client to approve
/// (MCP 2026-07-28 "Multi Round-Trip Requests").
pub fn modern_request(server: &str, tool: &str, body: &str) -> serde_json::Value {
    json!({
        "resultType": "input_required",
        "inputRequests": {
            INPUT_KEY: {
                "method": "elicitation/create",
                "params": request_params(server, tool, &arguments_of(body)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{Decision, modern_answer, without_answer};

    #[test]
    fn a_stateless_answer_is_read_then_taken_out_of_the_forwarded_call() {
        let asked = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{}}}"#;
        assert_eq!(modern_answer(asked), None);
        let answered = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{},"inputResponses":{"approval":{"action":"accept"}}}}"#;
        assert_eq!(modern_answer(answered), Some(Decision::Accepted));
        let forwarded = without_answer(answered.as_bytes().to_vec());
        assert_eq!(String::from_utf8_lossy(&forwarded), asked);
        let declined = answered.replace("accept", "decline");
        assert_eq!(modern_answer(&declined), Some(Decision::Declined));
        let other = answered.replace("\"action\":\"accept\"", "\"x\":1");
        assert_eq!(modern_answer(&other), Some(Decision::Cancelled));
    }
}
