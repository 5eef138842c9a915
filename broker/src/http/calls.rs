//! Calls about one tool, prompt or resource that reach the broker rather
//! than their upstream: those the router bridges (client and upstream of
//! different eras, or a credential only the broker holds), and stateless-era
//! `completion/complete` (its target is in the body alone, so the router,
//! which routes modern requests from their headers, leaves it to the
//! broker). The broker finds the owner where the router did not, and
//! forwards in the upstream's era ([`crate::bridge`]).

use axum::http::HeaderMap;
use mcp_protocol::message::{self, Message, MessageKind, Params};
use mcp_protocol::refusal::Refusal;
use mcp_protocol::splice::Splice;
use mcp_protocol::versions::Era;
use mcp_protocol::{methods, modern};
use router_config::resources::ResourceIndex;
use router_config::{Entry, ServerRoute};

use super::mcp::identity_of;
use crate::bridge;
use crate::state::AppState;
use crate::upstream::client::Connection;
use crate::upstream::wire::{Envelope, ModernHeaders};

/// The server owning a modern call the router left to the broker, and the
/// body to send it (its name spliced to the upstream's), once the policy
/// allows the caller to call it (the rule the router applies).
///
/// # Errors
/// The name, URI or reference nobody owns, in the words the router uses;
/// the policy's refusal.
pub fn owner(
    state: &AppState,
    request_headers: &HeaderMap,
    method: &str,
    message: &Message<'_>,
    body: &[u8],
) -> Result<(String, Vec<u8>), Refusal> {
    let composite = state.catalog.current();
    let servers = &composite.route_table.servers;
    let policy = &composite.route_table.policy;
    let access = super::mcp::access_of(policy, request_headers)?;
    let check = |server: &str, entry: Entry, upstream: &str, exposed: &str| {
        if policy.is_active() {
            access.check(server, entry, upstream, exposed)
        } else {
            Ok(())
        }
    };
    let MessageKind::Call {
        params: Params::Object(params),
        ..
    } = &message.kind
    else {
        return Err(Refusal::InvalidParams {
            detail: "params must be an object".to_owned(),
        });
    };
    let text = |field: &Option<message::NameField<'_>>| {
        field
            .as_ref()
            .and_then(|f| message::decode_str(f.raw))
            .map(|v| v.into_owned())
    };
    let by_name = |entry: Entry, field: &Option<message::NameField<'_>>| {
        let exposed = text(field).unwrap_or_default();
        match name_owner(servers, entry, &exposed) {
            Some((server, upstream)) => {
                check(&server, entry, &upstream, &exposed)?;
                let body = match (upstream != exposed, field) {
                    (true, Some(field)) => Splice::new(field.span.clone(), &upstream)
                        .apply(body)
                        .unwrap_or_else(|| body.to_vec()),
                    _ => body.to_vec(),
                };
                Ok((server, body))
            }
            None if entry == Entry::Prompt => Err(Refusal::UnknownPrompt { name: exposed }),
            None => Err(Refusal::UnknownTool { name: exposed }),
        }
    };
    let by_uri = |uri: String, reference: bool| {
        let index = ResourceIndex::new(servers);
        let found = if reference {
            index.reference_owner(&uri)
        } else {
            index.owner(&uri)
        };
        let server = found
            .and_then(|(index, _)| servers.get(index))
            .ok_or_else(|| Refusal::UnknownResource { uri: uri.clone() })?;
        let entry = if reference {
            Entry::ResourceTemplate
        } else {
            Entry::Resource
        };
        check(&server.name, entry, &uri, &uri)?;
        Ok((server.name.clone(), body.to_vec()))
    };
    match method {
        methods::TOOLS_CALL => by_name(Entry::Tool, &params.name),
        methods::PROMPTS_GET => by_name(Entry::Prompt, &params.name),
        methods::RESOURCES_READ => by_uri(text(&params.uri).unwrap_or_default(), false),
        _ => {
            let reference = params.reference.as_ref().ok_or(Refusal::InvalidParams {
                detail: "params.ref must be an object".to_owned(),
            })?;
            match reference.kind.and_then(message::decode_str).as_deref() {
                Some("ref/prompt") => by_name(Entry::Prompt, &reference.name),
                Some("ref/resource") => by_uri(text(&reference.uri).unwrap_or_default(), true),
                _ => Err(Refusal::InvalidParams {
                    detail: "params.ref.type must be \"ref/prompt\" or \"ref/resource\"".to_owned(),
                }),
            }
        }
    }
}

