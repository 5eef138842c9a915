//! What to do with a request: the router's routing rules as pure functions.
//!
//! [`on_request_head`] runs when the request headers arrive; POSTs to the
//! MCP path are buffered and passed to [`on_request_body`]. See docs/architecture.md,
//! "The request path": calls about one tool, prompt or resource (and
//! answers to requests an upstream relayed) go to their upstream, every
//! other message to the broker.

use std::borrow::Cow;

use mcp_protocol::identity::Identity;
use mcp_protocol::message::{self, MessageKind, NameField, Params, ParamsObject};
use mcp_protocol::versions::Era;
use mcp_protocol::{access, headers, methods, names, relay_id, session_id, versions};

mod modern;
pub use modern::{BodyRefusal, CheckedBody, ModernCall, on_modern_body};
use router_config::Entry;
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
    /// `mcp-method` (stateless era).
    pub mcp_method: Option<&'h str>,
    /// `mcp-name` (stateless era), as sent.
    pub mcp_name: Option<&'h str>,
    /// `x-mcp-virtualserver`, as the client sent it.
    pub virtual_server: Option<&'h str>,
    /// The policy's claims header (the verified JWT payload), raw.
    pub claims: Option<&'h [u8]>,
    /// `x-mcp-authorized` (Kuadrant's signed capabilities), raw.
    pub authorized: Option<&'h [u8]>,
    /// The host's clock when the headers arrived, Unix seconds (0: none).
    pub now: u64,
}

impl<'h> RequestHead<'h> {
    /// Who the request comes from (`mcp_protocol::identity`).
    pub fn identity(&self) -> Identity<'_> {
        Identity::of_request(self.identity, self.authorization)
    }

    /// The era the request says it belongs to (a version the gateway does
    /// not speak reads as the stateless era's: that is how its refusal is
    /// worded).
    pub fn era(&self) -> Era {
        versions::era_of(self.protocol_version).unwrap_or(Era::Modern)
    }

    /// The path without its query.
    pub fn path_only(&self) -> &'h str {
        self.path
            .split_once('?')
            .map_or(self.path, |(path, _)| path)
    }

    /// The MCP endpoint the request is for: `Some(None)` the gateway's
    /// own, `Some(Some(name))` the virtual server `name` (selected by the
    /// path `{mcp_path}/{name}`, which wins, or by `x-mcp-virtualserver`),
    /// `None` not the MCP endpoint. Virtual server paths are recognised
    /// only when the table has virtual servers.
    pub fn endpoint(&self, table: &RouteTable) -> Option<Option<&'h str>> {
        let path = self.path_only();
        let mcp_path = table.mcp_path();
        if path == mcp_path {
            return Some(self.virtual_server.filter(|v| !v.is_empty()));
        }
        if table.config().policy.virtual_servers.is_empty() {
            return None;
        }
        path.strip_prefix(mcp_path)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| !name.is_empty())
            .map(Some)
    }

    /// Whether the request selected its virtual server by path.
    pub fn virtual_server_by_path(&self, table: &RouteTable) -> bool {
        self.path_only() != table.mcp_path()
    }
}

