//! HTTP header names. All lower case: HTTP/2 and Envoy's header maps use
//! lower-case names, and HTTP/1 names are case-insensitive (RFC 9110 §5.1).

/// Session header of the Streamable HTTP transport (MCP 2025-03-26 and
/// later, "Session Management").
pub const SESSION_ID: &str = "mcp-session-id";
/// Negotiated protocol version, sent by clients on every request after
/// `initialize` (MCP 2025-06-18 and later, "Protocol Version Header").
pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Every header the router sets starts with this prefix; the router removes
/// client-sent headers with it before setting its own, so that policies
/// downstream can trust them.
pub const ROUTER_PREFIX: &str = "x-mcp-";
/// The JSON-RPC method of the request (`tools/call`, `initialize`, ...).
pub const X_MCP_METHOD: &str = "x-mcp-method";
/// The name of the upstream server a request was routed to.
pub const X_MCP_SERVERNAME: &str = "x-mcp-servername";
/// The tool name as the upstream knows it (without the gateway prefix).
pub const X_MCP_TOOLNAME: &str = "x-mcp-toolname";
/// The prompt name as the upstream knows it (`prompts/get`, and
/// `completion/complete` of a prompt reference).
pub const X_MCP_PROMPTNAME: &str = "x-mcp-promptname";
/// The resource URI (or template) a request is about (`resources/read`,
/// `resources/subscribe`, `resources/unsubscribe`, and `completion/complete`
/// of a resource reference); bytes outside visible ASCII percent-encoded
/// ([`crate::names::header_safe_uri`]).
pub const X_MCP_RESOURCEURI: &str = "x-mcp-resourceuri";
/// The Envoy cluster of the upstream, for `cluster_header` routing.
pub const X_MCP_CLUSTER: &str = "x-mcp-cluster";

/// The id of the route table the router has in force, sent with list
/// requests it passes to the broker: the broker answers from the catalogue
/// of that very table, so a list never names a tool that Envoy cannot route.
pub const X_MCP_ROUTE_TABLE: &str = "x-mcp-route-table";

/// The gateway session id, sent by the router to the broker's session API.
pub const X_MCP_GATEWAY_SESSION: &str = "x-mcp-gateway-session";

/// Set by the router on a call it sends to the broker because it has no
/// upstream session for it (`router_config::session_api`, "The first
/// call"): the broker opens the upstream session, forwards the call and
/// returns the session in [`X_MCP_UPSTREAM_SESSION`]. Its value is the
/// upstream session id the upstream no longer knew (it is replaced), or
/// `-` for none. Only the router sets it: it strips every client `x-mcp-*`.
pub const X_MCP_FIRST_CALL: &str = "x-mcp-first-call";

/// The broker's answer to a [`X_MCP_FIRST_CALL`]: the upstream session it
/// opened, as `router_config::session_api::UpstreamSessionResponse` JSON,
/// on the response that carries the upstream's answer. The router caches
/// it and removes the header: it may hold the upstream's credential.
pub const X_MCP_UPSTREAM_SESSION: &str = "x-mcp-upstream-session";

/// The shared secret that proves a request to the broker comes from the
/// gateway's Envoy: Envoy adds it to every request on the broker cluster
/// (an upstream `credential_injector` filter, overwriting any copy), and the
/// broker refuses requests without it. Neither clients nor the router
/// filter ever hold it.
pub const X_MCP_GATEWAY_TOKEN: &str = "x-mcp-gateway-token";

/// The virtual server a request goes through (Kuadrant's header). A client
/// may send it; the router reads it (or the path `{mcpPath}/{name}`),
/// checks the name, strips the client's copy as it does every `x-mcp-*`
/// header, and sets it again on what it passes to the broker.
pub const X_MCP_VIRTUALSERVER: &str = "x-mcp-virtualserver";

/// Kuadrant's trusted header: an ES256 JWT of the caller's allowed
/// capabilities, set by the policy layer in front of the gateway
/// (`router_config::policy::authorized`). Kept on what goes to the broker
/// (it checks lists with it), removed from routed calls.
pub const X_MCP_AUTHORIZED: &str = "x-mcp-authorized";

/// `Authorization` (RFC 9110 §11.6.2).
pub const AUTHORIZATION: &str = "authorization";
/// `Origin` (RFC 6454 §7), sent by browsers.
pub const ORIGIN: &str = "origin";
/// The HTTP/2 pseudo-header Envoy uses for `Host` (RFC 9113 §8.3.1).
pub const AUTHORITY: &str = ":authority";

/// Client request headers that carry credentials. A routed call drops each
/// of them unless the upstream server opts in (`forwardAuthorization`,
/// `forwardHeaders`): MCP forbids passing the client's token through to
/// upstreams (MCP 2025-06-18, "Security Best Practices › Token
/// Passthrough"), and cookies and API keys are credentials too.
pub const CLIENT_CREDENTIALS: &[&str] = &[
    AUTHORIZATION,
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];
