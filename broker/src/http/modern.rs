//! The stateless era (MCP 2026-07-28) on the broker's MCP endpoint: the
//! methods the broker answers itself for a modern client (`server/discover`,
//! the four lists, `subscriptions/listen`), the checks every modern request
//! passes (`mcp_protocol::modern`, the router's rules), and its errors with
//! their statuses. There is no session: the identity of each request is
//! its own credentials.
//!
//! Calls about one tool, prompt or resource are routed by the filter; one
//! that reaches the broker has crossed eras (its upstream speaks only the
//! handshake era) and goes to [`super::bridge`].

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use mcp_protocol::message::{self, MessageKind};
use mcp_protocol::modern::{self, ModernHead};
use mcp_protocol::refusal::Refusal;
use mcp_protocol::versions::{self, Era};
use mcp_protocol::{headers, methods};
use router_config::Entry;
use serde_json::value::RawValue;

use super::mcp::{SERVER_NAME, advertised, header_str};
use super::rpc;
use crate::catalog::ListsChanged;
use crate::state::AppState;

/// A refusal to a modern request, with the status its code implies.
pub fn refuse(refusal: &Refusal, id: Option<&RawValue>) -> Response {
    let reply = refusal.reply_in(Era::Modern, id);
    let status =
        StatusCode::from_u16(reply.status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    rpc::json_response(status, reply.body)
}

/// The request metadata headers of a modern request.
pub fn head(request_headers: &HeaderMap) -> ModernHead<'_> {
    ModernHead {
        version: header_str(request_headers, headers::PROTOCOL_VERSION),
        method: header_str(request_headers, modern::MCP_METHOD),
        name: header_str(request_headers, modern::MCP_NAME),
    }
}

/// `POST {mcpPath}` of a modern request.
pub async fn post(state: Arc<AppState>, request_headers: HeaderMap, body: Bytes) -> Response {
    let message = match message::parse(&body) {
        Ok(message) => message,
        Err(failure) => {
            let id = failure.id();
            return refuse(&Refusal::Malformed(failure), id.as_deref());
        }
    };
    let id = message.id;
    let checked = match modern::check_headers(&head(&request_headers)) {
        Ok(checked) => checked,
        Err(refusal) => return refuse(&refusal, id),
    };
    if let Err(refusal) = modern::check_body(&checked, &message) {
        return refuse(&refusal, id);
    }
    let MessageKind::Call { method, .. } = &message.kind else {
        return refuse(
            &Refusal::InvalidMessage {
                detail: "a stateless-era client sends no responses".to_owned(),
            },
            None,
        );
    };
    state.metrics.count_request(method);
    let Some(id) = id else {
        // This revision defines no client notifications over HTTP
        // ("Streamable HTTP › Sending Messages"): accepted, nothing to do.
        return StatusCode::ACCEPTED.into_response();
    };
    let bridged = header_str(&request_headers, headers::X_MCP_SERVERNAME);
    let runtime = state.runtime.load();
    let ttl_ms =
        u64::try_from(runtime.config.discovery.refresh_interval().as_millis()).unwrap_or(u64::MAX);
    drop(runtime);
    let list = |entry: Entry| {
        let table = header_str(&request_headers, headers::X_MCP_ROUTE_TABLE);
        let composite = state.catalog.for_table(table);
        let policy = &composite.route_table.policy;
        match super::mcp::access_of(policy, &request_headers) {
            Ok(access) => rpc::result(
                id,
                &*composite.modern_list_for(entry, &access, policy.is_active(), ttl_ms),
            ),
            Err(refusal) => refuse(&refusal, Some(id)),
        }
    };
    match method.as_ref() {
        modern::SERVER_DISCOVER => rpc::result(id, discover(&state, ttl_ms)),
        methods::TOOLS_LIST => list(Entry::Tool),
        methods::PROMPTS_LIST => list(Entry::Prompt),
        methods::RESOURCES_LIST => list(Entry::Resource),
        methods::RESOURCES_TEMPLATES_LIST => list(Entry::ResourceTemplate),
        modern::SUBSCRIPTIONS_LISTEN => listen(&state, id, &body),
        methods::TOOLS_CALL
        | methods::PROMPTS_GET
        | methods::RESOURCES_READ
        | methods::COMPLETION_COMPLETE => {
            let target = match bridged {
                Some(server) => Ok((server.to_owned(), body.to_vec())),
                None => super::calls::owner(&state, &request_headers, method, &message, &body),
            };
            let target = match target {
                Ok((server, body)) if method == methods::TOOLS_CALL => {
                    match approve(&state, &server, &request_headers, body) {
                        Ok(Approval::Forward(body)) => Ok((server, body)),
                        Ok(Approval::Ask(ask)) => return rpc::result(id, ask),
                        Err(refusal) => Err(refusal),
                    }
                }
                other => other,
            };
            let answered = match target {
                Ok((server, body)) => {
                    super::calls::forward(&state, &server, &request_headers, &body).await
                }
                Err(refusal) => Err(refusal),
            };
            match answered {
                Ok(answer) => rpc::json_response(modern_status(&answer), answer),
                Err(refusal) => refuse(&refusal, Some(id)),
            }
        }
        // Handshake-era methods (`initialize`, `ping`, `logging/setLevel`,
        // `resources/subscribe`) are gone in this revision: not found.
        other => refuse(
            &Refusal::MethodNotFound {
                method: other.to_owned(),
            },
            Some(id),
        ),
    }
}

