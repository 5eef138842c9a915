//! A stateless-era client's call to a handshake-era upstream (MCP
//! 2026-07-28 client, 2025-11-25 or earlier server).
//!
//! The call goes on an upstream session the broker holds for the caller
//! (pooled per upstream, identity and declared capabilities, in the
//! session store like any upstream session), under an id of the broker's
//! own (two clients of one identity may use the same ids at once). When the
//! upstream asks the client something during the call, the answer so far
//! is an `input_required` result (MCP 2026-07-28, "Multi Round-Trip
//! Requests") carrying the request and a sealed `requestState`; the
//! client's retry answers the upstream's request with its `inputResponses`
//! and reads on. The final result gets `resultType: "complete"` (and, for
//! `resources/read`, caching hints: none known, so `ttlMs: 0`, `private`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use mcp_protocol::members;
use mcp_protocol::refusal::Refusal;
use mcp_protocol::{methods, modern, versions};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{Bridge, Messages, Pending, ROUND_TIMEOUT, edit};
use crate::client_capabilities::ClientCapabilities;
use crate::session_token::{SessionSigner, fingerprint};
use crate::state::AppState;
use crate::upstream::UpstreamSpec;
use crate::upstream::client::{ClientError, Connection};
use crate::upstream::handshake;
use crate::upstream::wire::Envelope;

const PURPOSE: &[u8] = b"mcp-wasm-gateway bridge requestState v1";

/// A call held until the client's next round.
pub struct Held {
    connection: Connection,
    messages: Messages,
    /// The id the broker gave the upstream call (JSON text).
    call_id: String,
    /// What the upstream asked: (key, method, params as raw JSON, its id).
    asked: Vec<(String, String, String, String)>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("server", &self.connection.server())
            .field("call_id", &self.call_id)
            .field("asked", &self.asked.len())
            .finish_non_exhaustive()
    }
}

/// What a round ended with.
enum Outcome {
    /// The upstream's response to the call.
    Answer(String),
    /// The upstream asked the client something; the call goes on after.
    Asked(Held),
}

/// The call `body` (already checked against its headers) of a client with
/// `identity`, to `server`: the response body to send (JSON).
///
/// # Errors
/// A [`Refusal`] in the stateless era's terms.
pub async fn call(
    state: &AppState,
    spec: &std::sync::Arc<UpstreamSpec>,
    identity: mcp_protocol::identity::Identity<'_>,
    body: &[u8],
) -> Result<Vec<u8>, Refusal> {
    let text = std::str::from_utf8(body).map_err(|_| Refusal::EmptyBody)?;
    let [id, method, params] = members::probe(text, ["id", "method", "params"])
        .map_err(|detail| Refusal::InvalidMessage { detail })?;
    let id = id
        .map(|m| m.raw.get().to_owned())
        .unwrap_or_else(|| "null".to_owned());
    let method = method
        .and_then(|m| m.as_str())
        .map(|m| m.into_owned())
        .unwrap_or_default();
    let params = params.map_or("{}", |p| p.raw.get());
    let [request_state, responses, meta] =
        members::probe(params, ["requestState", "inputResponses", "_meta"]).unwrap_or_default();
    let who = fingerprint(identity);
    let signer = state.signer();
    let runtime = state.runtime.load_full();
    let outcome = match request_state.and_then(|s| s.as_str()) {
        Some(token) => {
            let held = continue_held(&state.bridge, &signer, &token, &who, &spec.name, &method)?;
            let responses = responses.map(|r| r.raw.get()).unwrap_or("{}");
            resume(held, responses).await
        }
        None => {
            let declared: serde_json::Value = meta
                .and_then(|m| serde_json::from_str::<serde_json::Value>(m.raw.get()).ok())
                .map(|m| m[modern::META_CLIENT_CAPABILITIES].clone())
                .unwrap_or_default();
            let capabilities = ClientCapabilities::of_initialize_params(&declared);
            let connection =
                pooled_session(state, spec, &who, capabilities, runtime.handshake_timeout())
                    .await?;
            start(connection, text).await
        }
    };
    let outcome = outcome.map_err(|error| Refusal::UpstreamUnavailable {
        server: spec.name.clone(),
        detail: error,
    })?;
    match outcome {
        Outcome::Answer(answer) => complete(&answer, &id, &method),
        Outcome::Asked(held) => {
            input_required(&state.bridge, &signer, held, &who, &spec.name, &method, &id)
        }
    }
}

