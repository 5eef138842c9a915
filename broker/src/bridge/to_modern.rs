//! A handshake-era client's call to a stateless-era upstream (MCP
//! 2025-11-25 or earlier client, 2026-07-28 server).
//!
//! The call gets what the upstream requires: the metadata headers and
//! `params._meta` with the gateway session's protocol version and the
//! capabilities its client declared. The client is answered on an event
//! stream: notifications the upstream sends (progress, logging) pass on;
//! an `input_required` result becomes the requests it carries, sent to the
//! client with relay ids naming this upstream (the router brings the
//! answers back here, [`answer`]); once every one is answered, the broker
//! retries the call with `inputResponses` and the upstream's
//! `requestState`, under a new id, and goes on. The final response carries
//! the client's own id.

use std::sync::Arc;

use futures::StreamExt;
use mcp_protocol::message::{self, MessageKind};
use mcp_protocol::refusal::Refusal;
use mcp_protocol::{members, modern, relay_id, versions};
use tokio::sync::mpsc;

use super::{Bridge, Pending, ROUND_TIMEOUT, edit};
use crate::session_token::SessionClaims;
use crate::upstream::UpstreamSpec;
use crate::upstream::client::Connection;
use crate::upstream::wire::{Envelope, ModernHeaders, request_meta};

/// The id prefix of requests the bridge relays to a handshake-era client.
pub(crate) const RELAYED: &str = "bridge:";