/// Whether the request may call the entry of kind `entry` of `server`
/// (upstream name `upstream`, exposed as `exposed`): the table's policy,
/// read for this request's claims and virtual server.
///
/// # Errors
/// The policy's refusal ([`Refusal::NotAllowed`], or the claims header
/// unreadable).
pub fn check_access(
    table: &RouteTable,
    head: &RequestHead<'_>,
    server: &str,
    entry: Entry,
    upstream: &str,
    exposed: &str,
) -> Result<(), Refusal> {
    let policy = &table.config().policy;
    if !policy.is_active() {
        return Ok(());
    }
    let virtual_server = head.endpoint(table).flatten();
    let caller = table.caller(head.claims)?;
    let authorized = table.authorized(head.authorized, head.now)?;
    policy
        .access(caller, authorized, virtual_server)?
        .check(server, entry, upstream, exposed)
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
#[derive(Debug)]
pub enum HeadDecision {
    /// Not the MCP endpoint: pass untouched.
    NotMcp,
    /// GET (SSE stream), DELETE (end session) and other non-POST methods:
    /// the broker's, unchanged.
    Broker,
    /// A POST to the MCP endpoint: buffer the body and decide on it.
    ReadBody,
    /// A stateless-era call routed from its headers: let the headers go
    /// now, then check and splice the body ([`on_modern_body`]).
    Modern(ModernCall),
    /// A stateless-era request for the broker (lists, `server/discover`,
    /// `subscriptions/listen`, ...), labelled with its `Mcp-Method`; the
    /// broker checks its body.
    ModernBroker { method: String },
    /// Refuse now.
    Reject(Refusal),
}

/// Decision taken on a complete POST body.
#[derive(Debug)]
pub enum BodyDecision<'b> {
    /// Pass to the broker with `x-mcp-method: method_label`.
    Broker { method_label: Cow<'b, str> },
    /// Route to an upstream.
    Route(RoutedCall),
    /// Answer with an error, echoing `id` when the request had one.
    Reject {
        refusal: Refusal,
        id: Option<Box<RawValue>>,
    },
}

/// What a routed message is routed by, and the header that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// A tool's upstream name (`x-mcp-toolname`).
    Tool(String),
    /// A prompt's upstream name (`x-mcp-promptname`).
    Prompt(String),
    /// A resource URI or template (`x-mcp-resourceuri`).
    Resource(String),
    /// The client's answer to a request the upstream relayed to it.
    Answer,
}

/// A message bound for an upstream.
#[derive(Debug, Clone)]
pub struct RoutedCall {
    /// Index of the owning server in the route table.
    pub server_index: usize,
    /// The JSON-RPC method (`x-mcp-method`), or
    /// [`methods::RESPONSE_LABEL`] for an answer.
    pub method: String,
    pub key: RouteKey,
    /// The body rewrite: the upstream name of a prefixed name, or the
    /// upstream's own id of an answer.
    pub splice: Option<Splice>,
    /// The gateway session the call belongs to.
    pub gateway_session: String,
    /// The request id as the client wrote it, for error replies (`None`
    /// for answers, which are not requests).
    pub id: Option<Box<RawValue>>,
    /// The client's era: a stateless-era call has no session to look up.
    pub era: Era,
    /// The server does not speak the client's era (or needs a credential
    /// only the broker holds): the call goes to the broker, which bridges.
    pub bridged: bool,
}

/// Decides on the request headers.
pub fn on_request_head(table: &RouteTable, head: &RequestHead<'_>) -> HeadDecision {
    let Some(virtual_server) = head.endpoint(table) else {
        return HeadDecision::NotMcp;
    };
    if let Some(name) = virtual_server
        && table.config().policy.virtual_server(name).is_none()
    {
        return HeadDecision::Reject(Refusal::UnknownVirtualServer {
            name: shortened(name),
        });
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
    let era = match versions::era_of(head.protocol_version) {
        Ok(era) => era,
        Err(version) => {
            return HeadDecision::Reject(Refusal::UnsupportedProtocolVersion {
                version: shortened(version),
            });
        }
    };
    if era == Era::Modern && !head.method.eq_ignore_ascii_case("POST") {
        return HeadDecision::Reject(Refusal::MethodNotAllowed);
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
    if era == Era::Modern {
        return modern::on_head(table, head);
    }
    HeadDecision::ReadBody
}

/// Decides on a complete POST body (already known to be within the limit).
///
/// Routed to an upstream, by the same rules (a session, a supported
/// version, an id): `tools/call` and `prompts/get` by name,
/// `resources/read`, `resources/subscribe` and `resources/unsubscribe` by
/// URI, `completion/complete` by its `ref`, and a client's answer to a
/// relayed request by the server in its relay id. Everything else goes to
/// the broker.
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
            let relayed = message
                .id
                .zip(message.id_span.clone())
                .and_then(|(id, span)| relay_id::answer(id, span));
            let Some((server, splice)) = relayed else {
                return BodyDecision::Broker {
                    method_label: Cow::Borrowed(methods::RESPONSE_LABEL),
                };
            };
            let target = table
                .server_index(&server)
                .map(|server_index| Target {
                    server_index,
                    key: RouteKey::Answer,
                    splice: Some(splice),
                    checked: None,
                })
                .ok_or(Refusal::UpstreamUnavailable {
                    server,
                    detail: "it is not in the route table any more".to_owned(),
                });
            return routed(table, head, methods::RESPONSE_LABEL, None, target);
        }
        MessageKind::Call { method, params } => (method, params),
    };
    if !is_header_safe_method(&method) {
        return reject(Refusal::InvalidMethodName, message.id);
    }
    let params = match params {
        Params::Object(params) => Some(params),
        _ => None,
    };
    let target = match method.as_ref() {
        methods::TOOLS_CALL | methods::PROMPTS_GET => {
            let entry = if method == methods::TOOLS_CALL {
                Entry::Tool
            } else {
                Entry::Prompt
            };
            let name = params.as_ref().and_then(|p| p.name.as_ref());
            by_name(table, entry, name, "params.name")
        }
        methods::RESOURCES_READ | methods::RESOURCES_SUBSCRIBE | methods::RESOURCES_UNSUBSCRIBE => {
            by_uri(table, params.as_ref().and_then(|p| p.uri.as_ref()), false)
        }
        methods::COMPLETION_COMPLETE => by_reference(table, params.as_ref()),
        _ => {
            return BodyDecision::Broker {
                method_label: method,
            };
        }
    };
    let Some(id) = message.id else {
        return reject(
            Refusal::InvalidMessage {
                detail: format!("{method} is a request and needs an \"id\""),
            },
            None,
        );
    };
    routed(table, head, &method, Some(id), target)
}