/// What becomes of a stateless-era `tools/call` that may need approval.
enum Approval {
    /// To the upstream, as it is to be sent.
    Forward(Vec<u8>),
    /// Answered with this `input_required` result, asking for approval.
    Ask(serde_json::Value),
}

/// A stateless-era call of a tool that needs approval (`policy.approval`):
/// asked for it, or forwarded once it carries an accepting answer (which
/// is then taken out of it), or at once when it needs none.
///
/// # Errors
/// The client declared no elicitation capability, or did not accept.
fn approve(
    state: &AppState,
    server: &str,
    request_headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<Approval, Refusal> {
    use crate::bridge::approval::{self, Decision};
    let Some(tool) = approval::needed(state, server, request_headers) else {
        return Ok(Approval::Forward(body));
    };
    let text = std::str::from_utf8(&body).map_err(|_| Refusal::EmptyBody)?;
    match approval::modern_answer(text) {
        None => {
            let declared = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v["params"]["_meta"][modern::META_CLIENT_CAPABILITIES]
                        .get("elicitation")
                        .cloned()
                })
                .is_some();
            if !declared {
                approval::audit(state, server, &tool, "unavailable");
                return Err(Refusal::MissingClientCapability {
                    capability: "elicitation".to_owned(),
                });
            }
            Ok(Approval::Ask(approval::modern_request(server, &tool, text)))
        }
        Some(Decision::Accepted) => {
            approval::audit(state, server, &tool, "approved");
            Ok(Approval::Forward(approval::without_answer(body)))
        }
        Some(decision @ (Decision::Declined | Decision::Cancelled)) => {
            let outcome = if decision == Decision::Declined {
                "declined"
            } else {
                "cancelled"
            };
            approval::audit(state, server, &tool, outcome);
            Err(approval::refusal(&tool, outcome))
        }
    }
}