/// Starts the call; the messages for the client's event stream, in order
/// (the last one is the response).
///
/// # Errors
/// The body cannot carry the stateless era's metadata.
pub fn call(
    bridge: Arc<Bridge>,
    http: reqwest::Client,
    spec: Arc<UpstreamSpec>,
    claims: &SessionClaims,
    body: &[u8],
) -> Result<mpsc::Receiver<String>, Refusal> {
    let invalid = |detail: String| Refusal::InvalidMessage { detail };
    let text = std::str::from_utf8(body).map_err(|_| Refusal::EmptyBody)?;
    let parsed = message::parse(body).map_err(Refusal::Malformed)?;
    let MessageKind::Call { method, .. } = &parsed.kind else {
        return Err(invalid("not a request".to_owned()));
    };
    let method = method.to_string();
    let client_id = parsed
        .id
        .map(|id| id.get().to_owned())
        .unwrap_or_else(|| "null".to_owned());
    let name = {
        let [params] = members::probe(text, ["params"]).map_err(invalid)?;
        let member = modern::name_member(&method);
        match (params, member) {
            (Some(params), Some(member)) => {
                let [value] = members::probe(params.raw.get(), [member]).map_err(invalid)?;
                value.and_then(|v| v.as_str()).map(|v| v.into_owned())
            }
            _ => None,
        }
    };
    let meta = request_meta(
        versions::LATEST_MODERN,
        &claims.client_capabilities.to_json(),
    );
    let meta: Vec<(&str, String)> = [
        modern::META_PROTOCOL_VERSION,
        modern::META_CLIENT_CAPABILITIES,
        modern::META_CLIENT_INFO,
    ]
    .into_iter()
    .map(|key| (key, meta[key].to_string()))
    .collect();
    let request = edit::insert_meta(text, &meta).map_err(invalid)?;
    let (events, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let outcome = run(
            &bridge,
            &http,
            &spec,
            &method,
            name.as_deref(),
            &request,
            &client_id,
            &events,
        )
        .await;
        if let Err(error) = outcome {
            super::send_refusal(&events, &super::unavailable(&spec.name, error), client_id).await;
        }
    });
    Ok(receiver)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    bridge: &Bridge,
    http: &reqwest::Client,
    spec: &Arc<UpstreamSpec>,
    method: &str,
    name: Option<&str>,
    request: &str,
    client_id: &str,
    events: &mpsc::Sender<String>,
) -> Result<(), String> {
    let connection =
        Connection::resume(http, spec.clone(), None, versions::LATEST_MODERN.to_owned());
    let headers = ModernHeaders { method, name };
    let mut body = request.to_owned();
    let mut round = 0u32;
    loop {
        round += 1;
        // Each round is a new request, with a new id (MCP 2026-07-28: a
        // retry's id differs from the first).
        let round_id = format!("\"mcpgw-round-{round}\"");
        let sent = edit::set_id(&body, &round_id)?;
        let answer = connection
            .send_raw(Some(headers), sent.into_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = answer.messages;
        let response = loop {
            let next = tokio::time::timeout(ROUND_TIMEOUT, messages.next())
                .await
                .map_err(|_| "the upstream did not answer in time".to_owned())?;
            let Some(message) = next else {
                return Err(format!(
                    "the upstream answered HTTP {} without a response",
                    answer.status
                ));
            };
            let message = message.map_err(|e| e.to_string())?;
            let Some(envelope) = Envelope::read(&message) else {
                continue;
            };
            if envelope.answers(&round_id) {
                break message;
            }
            // Notifications of the call (progress, logging) reach the
            // client as they come.
            let notification = envelope.method.is_some() && envelope.id.is_none();
            if notification && events.send(message).await.is_err() {
                return Ok(());
            }
        };
        let [result] = members::probe(&response, ["result"])?;
        let input = result.as_ref().and_then(|r| {
            let [kind, requests, state] =
                members::probe(r.raw.get(), ["resultType", "inputRequests", "requestState"])
                    .ok()?;
            (kind.and_then(|k| k.as_str()).as_deref() == Some("input_required")).then(|| {
                (
                    requests.map(|q| q.raw.get().to_owned()),
                    state.map(|s| s.raw.get().to_owned()),
                )
            })
        });
        let Some((requests, state)) = input else {
            let _ = events.send(edit::set_id(&response, client_id)?).await;
            return Ok(());
        };
        let responses = ask_client(
            bridge,
            &spec.name,
            requests.as_deref().unwrap_or("{}"),
            events,
        )
        .await?;
        let mut added = vec![("inputResponses", responses)];
        if let Some(state) = state {
            added.push(("requestState", state));
        }
        // The first request again, with this round's answers.
        body = edit::insert_params(request, &added)?;
    }
}

/// Sends the upstream's input requests to the client (relay ids naming the
/// upstream and this call) and waits for every answer: the
/// `inputResponses` object, keyed as the requests were.
async fn ask_client(
    bridge: &Bridge,
    server: &str,
    requests: &str,
    events: &mpsc::Sender<String>,
) -> Result<String, String> {
    let requests: Vec<(String, serde_json::Value)> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(requests)
            .map_err(|e| format!("inputRequests: {e}"))?
            .into_iter()
            .collect();
    let (sender, mut answers) = mpsc::channel(requests.len().max(1));
    let held = bridge
        .hold(Pending::ToModern(sender))
        .ok_or("the broker holds as many bridged calls as it may")?;
    let held_hex = super::hex(&held);
    for (key, request) in &requests {
        let raw_id =
            serde_json::to_string(&format!("{RELAYED}{held_hex}:{key}")).unwrap_or_default();
        let id = relay_id::encode(server, &raw_id).ok_or("relay id too long")?;
        let relayed = serde_json::json!({
            "jsonrpc": "2.0",
            "id": serde_json::from_str::<serde_json::Value>(&id).unwrap_or_default(),
            "method": request["method"],
            "params": request["params"],
        });
        if events.send(relayed.to_string()).await.is_err() {
            bridge.forget(&held);
            return Err("the client went away".to_owned());
        }
    }
    let mut given = serde_json::Map::new();
    while given.len() < requests.len() {
        let next = tokio::time::timeout(ROUND_TIMEOUT, answers.recv()).await;
        match next {
            Ok(Some((key, result))) => {
                let value: serde_json::Value =
                    serde_json::from_str(&result).map_err(|e| format!("an answer: {e}"))?;
                given.insert(key, value);
            }
            Ok(None) | Err(_) => {
                bridge.forget(&held);
                return Err("the client did not answer the upstream's requests in time".to_owned());
            }
        }
    }
    bridge.forget(&held);
    Ok(serde_json::Value::Object(given).to_string())
}

/// Whether `body` answers a request the broker made with an id of its own
/// (an approval's elicitation: the router passes such answers, which carry
/// no relay id, to the broker).
pub fn answers_a_held_call(body: &[u8]) -> bool {
    std::str::from_utf8(body)
        .ok()
        .and_then(|text| members::probe(text, ["id"]).ok())
        .and_then(|[id]| id)
        .and_then(|id| id.as_str().map(|id| id.starts_with(RELAYED)))
        .unwrap_or(false)
}

/// The client's answer to a request the bridge relayed (its id is the one
/// the bridge made, put back by the router): handed to the waiting call.
///
/// # Errors
/// Not an answer to a held call, or one that refused the request.
pub async fn answer(bridge: &Bridge, body: &[u8]) -> Result<(), Refusal> {
    let stale = || {
        Refusal::InvalidParams {
        detail: "this answers no request the gateway is waiting on (answered, expired, or held by another broker replica)".to_owned(),
    }
    };
    let text = std::str::from_utf8(body).map_err(|_| stale())?;
    let [id, result, error] =
        members::probe(text, ["id", "result", "error"]).map_err(|_| stale())?;
    let id = id.and_then(|i| i.as_str()).ok_or_else(stale)?;
    let (held, key) = id
        .strip_prefix(RELAYED)
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(stale)?;
    let held = super::unhex(held).ok_or_else(stale)?;
    let sender = bridge.answers_to(&held).ok_or_else(stale)?;
    let Some(result) = result else {
        let detail = error.map(|e| e.raw.get().to_owned()).unwrap_or_default();
        bridge.forget(&held);
        return Err(Refusal::InvalidParams {
            detail: format!("the client refused the upstream's request: {detail}"),
        });
    };
    sender
        .send((key.to_owned(), result.raw.get().to_owned()))
        .await
        .map_err(|_| stale())
}