/// Where a routed message goes, before the request-wide checks.
struct Target {
    server_index: usize,
    key: RouteKey,
    splice: Option<Splice>,
    /// What the policy is asked about: the kind and the exposed name (or
    /// URI); `None` for a client's answer, which calls nothing, and where
    /// the table has no policy (nothing to ask, so nothing copied).
    checked: Option<(Entry, String)>,
}

/// The routed call, once the request carries a session and a version the
/// gateway speaks.
fn routed<'b>(
    table: &RouteTable,
    head: &RequestHead<'_>,
    method: &str,
    id: Option<&RawValue>,
    target: Result<Target, Refusal>,
) -> BodyDecision<'b> {
    let reject = |refusal| BodyDecision::Reject {
        refusal,
        id: id.map(RawValue::to_owned),
    };
    let Some(gateway_session) = head.session_id else {
        return reject(Refusal::MissingSession);
    };
    let target = target.and_then(|target| {
        if let (Some((entry, exposed)), Some(server)) =
            (&target.checked, table.servers().get(target.server_index))
        {
            let upstream = match &target.key {
                RouteKey::Tool(name) | RouteKey::Prompt(name) | RouteKey::Resource(name) => name,
                RouteKey::Answer => exposed,
            };
            check_access(table, head, &server.name, *entry, upstream, exposed)?;
        }
        Ok(target)
    });
    match target {
        Ok(target) => BodyDecision::Route(RoutedCall {
            bridged: table
                .servers()
                .get(target.server_index)
                .is_some_and(|s| !s.era.speaks(Era::Handshake) || needs_approval(s, &target.key)),
            server_index: target.server_index,
            method: method.to_owned(),
            key: target.key,
            splice: target.splice,
            gateway_session: gateway_session.to_owned(),
            id: id.map(RawValue::to_owned),
            era: Era::Handshake,
        }),
        Err(refusal) => reject(refusal),
    }
}

/// Whether a call by `key` to `server` waits for the caller's approval:
/// the broker asks the client first, so the call goes through it.
pub(crate) fn needs_approval(server: &router_config::ServerRoute, key: &RouteKey) -> bool {
    matches!(key, RouteKey::Tool(name) if server.approval.iter().any(|t| t == name))
}

/// A string member the method needs (`params.name`, `params.uri`).
fn string_member<'a>(
    field: Option<&'a NameField<'a>>,
    member: &str,
) -> Result<(Cow<'a, str>, &'a NameField<'a>), Refusal> {
    let field = field.ok_or_else(|| Refusal::InvalidParams {
        detail: format!("{member} is required"),
    })?;
    let value = message::decode_str(field.raw).ok_or_else(|| Refusal::InvalidParams {
        detail: format!("{member} must be a string"),
    })?;
    Ok((value, field))
}

