//! The stateless era (MCP 2026-07-28): the request metadata a modern
//! request carries in its headers and in `params._meta`, and the one set of
//! checks that holds a request to them, for router and broker alike.
//!
//! Every modern POST names its protocol version (`MCP-Protocol-Version`),
//! its method (`Mcp-Method`) and, for `tools/call`, `prompts/get` and
//! `resources/read`, its target (`Mcp-Name`), so an intermediary can route
//! from headers alone; the body must then agree with them ("Streamable HTTP
//! › Standard Request Headers", "Server Validation"). The body's
//! `params._meta` carries the protocol version and client capabilities
//! ("Base Protocol › Per-request protocol fields").

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

use crate::message::{self, Message, MessageKind, Params};
use crate::refusal::Refusal;
use crate::versions;

/// `params._meta` key of the request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `params._meta` key of the client's capabilities.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `params._meta` key of the client's name and version.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `params._meta` key of the logging level a request asks for.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key that ties a notification to its `subscriptions/listen`.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Result `_meta` key of the server's name and version.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `Mcp-Method`: the request's method.
pub const MCP_METHOD: &str = "mcp-method";
/// `Mcp-Name`: the request's tool, prompt or resource.
pub const MCP_NAME: &str = "mcp-name";
/// `Mcp-Param-{Name}`: a tool argument its schema mirrors into a header.
pub const MCP_PARAM_PREFIX: &str = "mcp-param-";

/// `server/discover`: what the server speaks and offers.
pub const SERVER_DISCOVER: &str = "server/discover";
/// `subscriptions/listen`: the one long-lived stream of notifications.
pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
/// The first message of a listen stream.
pub const NOTIFICATION_SUBSCRIPTIONS_ACKNOWLEDGED: &str =
    "notifications/subscriptions/acknowledged";

/// The body member `Mcp-Name` mirrors for `method`, if it takes one.
pub fn name_member(method: &str) -> Option<&'static str> {
    match method {
        crate::methods::TOOLS_CALL | crate::methods::PROMPTS_GET => Some("name"),
        crate::methods::RESOURCES_READ => Some("uri"),
        _ => None,
    }
}

const SENTINEL_START: &str = "=?base64?";
const SENTINEL_END: &str = "?=";

/// A header value as its sender meant it: the value itself, or the UTF-8
/// text inside the `=?base64?…?=` form ("Value Encoding": standard base64,
/// case-sensitive markers). `None` for a malformed or non-canonical form,
/// so a corrupt header never matches a body value by accident.
pub fn decode_header_value(value: &str) -> Option<Cow<'_, str>> {
    let Some(payload) = value
        .strip_prefix(SENTINEL_START)
        .and_then(|v| v.strip_suffix(SENTINEL_END))
    else {
        return Some(Cow::Borrowed(value));
    };
    let bytes = STANDARD.decode(payload).ok()?;
    if STANDARD.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// `value` as a header value: as it is when it is visible ASCII (spaces
/// inside) without edge whitespace and does not look like the encoded
/// form, else `=?base64?…?=`.
pub fn encode_header_value(value: &str) -> Cow<'_, str> {
    let plain = value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && value.trim() == value
        && !(value.starts_with(SENTINEL_START) && value.ends_with(SENTINEL_END));
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!(
            "{SENTINEL_START}{}{SENTINEL_END}",
            STANDARD.encode(value.as_bytes())
        ))
    }
}

/// The request metadata headers of a modern request, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModernHead<'h> {
    /// `MCP-Protocol-Version`.
    pub version: Option<&'h str>,
    /// `Mcp-Method`.
    pub method: Option<&'h str>,
    /// `Mcp-Name`, as sent (possibly in the encoded form).
    pub name: Option<&'h str>,
}

/// What the headers of a modern request say, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked<'h> {
    pub version: &'h str,
    pub method: &'h str,
    /// The decoded `Mcp-Name`, for the methods that take one.
    pub name: Option<Cow<'h, str>>,
}

