//! What to do with a request: the router's routing rules as pure functions.
//!
//! [`on_request_head`] runs when the request headers arrive; POSTs to the
//! MCP path are buffered and passed to [`on_request_body`]. See docs/architecture.md,
//! "The request path": `tools/call` goes to the tool's upstream, every other
//! message to the broker.

use std::borrow::Cow;

use mcp_protocol::identity::Identity;
use mcp_protocol::message::{self, MessageKind, Params, ParamsObject};
use mcp_protocol::{access, headers, methods, names, session_id, versions};
use serde_json::value::RawValue;

use crate::table::RouteTable;
use mcp_protocol::refusal::Refusal;
use mcp_protocol::splice::Splice;

/// The request headers the router reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHead<'h> {
    /// `:method`
    pub method: &'h str,
    /// `:path`, query included.
    pub path: &'h str,
    /// `mcp-session-id`
    pub session_id: Option<&'h str>,
    /// `mcp-protocol-version`
    pub protocol_version: Option<&'h str>,
    /// `content-length`
    pub content_length: Option<&'h str>,
    /// `:authority` (the `Host`).
    pub authority: &'h str,
    /// `origin`, sent by browsers.
    pub origin: Option<&'h str>,
    /// `authorization`, raw.
    pub authorization: Option<&'h [u8]>,
    /// The configured identity header (see `SessionSettings::identity_header`), raw.
    pub identity: Option<&'h [u8]>,
    /// Which client credential headers the request carries.
    pub credentials: CredentialHeaders,
}

impl RequestHead<'_> {
    /// Who the request comes from (`mcp_protocol::identity`).
    pub fn identity(&self) -> Identity<'_> {
        Identity::of_request(self.identity, self.authorization)
    }
}

/// A set of [`headers::CLIENT_CREDENTIALS`], by position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CredentialHeaders(u8);

impl CredentialHeaders {
    /// Notes header `name` (lower case) if it is a credential header.
    pub fn note(&mut self, name: &str) {
        if let Some(index) = headers::CLIENT_CREDENTIALS.iter().position(|h| *h == name) {
            self.0 |= 1 << index;
        }
    }

    /// The credential headers present, in [`headers::CLIENT_CREDENTIALS`] order.
    pub fn present(self) -> impl Iterator<Item = &'static str> {
        headers::CLIENT_CREDENTIALS
            .iter()
            .enumerate()
            .filter(move |(index, _)| self.0 & (1 << index) != 0)
            .map(|(_, name)| *name)
    }
}

/// Decision taken on the request headers.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadDecision {
    /// Not the MCP endpoint: pass untouched.
    NotMcp,
    /// GET (SSE stream), DELETE (end session) and other non-POST methods:
    /// the broker's, unchanged.
    Broker,
    /// A POST to the MCP endpoint: buffer the body and decide on it.
    ReadBody,
    /// Refuse now.
    Reject(Refusal),
}

/// Decision taken on a complete POST body.
#[derive(Debug)]
pub enum BodyDecision<'b> {
    /// Pass to the broker with `x-mcp-method: method_label`.
    Broker { method_label: Cow<'b, str> },
    /// Route a `tools/call` to its upstream.
    Route(RoutedCall),
    /// Answer with an error, echoing `id` when the request had one.
    Reject {
        refusal: Refusal,
        id: Option<Box<RawValue>>,
    },
}

/// A `tools/call` bound for an upstream.
#[derive(Debug, Clone)]
pub struct RoutedCall {
    /// Index of the owning server in the route table.
    pub server_index: usize,
    /// The tool's upstream name (`x-mcp-toolname`).
    pub upstream_name: String,
    /// The body rewrite, when the upstream name differs from the exposed one.
    pub splice: Option<Splice>,
    /// The gateway session the call belongs to.
    pub gateway_session: String,
    /// The request id as the client wrote it, for error replies.
    pub id: Box<RawValue>,
}