/// The server owning an exposed tool or prompt name, and its upstream
/// name: a listed name, else the longest prefix (the router's rule).
fn name_owner(servers: &[ServerRoute], entry: Entry, exposed: &str) -> Option<(String, String)> {
    let listed = servers.iter().find_map(|server| {
        let upstream = exposed.strip_prefix(server.prefix.as_str())?;
        server
            .entries(entry)
            .iter()
            .any(|n| n == upstream)
            .then(|| (server.name.clone(), upstream.to_owned()))
    });
    listed.or_else(|| {
        servers
            .iter()
            .filter(|s| !s.prefix.is_empty())
            .filter_map(|s| {
                let upstream = exposed.strip_prefix(s.prefix.as_str())?;
                (!upstream.is_empty())
                    .then(|| (s.prefix.len(), s.name.clone(), upstream.to_owned()))
            })
            .max_by_key(|(length, ..)| *length)
            .map(|(_, server, upstream)| (server, upstream))
    })
}

/// Forwards a modern client's call to `server` in the era it speaks: as
/// it is to a stateless-era upstream (with its credential), across the
/// bridge to a handshake-era one. The response body for the client.
///
/// # Errors
/// The upstream is not configured, cannot be reached, or refuses.
pub async fn forward(
    state: &AppState,
    server: &str,
    request_headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, Refusal> {
    let runtime = state.runtime.load_full();
    let spec = runtime
        .spec(server)
        .cloned()
        .ok_or_else(|| Refusal::ServerNotConfigured {
            server: server.to_owned(),
        })?;
    let era = state
        .catalog
        .current()
        .route_table
        .servers
        .iter()
        .find(|s| s.name == server)
        .map(|s| s.era)
        .unwrap_or_default();
    if era.speaks(Era::Modern) {
        return forward_modern(state, &spec, body).await;
    }
    let identity = identity_of(request_headers, runtime.config.identity_header());
    bridge::to_handshake::call(state, &spec, identity, body).await
}

/// A modern call to a stateless-era upstream, as it is; its response.
async fn forward_modern(
    state: &AppState,
    spec: &std::sync::Arc<crate::upstream::UpstreamSpec>,
    body: &[u8],
) -> Result<Vec<u8>, Refusal> {
    use futures::StreamExt;
    let unavailable = |detail: String| Refusal::UpstreamUnavailable {
        server: spec.name.clone(),
        detail,
    };
    let parsed = message::parse(body).map_err(Refusal::Malformed)?;
    let (method, name) = match &parsed.kind {
        MessageKind::Call { method, params } => {
            let name = match (params, modern::name_member(method)) {
                (Params::Object(p), Some("uri")) => p.uri.as_ref(),
                (Params::Object(p), Some(_)) => p.name.as_ref(),
                _ => None,
            };
            (
                method.to_string(),
                name.and_then(|f| message::decode_str(f.raw))
                    .map(|n| n.into_owned()),
            )
        }
        MessageKind::Response => {
            return Err(Refusal::InvalidMessage {
                detail: "a response".to_owned(),
            });
        }
    };
    let id = parsed.id.map(|id| id.get().to_owned()).unwrap_or_default();
    let connection = Connection::resume(
        &state.http,
        spec.clone(),
        None,
        mcp_protocol::versions::LATEST_MODERN.to_owned(),
    );
    let answer = connection
        .send_raw(
            Some(ModernHeaders {
                method: &method,
                name: name.as_deref(),
            }),
            body.to_vec(),
        )
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut messages = answer.messages;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| unavailable(e.to_string()))?;
        if Envelope::read(&message).is_some_and(|e| e.answers(&id)) {
            return Ok(message.into_bytes());
        }
    }
    Err(unavailable(format!(
        "HTTP {} without a response",
        answer.status
    )))
}
