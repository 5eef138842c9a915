//! Every way the gateway refuses a request, router and broker alike, and
//! the one mapping from a refusal to an HTTP status, a JSON-RPC error code
//! and its message: the same refusal reads the same wherever it is made.
//!
//! Status rule: a body that is not an acceptable JSON-RPC message, or a
//! request the transport forbids, gets a 4xx (MCP 2025-11-25 "Transports ›
//! Streamable HTTP"); a well-formed request that cannot be carried out
//! (unknown tool, upstream down) gets `200` with a JSON-RPC error response,
//! exactly as an MCP server answers it, so every client SDK surfaces the
//! message to its caller.

use serde_json::value::RawValue;

use crate::message::ParseFailure;
use crate::versions::Era;
use crate::{ErrorCode, RpcError, versions};

/// Why the gateway answered a request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not UTF-8 JSON, a batch, or not a valid JSON-RPC message.
    Malformed(ParseFailure),
    /// A POST without a body.
    EmptyBody,
    /// A JSON-RPC message the router will not carry (e.g. a `tools/call`
    /// notification).
    InvalidMessage { detail: String },
    /// The body is larger than the configured limit.
    BodyTooLarge { limit: usize },
    /// A method name the router will not copy into a header.
    InvalidMethodName,
    /// Parameters the method cannot use (a `tools/call` without a usable
    /// `params.name`, a `resources/read` without `params.uri`, ...).
    InvalidParams { detail: String },
    /// No server owns this tool name.
    UnknownTool { name: String },
    /// No server owns this prompt name.
    UnknownPrompt { name: String },
    /// No server owns this resource URI (MCP "Resources › Error Handling":
    /// -32002).
    UnknownResource { uri: String },
    /// The gateway does not offer this method.
    MethodNotFound { method: String },
    /// A request the broker serves only to the gateway's Envoy.
    NotFromGateway,
    /// A `GET` that does not accept an event stream.
    NotAcceptable,
    /// A request that needs a session came without `Mcp-Session-Id`.
    MissingSession,
    /// `Mcp-Session-Id` is not 1 to 256 visible ASCII characters.
    MalformedSession,
    /// `MCP-Protocol-Version` names a version the gateway does not speak.
    UnsupportedProtocolVersion { version: String },
    /// The broker does not know the gateway session (unknown, expired, ended).
    SessionNotFound,
    /// The gateway session was opened by another identity (MCP "Security
    /// Best Practices › Session Hijacking").
    SessionOfAnotherIdentity,
    /// A browser `Origin` the gateway does not serve (DNS rebinding guard).
    OriginNotAllowed { origin: String },
    /// A `Host` the gateway does not serve (DNS rebinding guard).
    HostNotAllowed { host: String },
    /// The upstream could not be reached, or its session could not be made.
    UpstreamUnavailable { server: String, detail: String },
    /// A bug in the router; logged where it happens.
    Internal { detail: String },
    /// The upstream no longer knew its session; the mapping was reset and a
    /// retry will open a new one.
    UpstreamSessionLost { server: String },
    /// A method the router routes reached the broker (a client calling the
    /// broker directly, or a router too old to know the method).
    RoutedByFilter { method: String },
    /// A list `cursor` the gateway did not issue (it serves each aggregated
    /// list in one page; MCP "Pagination": invalid cursors get -32602).
    InvalidCursor,
    /// A broker-internal request (session API, table report) it cannot read.
    BadInternalRequest { detail: String },
    /// The session API was asked for a server the broker does not know.
    ServerNotConfigured { server: String },
    /// The upstream handshake of the session API failed.
    HandshakeFailed { detail: String },
    /// The session API refused a handshake: too many for this session.
    TooManyHandshakes { detail: String },
    /// The session API refused a handshake: the broker holds all the
    /// upstream sessions it may.
    AtCapacity { detail: String },
    /// The broker's session store (Redis) cannot be reached: the request
    /// fails rather than being served on records it cannot check.
    SessionStoreUnavailable { detail: String },
    /// A stateless-era request whose metadata headers are missing,
    /// malformed or disagree with its body (MCP 2026-07-28: -32020).
    HeaderMismatch { detail: String },
    /// A stateless-era request without the `params._meta` it must carry.
    MissingRequestMeta { detail: String },
    /// The request needs a client capability the client did not declare.
    MissingClientCapability { capability: String },
    /// `GET` or `DELETE` of a stateless-era request (there are no sessions
    /// and no standalone stream: `subscriptions/listen` replaced it).
    MethodNotAllowed,
    /// The caller's identity rules or its virtual server do not include
    /// the tool, prompt or resource it called (`what`, e.g. `tool "x"`).
    NotAllowed { what: String, reason: String },
    /// The request selected a virtual server that is not configured.
    UnknownVirtualServer { name: String },
    /// The verified-claims header could not be read (not base64url JSON).
    InvalidIdentity { detail: String },
    /// A call that needs the caller's approval was not approved (`outcome`:
    /// `declined`, `cancelled`).
    NotApproved { tool: String, outcome: String },
}