/// A tool or prompt, by its exposed name; the upstream name spliced in
/// where the prefix made them differ.
fn by_name(
    table: &RouteTable,
    entry: Entry,
    name: Option<&NameField<'_>>,
    member: &str,
) -> Result<Target, Refusal> {
    let (exposed, field) = string_member(name, member)?;
    let (server_index, upstream_name) = resolve_name(table, entry, &exposed)?;
    let splice =
        (upstream_name != exposed).then(|| Splice::new(field.span.clone(), &upstream_name));
    Ok(Target {
        server_index,
        key: match entry {
            Entry::Prompt => RouteKey::Prompt(upstream_name),
            _ => RouteKey::Tool(upstream_name),
        },
        splice,
        checked: table
            .config()
            .policy
            .is_active()
            .then(|| (entry, exposed.into_owned())),
    })
}

/// The server and upstream name of an exposed tool or prompt name.
fn resolve_name(
    table: &RouteTable,
    entry: Entry,
    exposed: &str,
) -> Result<(usize, String), Refusal> {
    if !names::is_routable_tool_name(exposed) {
        return Err(Refusal::InvalidParams {
            detail: format!(
                "a {} name is 1 to {} bytes without control characters",
                entry.noun(),
                names::MAX_TOOL_NAME_LEN
            ),
        });
    }
    let route = match entry {
        Entry::Prompt => table.lookup_prompt(exposed),
        _ => table.lookup(exposed),
    };
    match route {
        Some(route) => Ok((route.server_index, route.upstream_name.to_owned())),
        None => {
            let name = exposed.to_owned();
            Err(match entry {
                Entry::Prompt => Refusal::UnknownPrompt { name },
                _ => Refusal::UnknownTool { name },
            })
        }
    }
}

/// A resource, by its URI (or, for a completion reference, its template).
fn by_uri(
    table: &RouteTable,
    uri: Option<&NameField<'_>>,
    reference: bool,
) -> Result<Target, Refusal> {
    let member = if reference {
        "params.ref.uri"
    } else {
        "params.uri"
    };
    let (uri, _) = string_member(uri, member)?;
    let server_index = resolve_uri(table, &uri, member, reference)?;
    let entry = if reference {
        Entry::ResourceTemplate
    } else {
        Entry::Resource
    };
    let checked = table
        .config()
        .policy
        .is_active()
        .then(|| (entry, uri.to_string()));
    Ok(Target {
        server_index,
        key: RouteKey::Resource(uri.into_owned()),
        splice: None,
        checked,
    })
}

/// The server owning a resource URI (or, for a completion reference, a
/// template); `member` names where the URI came from, for the error.
fn resolve_uri(
    table: &RouteTable,
    uri: &str,
    member: &str,
    reference: bool,
) -> Result<usize, Refusal> {
    if !names::is_routable_uri(uri) {
        return Err(Refusal::InvalidParams {
            detail: format!(
                "{member} must be 1 to {} bytes without control characters or spaces",
                names::MAX_URI_LEN
            ),
        });
    }
    let route = if reference {
        table.lookup_resource_reference(uri)
    } else {
        table.lookup_resource(uri)
    };
    route
        .map(|route| route.server_index)
        .ok_or_else(|| Refusal::UnknownResource {
            uri: shortened(uri),
        })
}

/// `completion/complete`, by what it completes (MCP 2025-11-25,
/// "Completion": `ref` is `{"type":"ref/prompt","name"}` or
/// `{"type":"ref/resource","uri"}`).
fn by_reference(table: &RouteTable, params: Option<&ParamsObject<'_>>) -> Result<Target, Refusal> {
    let invalid = |detail: &str| Refusal::InvalidParams {
        detail: detail.to_owned(),
    };
    let reference = params
        .and_then(|p| p.reference.as_ref())
        .filter(|r| !r.malformed)
        .ok_or_else(|| invalid("params.ref must be an object"))?;
    match reference.kind.and_then(message::decode_str).as_deref() {
        Some("ref/prompt") => by_name(
            table,
            Entry::Prompt,
            reference.name.as_ref(),
            "params.ref.name",
        ),
        Some("ref/resource") => by_uri(table, reference.uri.as_ref(), true),
        _ => Err(invalid(
            "params.ref.type must be \"ref/prompt\" or \"ref/resource\"",
        )),
    }
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

#[cfg(test)]
mod policy_tests;