/// The upstream session of the caller on `spec`: one per identity and set
/// of capabilities, opened once however many calls ask at once.
async fn pooled_session(
    state: &AppState,
    spec: &std::sync::Arc<UpstreamSpec>,
    who: &[u8; 16],
    capabilities: ClientCapabilities,
    timeout: Duration,
) -> Result<Connection, Refusal> {
    let pool = format!("bridge:{}:{}", super::hex(who), capabilities.to_byte());
    let opened = state
        .sessions
        .upstream_session(&pool, &spec.name, None, || {
            let http = state.http.clone();
            let spec = spec.clone();
            async move {
                handshake::open(
                    &http,
                    &spec,
                    versions::LATEST,
                    capabilities.to_json(),
                    None,
                    timeout,
                )
                .await
            }
        })
        .await
        .map_err(|error| Refusal::UpstreamUnavailable {
            server: spec.name.clone(),
            detail: error.to_string(),
        })?;
    Ok(handshake::connection(&state.http, spec, &opened.session))
}

/// Sends the call under an id of the broker's own and reads its answer.
async fn start(connection: Connection, body: &str) -> Result<Outcome, String> {
    let mut nonce = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
    let call_id = format!("\"mcpgw-bridge-{}\"", super::hex(&nonce));
    // The stateless era's request metadata means nothing on a session, and
    // a server of both eras refuses a handshake-era request carrying it.
    let body = edit::remove_meta(
        &edit::set_id(body, &call_id)?,
        &[
            modern::META_PROTOCOL_VERSION,
            modern::META_CLIENT_CAPABILITIES,
            modern::META_CLIENT_INFO,
            modern::META_LOG_LEVEL,
        ],
    )?;
    let answer = connection
        .send_raw(None, body.into_bytes())
        .await
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&answer.status) {
        let mut messages = answer.messages;
        let detail = messages
            .next()
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        return Err(format!(
            "HTTP {}: {}",
            answer.status,
            detail.chars().take(200).collect::<String>()
        ));
    }
    read(Held {
        connection,
        messages: answer.messages,
        call_id,
        asked: Vec::new(),
    })
    .await
}