/// The status a stateless-era response travels with: that of its error's
/// code (`-32602`: 400, `-32601`: 404, as the revision's transport and the
/// official SDKs map them), else 200.
fn modern_status(answer: &[u8]) -> StatusCode {
    let code = std::str::from_utf8(answer)
        .ok()
        .and_then(|text| mcp_protocol::members::probe(text, ["error"]).ok())
        .and_then(|[error]| error)
        .and_then(|error| serde_json::from_str::<serde_json::Value>(error.raw.get()).ok())
        .and_then(|error| error["code"].as_i64());
    match code {
        Some(-32700 | -32600 | -32602 | -32020 | -32021 | -32022) => StatusCode::BAD_REQUEST,
        Some(-32601) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// The `server/discover` result (MCP 2026-07-28, "Discover").
fn discover(state: &AppState, ttl_ms: u64) -> serde_json::Value {
    let composite = state.catalog.current();
    serde_json::json!({
        "resultType": "complete",
        "supportedVersions": versions::ALL,
        "capabilities": advertised(&composite.capabilities),
        "instructions": "Tools and prompts of several MCP servers behind one gateway; their names carry their server's prefix. Resource URIs are the servers' own.",
        "ttlMs": ttl_ms,
        "cacheScope": "public",
        "_meta": {
            modern::META_SERVER_INFO: {
                "name": SERVER_NAME,
                "title": "MCP WASM Gateway",
                "version": env!("CARGO_PKG_VERSION")
            }
        }
    })
}

/// The notification types a `subscriptions/listen` asks for (its
/// `params.notifications`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    tools_list_changed: bool,
    #[serde(default)]
    prompts_list_changed: bool,
    #[serde(default)]
    resources_list_changed: bool,
    #[serde(default)]
    resource_subscriptions: Option<Vec<String>>,
}

/// `subscriptions/listen` (MCP 2026-07-28, "Subscriptions"): an event
/// stream that opens with the acknowledgement of what the gateway honors,
/// then carries the gateway's `list_changed` of the kinds asked for, each
/// tagged with the listen request's id. Resource subscriptions are not
/// honored yet: the acknowledgement leaves them out, as the revision has a
/// server do for what it does not support.
fn listen(state: &AppState, id: &RawValue, body: &[u8]) -> Response {
    let filter = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/params/notifications").cloned())
        .and_then(|v| serde_json::from_value::<Filter>(v).ok());
    let Some(filter) = filter else {
        return refuse(
            &Refusal::InvalidParams {
                detail: "params.notifications must be an object".to_owned(),
            },
            Some(id),
        );
    };
    if filter
        .resource_subscriptions
        .as_ref()
        .is_some_and(|uris| !uris.is_empty())
    {
        tracing::debug!("subscriptions/listen: resource subscriptions are not honored yet");
    }
    let offered = state.catalog.current().capabilities;
    let honored = ListsChanged {
        tool: filter.tools_list_changed,
        prompt: filter.prompts_list_changed && offered.prompts,
        resource: filter.resources_list_changed && offered.resources,
        resource_template: false,
    };
    let subscription: serde_json::Value =
        serde_json::from_str(id.get()).unwrap_or(serde_json::Value::Null);
    let tag = serde_json::json!({ modern::META_SUBSCRIPTION_ID: subscription });
    let mut acknowledged = serde_json::Map::new();
    for (asked, name) in [
        (honored.tool, "toolsListChanged"),
        (honored.prompt, "promptsListChanged"),
        (honored.resource, "resourcesListChanged"),
    ] {
        if asked {
            acknowledged.insert(name.to_owned(), true.into());
        }
    }
    let ack = serde_json::json!({
        "jsonrpc": "2.0",
        "method": modern::NOTIFICATION_SUBSCRIPTIONS_ACKNOWLEDGED,
        "params": { "_meta": tag, "notifications": acknowledged }
    })
    .to_string();
    let changes =
        tokio_stream::wrappers::BroadcastStream::new(state.catalog.subscribe_lists_changed());
    let notifications = changes.flat_map(move |changed| {
        let changed = match changed {
            Ok(changed) => changed,
            // Missed announcements: everything asked for may have changed.
            Err(_) => ListsChanged {
                tool: true,
                prompt: true,
                resource: true,
                resource_template: true,
            },
        };
        let wanted = ListsChanged {
            tool: changed.tool && honored.tool,
            prompt: changed.prompt && honored.prompt,
            resource: (changed.resource || changed.resource_template) && honored.resource,
            resource_template: false,
        };
        let events: Vec<Result<Event, Infallible>> = wanted
            .notifications()
            .into_iter()
            .map(|method| {
                let data = serde_json::json!({
                    "jsonrpc": "2.0",
                    "method": method,
                    "params": { "_meta": tag }
                });
                Ok(Event::default().data(data.to_string()))
            })
            .collect();
        futures::stream::iter(events)
    });
    let stream =
        futures::stream::once(async move { Ok(Event::default().data(ack)) }).chain(notifications);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Proxies must not buffer a stream that may stay quiet for hours.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
