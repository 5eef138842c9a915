//! Stateless-era requests (MCP 2026-07-28), routed from their headers.
//!
//! A modern request names its method and target in `Mcp-Method` and
//! `Mcp-Name`, so the route is chosen in the request-header phase and the
//! headers go on at once: no header pause, so the filter also routes where
//! Envoy cannot hold headers while it reads the body (Istio's
//! `WasmPlugin`). The body still decides: when it arrives, it must agree
//! with the headers (`mcp_protocol::modern::check_body`), and a prefixed
//! name is spliced into it. There is no session: nothing to look up.

use mcp_protocol::message::{self, MessageKind, Params};
use mcp_protocol::modern::{self, ModernHead};
use mcp_protocol::refusal::Refusal;
use mcp_protocol::splice::Splice;
use mcp_protocol::{methods, versions::Era};
use router_config::Entry;
use serde_json::value::RawValue;

use super::{HeadDecision, RequestHead, RouteKey, RoutedCall, resolve_name, resolve_uri};
use crate::table::RouteTable;

/// A stateless-era call routed from its headers.
#[derive(Debug, Clone)]
pub struct ModernCall {
    pub call: RoutedCall,
    /// The headers it was routed by, checked.
    pub version: String,
    pub method: String,
    pub name: String,
    /// The upstream's own name, when the prefix made it differ from
    /// `name`: `Mcp-Name` is rewritten now, the body's name when it comes.
    pub rename: Option<String>,
}

/// Decides on the headers of a modern POST.
pub(super) fn on_head(table: &RouteTable, head: &RequestHead<'_>) -> HeadDecision {
    let checked = match modern::check_headers(&ModernHead {
        version: head.protocol_version,
        method: head.mcp_method,
        name: head.mcp_name,
    }) {
        Ok(checked) => checked,
        Err(refusal) => return HeadDecision::Reject(refusal),
    };
    let Some(name) = checked.name.as_deref() else {
        return HeadDecision::ModernBroker {
            method: checked.method.to_owned(),
        };
    };
    if !super::is_header_safe_method(checked.method) {
        return HeadDecision::Reject(Refusal::InvalidMethodName);
    }
    let target = match checked.method {
        methods::TOOLS_CALL | methods::PROMPTS_GET => {
            let entry = if checked.method == methods::TOOLS_CALL {
                Entry::Tool
            } else {
                Entry::Prompt
            };
            resolve_name(table, entry, name).map(|(server_index, upstream)| {
                let rename = (upstream != name).then(|| upstream.clone());
                let key = if entry == Entry::Tool {
                    RouteKey::Tool(upstream)
                } else {
                    RouteKey::Prompt(upstream)
                };
                (server_index, key, rename)
            })
        }
        _ => resolve_uri(table, name, "Mcp-Name", false)
            .map(|server_index| (server_index, RouteKey::Resource(name.to_owned()), None)),
    };
    let (server_index, key, rename) = match target {
        Ok(target) => target,
        // The broker answers a name no server owns, echoing the request's
        // id, which the headers do not carry.
        Err(
            Refusal::UnknownTool { .. }
            | Refusal::UnknownPrompt { .. }
            | Refusal::UnknownResource { .. },
        ) => {
            return HeadDecision::ModernBroker {
                method: checked.method.to_owned(),
            };
        }
        Err(refusal) => return HeadDecision::Reject(refusal),
    };
    // A call the policy refuses goes to the broker, which refuses it by the
    // same rule with the request's id (the headers do not carry it).
    if let Some(server) = table.servers().get(server_index) {
        let (entry, upstream) = match &key {
            RouteKey::Tool(upstream) => (Entry::Tool, upstream.as_str()),
            RouteKey::Prompt(upstream) => (Entry::Prompt, upstream.as_str()),
            _ => (Entry::Resource, name),
        };
        match super::check_access(table, head, &server.name, entry, upstream, name) {
            Ok(()) => {}
            Err(Refusal::NotAllowed { .. }) => {
                return HeadDecision::ModernBroker {
                    method: checked.method.to_owned(),
                };
            }
            Err(refusal) => return HeadDecision::Reject(refusal),
        }
    }
    let bridged = table.servers().get(server_index).is_none_or(|s| {
        !s.era.speaks(Era::Modern) || s.credential_via_router || super::needs_approval(s, &key)
    });
    HeadDecision::Modern(ModernCall {
        call: RoutedCall {
            server_index,
            method: checked.method.to_owned(),
            key,
            splice: None,
            gateway_session: String::new(),
            id: None,
            era: Era::Modern,
            bridged,
        },
        version: checked.version.to_owned(),
        method: checked.method.to_owned(),
        name: name.to_owned(),
        rename,
    })
}

/// A modern call's body that agrees with its headers.
#[derive(Debug)]
pub struct CheckedBody {
    /// The request id, as the client wrote it.
    pub id: Box<RawValue>,
    /// The splice of the upstream name, when the prefix made it differ.
    pub splice: Option<Splice>,
}

/// A refusal of a body, and the id to echo when one could be read.
#[derive(Debug)]
pub struct BodyRefusal {
    pub refusal: Refusal,
    pub id: Option<Box<RawValue>>,
}

/// Checks a modern call's body against the headers it was routed by.
///
/// # Errors
/// The body does not parse, is a notification of a request method, or
/// disagrees with the headers.
pub fn on_modern_body(call: &ModernCall, body: &[u8]) -> Result<CheckedBody, BodyRefusal> {
    let message = message::parse(body).map_err(|failure| BodyRefusal {
        id: failure.id(),
        refusal: Refusal::Malformed(failure),
    })?;
    let id = message.id.map(RawValue::to_owned);
    let checked = modern::Checked {
        version: &call.version,
        method: &call.method,
        name: Some(std::borrow::Cow::Borrowed(call.name.as_str())),
    };
    modern::check_body(&checked, &message).map_err(|refusal| BodyRefusal {
        refusal,
        id: id.clone(),
    })?;
    let Some(id) = id else {
        return Err(BodyRefusal {
            refusal: Refusal::InvalidMessage {
                detail: format!("{} is a request and needs an \"id\"", call.method),
            },
            id: None,
        });
    };
    let splice = match (&call.rename, &message.kind) {
        (
            Some(upstream),
            MessageKind::Call {
                params: Params::Object(params),
                ..
            },
        ) => params
            .name
            .as_ref()
            .map(|field| Splice::new(field.span.clone(), upstream)),
        _ => None,
    };
    Ok(CheckedBody { id, splice })
}