/// Answers what the upstream asked with the client's `inputResponses`
/// (an object keyed as the `inputRequests` were), and reads on.
async fn resume(mut held: Held, responses: &str) -> Result<Outcome, String> {
    let asked = std::mem::take(&mut held.asked);
    let keys: Vec<&str> = asked.iter().map(|(key, ..)| key.as_str()).collect();
    let given = responses_by_key(responses, &keys);
    let mut unanswered = Vec::new();
    for (request, answer) in asked.into_iter().zip(given) {
        match answer {
            Some(result) => {
                let (_, _, _, upstream_id) = &request;
                let body = format!(r#"{{"jsonrpc":"2.0","id":{upstream_id},"result":{result}}}"#);
                held.connection
                    .notify_raw(body.into_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            None => unanswered.push(request),
        }
    }
    if !unanswered.is_empty() {
        // Asked again, as the revision has a server do for missing inputs.
        held.asked = unanswered;
        return Ok(Outcome::Asked(held));
    }
    read(held).await
}

/// The raw answer given for each key, in order.
fn responses_by_key(responses: &str, keys: &[&str]) -> Vec<Option<String>> {
    let parsed: std::collections::HashMap<String, Box<RawValue>> =
        serde_json::from_str(responses).unwrap_or_default();
    keys.iter()
        .map(|key| parsed.get(*key).map(|v| v.get().to_owned()))
        .collect()
}

/// Reads the upstream's answer until its response, or a request to the
/// client. `ping` is answered here; notifications are left out (the
/// stateless era delivers only what the request asked for).
async fn read(mut held: Held) -> Result<Outcome, String> {
    let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
    loop {
        let next = tokio::time::timeout_at(deadline, held.messages.next())
            .await
            .map_err(|_| "the upstream did not answer in time".to_owned())?;
        let Some(message) = next else {
            return Err("the upstream ended the call without answering it".to_owned());
        };
        let message = message.map_err(|e: ClientError| e.to_string())?;
        let Some(envelope) = Envelope::read(&message) else {
            continue;
        };
        if envelope.answers(&held.call_id) {
            return Ok(Outcome::Answer(message));
        }
        let (Some(method), Some(id)) = (envelope.method.as_deref(), envelope.id.as_deref()) else {
            continue;
        };
        if method == methods::PING {
            let pong = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id.get());
            held.connection
                .notify_raw(pong.into_bytes())
                .await
                .map_err(|e| e.to_string())?;
            continue;
        }
        let [params] = members::probe(&message, ["params"]).unwrap_or_default();
        let params = params.map_or_else(|| "{}".to_owned(), |p| p.raw.get().to_owned());
        let key = format!("upstream-{}", URL_SAFE_NO_PAD.encode(id.get().as_bytes()));
        held.asked
            .push((key, method.to_owned(), params, id.get().to_owned()));
        return Ok(Outcome::Asked(held));
    }
}

/// The final response for the client: its id, `resultType`, and caching
/// hints on a `resources/read` result.
fn complete(answer: &str, id: &str, method: &str) -> Result<Vec<u8>, Refusal> {
    let internal = |detail: String| Refusal::Internal { detail };
    let answer = edit::set_id(answer, id).map_err(internal)?;
    let [result] = members::probe(&answer, ["result"]).map_err(internal)?;
    if result.is_none() {
        return Ok(answer.into_bytes());
    }
    let mut added = vec![("resultType", r#""complete""#.to_owned())];
    if method == methods::RESOURCES_READ {
        added.push(("ttlMs", "0".to_owned()));
        added.push(("cacheScope", r#""private""#.to_owned()));
    }
    edit::insert_result(&answer, &added)
        .map(String::into_bytes)
        .map_err(internal)
}

/// Holds the call and answers `input_required` with what the upstream
/// asked and the sealed state the retry must echo.
fn input_required(
    bridge: &Bridge,
    signer: &SessionSigner,
    held: Held,
    who: &[u8; 16],
    server: &str,
    method: &str,
    id: &str,
) -> Result<Vec<u8>, Refusal> {
    // The upstream's request params, byte for byte.
    let requests: Vec<String> = held
        .asked
        .iter()
        .map(|(key, asked, params, _)| {
            format!(
                r#"{}:{{"method":{},"params":{params}}}"#,
                serde_json::to_string(key).unwrap_or_default(),
                serde_json::to_string(asked).unwrap_or_default()
            )
        })
        .collect();
    let held_id = bridge
        .hold(Pending::ToHandshake(held))
        .ok_or_else(|| Refusal::AtCapacity {
            detail: format!(
                "the broker holds {} bridged calls, its limit",
                super::MAX_PENDING
            ),
        })?;
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + ROUND_TIMEOUT.as_secs();
    let mut payload = Vec::with_capacity(48);
    payload.extend_from_slice(&held_id);
    payload.extend_from_slice(who);
    payload.extend_from_slice(&expires.to_be_bytes());
    payload.extend_from_slice(&call_digest(server, method));
    let token = signer.seal(PURPOSE, &payload);
    let response = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"resultType":"input_required","inputRequests":{{{}}},"requestState":{}}}}}"#,
        requests.join(","),
        serde_json::to_string(&token).unwrap_or_default()
    );
    Ok(response.into_bytes())
}

/// The held call a retry's `requestState` continues, once the state is
/// verified: sealed by this key, for this caller, call and upstream, and
/// not expired.
fn continue_held(
    bridge: &Bridge,
    signer: &SessionSigner,
    token: &str,
    who: &[u8; 16],
    server: &str,
    method: &str,
) -> Result<Held, Refusal> {
    let invalid = |why: &str| Refusal::InvalidParams {
        detail: format!("requestState {why}"),
    };
    let payload = signer
        .open(PURPOSE, token)
        .ok_or_else(|| invalid("was not issued by this gateway"))?;
    if payload.len() != 48 {
        return Err(invalid("was not issued by this gateway"));
    }
    let mut held_id = [0u8; 16];
    held_id.copy_from_slice(&payload[..16]);
    if payload[16..32] != who[..] {
        return Err(invalid("belongs to another caller"));
    }
    let mut expires = [0u8; 8];
    expires.copy_from_slice(&payload[32..40]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if u64::from_be_bytes(expires) < now {
        return Err(invalid("has expired; call again without it"));
    }
    if payload[40..48] != call_digest(server, method) {
        return Err(invalid("belongs to another call"));
    }
    match bridge.take(&held_id) {
        Some(Pending::ToHandshake(held)) => Ok(held),
        _ => Err(invalid(
            "names a call this broker no longer holds (answered, expired, or held by another replica); call again without it",
        )),
    }
}

/// 8 bytes naming a call: its upstream and method.
fn call_digest(server: &str, method: &str) -> [u8; 8] {
    let mut digest = Sha256::new();
    digest.update(server.as_bytes());
    digest.update([0]);
    digest.update(method.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest.finalize()[..8]);
    out
}