/// A response the router sends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    /// A JSON-RPC error response (`content-type: application/json`).
    pub body: Vec<u8>,
}

impl Refusal {
    /// The HTTP status this refusal travels with.
    pub fn status(&self) -> u32 {
        self.status_and_error().0
    }

    /// The JSON-RPC error of this refusal.
    pub fn error(&self) -> RpcError {
        self.status_and_error().1
    }

    /// HTTP status and JSON-RPC error for this refusal.
    pub fn status_and_error(&self) -> (u32, RpcError) {
        use Refusal::*;
        match self {
            Malformed(failure) => (400, failure.rpc_error()),
            EmptyBody => (
                400,
                RpcError::new(ErrorCode::ParseError, "Parse error: the POST body is empty"),
            ),
            InvalidMessage { detail } => (
                400,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    format!("Invalid Request: {detail}"),
                ),
            ),
            BodyTooLarge { limit } => (
                413,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Invalid Request: the body exceeds the gateway's limit of {limit} bytes"
                    ),
                ),
            ),
            InvalidMethodName => (
                400,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "Invalid Request: \"method\" must be 1 to 128 visible ASCII characters",
                ),
            ),
            InvalidParams { detail } => (
                200,
                RpcError::new(
                    ErrorCode::InvalidParams,
                    format!("Invalid params: {detail}"),
                ),
            ),
            UnknownTool { name } => (
                200,
                RpcError::new(ErrorCode::InvalidParams, format!("Unknown tool: {name}")),
            ),
            UnknownPrompt { name } => (
                200,
                RpcError::new(ErrorCode::InvalidParams, format!("Unknown prompt: {name}")),
            ),
            UnknownResource { uri } => (
                200,
                RpcError::new(
                    ErrorCode::ResourceNotFound,
                    format!("Resource not found: {uri}"),
                ),
            ),
            MethodNotFound { method } => (
                200,
                RpcError::new(
                    ErrorCode::MethodNotFound,
                    format!("Method not found: {method}"),
                ),
            ),
            NotFromGateway => (
                401,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "Unauthorized: the broker serves only the gateway's Envoy; send MCP requests to the gateway",
                ),
            ),
            NotAcceptable => (
                406,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "Not Acceptable: GET opens an SSE stream; send Accept: text/event-stream",
                ),
            ),
            MissingSession => (
                400,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "Bad Request: Mcp-Session-Id header is required; send initialize first",
                ),
            ),
            MalformedSession => (
                400,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "Bad Request: Mcp-Session-Id must be 1 to 256 visible ASCII characters",
                ),
            ),
            UnsupportedProtocolVersion { version } => (
                400,
                RpcError::new(
                    ErrorCode::UnsupportedProtocolVersion,
                    format!(
                        "Unsupported protocol version {version:?}; supported: {}",
                        versions::ALL.join(", ")
                    ),
                )
                .with_data(serde_json::json!({
                    "supported": versions::ALL,
                    "requested": version,
                })),
            ),
            SessionNotFound => (
                404,
                RpcError::new(
                    ErrorCode::SessionNotFound,
                    "Session not found: the gateway session is unknown or has ended; initialize a new one",
                ),
            ),
            SessionOfAnotherIdentity => (
                403,
                RpcError::new(
                    ErrorCode::Forbidden,
                    "Forbidden: this session was opened by another identity; initialize a session of your own",
                ),
            ),
            OriginNotAllowed { origin } => (
                403,
                RpcError::new(
                    ErrorCode::Forbidden,
                    format!("Forbidden: origin {origin:?} is not allowed (see allowedOrigins)"),
                ),
            ),
            HostNotAllowed { host } => (
                403,
                RpcError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "Forbidden: host {host:?} is not served by this gateway (see allowedHosts)"
                    ),
                ),
            ),
            UpstreamUnavailable { server, detail } => (
                200,
                RpcError::new(
                    ErrorCode::UpstreamUnavailable,
                    format!("Upstream server {server:?} is unavailable: {detail}"),
                ),
            ),
            Internal { detail } => (
                500,
                RpcError::new(
                    ErrorCode::InternalError,
                    format!("Internal error: {detail}"),
                ),
            ),
            UpstreamSessionLost { server } => (
                200,
                RpcError::new(
                    ErrorCode::UpstreamUnavailable,
                    format!(
                        "Upstream server {server:?} lost its session (it may have restarted); the gateway reset it, retry the request"
                    ),
                ),
            ),
            RoutedByFilter { method } => (
                200,
                RpcError::new(
                    ErrorCode::MethodNotFound,
                    format!(
                        "Method not found: {method} is routed by the mcp-router filter; send it to the gateway's Envoy listener"
                    ),
                ),
            ),
            InvalidCursor => (
                200,
                RpcError::new(
                    ErrorCode::InvalidParams,
                    "Invalid params: unknown cursor; the gateway lists everything in one page",
                ),
            ),
            BadInternalRequest { detail } => (
                400,
                RpcError::new(ErrorCode::InvalidRequest, format!("Bad Request: {detail}")),
            ),
            ServerNotConfigured { server } => (
                502,
                RpcError::new(
                    ErrorCode::UpstreamUnavailable,
                    format!("Upstream server {server:?} is not configured"),
                ),
            ),
            HandshakeFailed { detail } => (
                502,
                RpcError::new(ErrorCode::UpstreamUnavailable, detail.clone()),
            ),
            TooManyHandshakes { detail } => (
                429,
                RpcError::new(ErrorCode::UpstreamUnavailable, detail.clone()),
            ),
            AtCapacity { detail } => (
                503,
                RpcError::new(ErrorCode::UpstreamUnavailable, detail.clone()),
            ),
            SessionStoreUnavailable { detail } => (
                503,
                RpcError::new(
                    ErrorCode::InternalError,
                    format!("The gateway's session store is unavailable: {detail}"),
                ),
            ),
            HeaderMismatch { detail } => (
                400,
                RpcError::new(
                    ErrorCode::HeaderMismatch,
                    format!("Header mismatch: {detail}"),
                ),
            ),
            MissingRequestMeta { detail } => (
                400,
                RpcError::new(
                    ErrorCode::InvalidParams,
                    format!("Invalid params: {detail}"),
                ),
            ),
            MissingClientCapability { capability } => (
                400,
                RpcError::new(
                    ErrorCode::MissingRequiredClientCapability,
                    format!("The upstream server needs the {capability} client capability for this request; declare it in params._meta"),
                )
                .with_data(serde_json::json!({ "requiredCapabilities": { capability.as_str(): {} } })),
            ),
            NotAllowed { what, reason } => (
                200,
                RpcError::new(
                    ErrorCode::Forbidden,
                    format!("Forbidden: {what} is not allowed: {reason}"),
                ),
            ),
            NotApproved { tool, outcome } => (
                200,
                RpcError::new(
                    ErrorCode::Forbidden,
                    format!("Forbidden: the call of tool {tool:?} needs approval and was not approved ({outcome}); it was not sent"),
                ),
            ),
            UnknownVirtualServer { name } => (
                404,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    format!("Not found: no virtual server {name:?} on this gateway"),
                ),
            ),
            InvalidIdentity { detail } => (
                403,
                RpcError::new(
                    ErrorCode::Forbidden,
                    format!("Forbidden: the caller's identity cannot be read: {detail}"),
                ),
            ),
            MethodNotAllowed => (
                405,
                RpcError::new(
                    ErrorCode::InvalidRequest,
                    "Method Not Allowed: a stateless-era (2026-07-28) client sends POST only; subscriptions/listen replaces the GET stream",
                ),
            ),
        }
    }

    /// The complete local reply, echoing the request's raw `id` if known.
    pub fn reply(&self, id: Option<&RawValue>) -> LocalReply {
        let (status, error) = self.status_and_error();
        LocalReply {
            status,
            body: error.to_response_body(id),
        }
    }

    /// The HTTP status and JSON-RPC error of this refusal to a request of
    /// `era`. The stateless era (MCP 2026-07-28) answers a request that
    /// cannot be carried out with the status its code implies (`-32602`:
    /// 400, `-32601`: 404, as its "Streamable HTTP" section and the official
    /// SDKs do), and an unknown resource with `-32602` (its changelog:
    /// `-32002` is no longer emitted).
    pub fn status_and_error_in(&self, era: Era) -> (u32, RpcError) {
        let (status, mut error) = self.status_and_error();
        if era == Era::Handshake {
            return (status, error);
        }
        if error.code == ErrorCode::ResourceNotFound {
            error.code = ErrorCode::InvalidParams;
        }
        let status = match (status, error.code) {
            (200, ErrorCode::InvalidParams | ErrorCode::InvalidRequest) => 400,
            (200, ErrorCode::MethodNotFound) => 404,
            (status, _) => status,
        };
        (status, error)
    }

    /// [`Refusal::reply`] for a request of `era`.
    pub fn reply_in(&self, era: Era, id: Option<&RawValue>) -> LocalReply {
        let (status, error) = self.status_and_error_in(era);
        LocalReply {
            status,
            body: error.to_response_body(id),
        }
    }

    /// A short, stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        use Refusal::*;
        match self {
            Malformed(ParseFailure::NotJson { .. }) | EmptyBody => "parse_error",
            Malformed(ParseFailure::Batch) => "batch",
            Malformed(ParseFailure::Invalid { .. }) => "invalid_request",
            InvalidMessage { .. } | InvalidMethodName => "invalid_request",
            BodyTooLarge { .. } => "body_too_large",
            InvalidParams { .. } => "invalid_params",
            UnknownTool { .. } => "unknown_tool",
            UnknownPrompt { .. } => "unknown_prompt",
            UnknownResource { .. } => "unknown_resource",
            MethodNotFound { .. } => "method_not_found",
            NotFromGateway => "not_from_gateway",
            NotAcceptable => "not_acceptable",
            MissingSession | MalformedSession => "bad_session_header",
            UnsupportedProtocolVersion { .. } => "unsupported_protocol_version",
            SessionNotFound => "session_not_found",
            SessionOfAnotherIdentity => "session_of_another_identity",
            OriginNotAllowed { .. } => "origin_not_allowed",
            HostNotAllowed { .. } => "host_not_allowed",
            UpstreamUnavailable { .. } => "upstream_unavailable",
            UpstreamSessionLost { .. } => "upstream_session_lost",
            Internal { .. } => "internal",
            RoutedByFilter { .. } => "routed_by_filter",
            InvalidCursor => "invalid_cursor",
            BadInternalRequest { .. } => "bad_internal_request",
            ServerNotConfigured { .. } => "server_not_configured",
            HandshakeFailed { .. } => "handshake_failed",
            TooManyHandshakes { .. } => "too_many_handshakes",
            AtCapacity { .. } => "at_capacity",
            SessionStoreUnavailable { .. } => "session_store_unavailable",
            HeaderMismatch { .. } => "header_mismatch",
            MissingRequestMeta { .. } => "missing_request_meta",
            MissingClientCapability { .. } => "missing_client_capability",
            MethodNotAllowed => "method_not_allowed",
            NotAllowed { .. } => "not_allowed",
            UnknownVirtualServer { .. } => "unknown_virtual_server",
            InvalidIdentity { .. } => "invalid_identity",
            NotApproved { .. } => "not_approved",
        }
    }
}