/// Checks the headers alone, as the router does before the body arrives.
///
/// # Errors
/// [`Refusal::UnsupportedProtocolVersion`] for a version the gateway does
/// not speak; [`Refusal::HeaderMismatch`] for a missing `Mcp-Method`, or a
/// missing or undecodable `Mcp-Name` on a method that takes one.
pub fn check_headers<'h>(head: &ModernHead<'h>) -> Result<Checked<'h>, Refusal> {
    let mismatch = |detail: &str| Refusal::HeaderMismatch {
        detail: detail.to_owned(),
    };
    let version = head
        .version
        .ok_or_else(|| mismatch("the MCP-Protocol-Version header is required"))?;
    if !versions::is_modern(version) {
        return Err(Refusal::UnsupportedProtocolVersion {
            version: version.to_owned(),
        });
    }
    let method = head
        .method
        .filter(|m| !m.is_empty())
        .ok_or_else(|| mismatch("the Mcp-Method header is required"))?;
    let name = match name_member(method) {
        None => None,
        Some(_) => {
            let raw = head.name.ok_or_else(|| {
                mismatch(&format!("the Mcp-Name header is required for {method}"))
            })?;
            Some(decode_header_value(raw).ok_or_else(|| {
                mismatch("the Mcp-Name header holds a malformed =?base64?...?= value")
            })?)
        }
    };
    Ok(Checked {
        version,
        method,
        name,
    })
}

/// Checks the body against checked headers: `params._meta` carries the
/// protocol version (equal to the header's) and the client capabilities,
/// and the method and name agree with `Mcp-Method` and `Mcp-Name`.
///
/// # Errors
/// [`Refusal::MissingRequestMeta`] when `_meta` or one of its required
/// keys is absent; [`Refusal::HeaderMismatch`] when the body disagrees
/// with a header.
pub fn check_body(checked: &Checked<'_>, message: &Message<'_>) -> Result<(), Refusal> {
    let mismatch = |detail: String| Refusal::HeaderMismatch { detail };
    let MessageKind::Call { method, params } = &message.kind else {
        return Err(Refusal::InvalidMessage {
            detail: "a stateless-era client sends requests and notifications, not responses"
                .to_owned(),
        });
    };
    let object = match params {
        Params::Object(object) => Some(object),
        _ => None,
    };
    let meta = object.and_then(|o| o.meta.as_ref());
    let version = request_meta(meta.map(|m| m.raw))?;
    if version != checked.version {
        return Err(mismatch(format!(
            "MCP-Protocol-Version header {:?} does not match params._meta's {version:?}",
            checked.version
        )));
    }
    if method.as_ref() != checked.method {
        return Err(mismatch(format!(
            "Mcp-Method header {:?} does not match the body's method {method:?}",
            checked.method
        )));
    }
    if let (Some(name), Some(member)) = (&checked.name, name_member(method)) {
        let field = object.and_then(|o| {
            if member == "uri" {
                o.uri.as_ref()
            } else {
                o.name.as_ref()
            }
        });
        let body = field.and_then(|f| message::decode_str(f.raw));
        if body.as_deref() != Some(name.as_ref()) {
            return Err(mismatch(format!(
                "Mcp-Name header {name:?} does not match the body's params.{member}"
            )));
        }
    }
    Ok(())
}

/// The protocol version of `params._meta`, once it is known to carry the
/// required keys.
///
/// # Errors
/// [`Refusal::MissingRequestMeta`] naming what is missing.
pub fn request_meta(meta: Option<&RawValue>) -> Result<String, Refusal> {
    let missing = |detail: String| Refusal::MissingRequestMeta { detail };
    let meta = meta.ok_or_else(|| {
        missing(format!(
            "params._meta must be an object carrying {META_PROTOCOL_VERSION:?} and {META_CLIENT_CAPABILITIES:?}"
        ))
    })?;
    let [version, capabilities] = crate::members::probe(
        meta.get(),
        [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES],
    )
    .map_err(|_| missing("params._meta must be an object".to_owned()))?;
    let absent: Vec<&str> = [
        (META_PROTOCOL_VERSION, version.is_none()),
        (META_CLIENT_CAPABILITIES, capabilities.is_none()),
    ]
    .into_iter()
    .filter_map(|(key, absent)| absent.then_some(key))
    .collect();
    if !absent.is_empty() {
        return Err(missing(format!(
            "params._meta is missing {}",
            absent.join(" and ")
        )));
    }
    version
        .and_then(|v| v.as_str())
        .map(Cow::into_owned)
        .ok_or_else(|| missing(format!("{META_PROTOCOL_VERSION} must be a string")))
}

#[cfg(test)]
mod tests;