/// Decides on the request headers.
pub fn on_request_head(table: &RouteTable, head: &RequestHead<'_>) -> HeadDecision {
    let path = head
        .path
        .split_once('?')
        .map_or(head.path, |(path, _)| path);
    if path != table.mcp_path() {
        return HeadDecision::NotMcp;
    }
    let rules = &table.config().access;
    if !access::origin_allowed(head.origin, &rules.allowed_origins) {
        return HeadDecision::Reject(Refusal::OriginNotAllowed {
            origin: shortened(head.origin.unwrap_or_default()),
        });
    }
    if !access::host_allowed(head.authority, &rules.allowed_hosts) {
        return HeadDecision::Reject(Refusal::HostNotAllowed {
            host: shortened(head.authority),
        });
    }
    if let Some(id) = head.session_id
        && !session_id::is_valid(id.as_bytes())
    {
        return HeadDecision::Reject(Refusal::MalformedSession);
    }
    if !head.method.eq_ignore_ascii_case("POST") {
        return HeadDecision::Broker;
    }
    if let Some(length) = head
        .content_length
        .and_then(|v| v.trim().parse::<u64>().ok())
        && length > table.max_body_bytes() as u64
    {
        return HeadDecision::Reject(Refusal::BodyTooLarge {
            limit: table.max_body_bytes(),
        });
    }
    HeadDecision::ReadBody
}

/// Decides on a complete POST body (already known to be within the limit).
pub fn on_request_body<'b>(
    table: &RouteTable,
    head: &RequestHead<'_>,
    body: &'b [u8],
) -> BodyDecision<'b> {
    let reject = |refusal, id: Option<&RawValue>| BodyDecision::Reject {
        refusal,
        id: id.map(RawValue::to_owned),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return reject(Refusal::EmptyBody, None);
    }
    let message = match message::parse(body) {
        Ok(message) => message,
        Err(failure) => {
            return BodyDecision::Reject {
                id: failure.id(),
                refusal: Refusal::Malformed(failure),
            };
        }
    };
    let (method, params) = match message.kind {
        MessageKind::Response => {
            return BodyDecision::Broker {
                method_label: Cow::Borrowed(methods::RESPONSE_LABEL),
            };
        }
        MessageKind::Call { method, params } => (method, params),
    };
    if !is_header_safe_method(&method) {
        return reject(Refusal::InvalidMethodName, message.id);
    }
    if method != methods::TOOLS_CALL {
        return BodyDecision::Broker {
            method_label: method,
        };
    }

    // tools/call
    let Some(id) = message.id else {
        return reject(
            Refusal::InvalidMessage {
                detail: "tools/call is a request and needs an \"id\"".to_owned(),
            },
            None,
        );
    };
    let Some(gateway_session) = head.session_id else {
        return reject(Refusal::MissingSession, Some(id));
    };
    if let Some(version) = head.protocol_version
        && !versions::is_supported(version)
    {
        return reject(
            Refusal::UnsupportedProtocolVersion {
                version: version.to_owned(),
            },
            Some(id),
        );
    }
    let name_field = match params {
        Params::Object(ParamsObject {
            name: Some(name_field),
            ..
        }) => name_field,
        _ => {
            return reject(
                Refusal::InvalidParams {
                    detail: "tools/call needs params.name".to_owned(),
                },
                Some(id),
            );
        }
    };
    let Some(exposed) = message::decode_str(name_field.raw) else {
        return reject(
            Refusal::InvalidParams {
                detail: "params.name must be a string".to_owned(),
            },
            Some(id),
        );
    };
    if !names::is_routable_tool_name(&exposed) {
        return reject(
            Refusal::InvalidParams {
                detail: format!(
                    "a tool name is 1 to {} bytes without control characters",
                    names::MAX_TOOL_NAME_LEN
                ),
            },
            Some(id),
        );
    }
    let Some(route) = table.lookup(&exposed) else {
        return reject(
            Refusal::UnknownTool {
                name: exposed.into_owned(),
            },
            Some(id),
        );
    };
    let splice = (route.upstream_name != exposed)
        .then(|| Splice::new(name_field.span.clone(), route.upstream_name));
    BodyDecision::Route(RoutedCall {
        server_index: route.server_index,
        upstream_name: route.upstream_name.to_owned(),
        splice,
        gateway_session: gateway_session.to_owned(),
        id: id.to_owned(),
    })
}

/// Client text echoed in an error message, cut to 128 characters.
fn shortened(text: &str) -> String {
    text.chars().take(128).collect()
}

/// Method names are copied into `x-mcp-method`: 1 to 128 visible ASCII
/// characters (every MCP method name is).
fn is_header_safe_method(method: &str) -> bool {
    !method.is_empty() && method.len() <= 128 && method.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests;
