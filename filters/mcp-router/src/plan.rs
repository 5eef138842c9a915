//! The request a routed call becomes: its body with the upstream name
//! spliced in, and every header the router sets or removes, in the order
//! the glue applies them. Pure: the rules (which headers, which credentials
//! an upstream may receive) are tested natively here, not only through the
//! proxy.

use std::borrow::Cow;

use mcp_protocol::headers;
use router_config::ServerRoute;
use router_config::session_api::UpstreamSessionResponse;

use crate::decision::{ModernCall, RequestHead, RouteKey, RoutedCall};
use crate::table::RouteTable;
use mcp_protocol::modern;
use mcp_protocol::refusal::Refusal;

/// One change to the request headers. Values borrow from the route table
/// and the call where they can: a plan is applied at once, and copying
/// each value first would cost an allocation per header per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp<'a> {
    Set(&'static str, Cow<'a, str>),
    Remove(&'static str),
}

/// Everything a routed call changes in the request, before its upstream
/// session is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan<'a> {
    /// The new body, when the name had to be spliced.
    pub body: Option<Vec<u8>>,
    pub headers: Vec<HeaderOp<'a>>,
}

/// Plans the routed call `call` to `server` for a request with `head` and
/// `body`.
///
/// Sets `:authority` and `:path` to the server's route, the router's own
/// headers (`x-mcp-method`, `x-mcp-servername`, the one the call is routed
/// by: `x-mcp-toolname`, `x-mcp-promptname` or `x-mcp-resourceuri`, and
/// `x-mcp-cluster`), and `content-length` when the body changed; removes
/// every client credential header the server did not opt into.
///
/// # Errors
/// [`Refusal::Internal`] when the splice does not fit the body (a bug:
/// the span came from parsing this very body).
pub fn route_plan<'a>(
    server: &'a ServerRoute,
    call: &'a RoutedCall,
    via: Via<'a>,
    head: &RequestHead<'_>,
    body: &[u8],
    broker_cluster: &'a str,
) -> Result<RoutePlan<'a>, Refusal> {
    let mut ops = Vec::with_capacity(8);
    let new_body = match &call.splice {
        Some(splice) => {
            let spliced = splice.apply(body).ok_or_else(|| Refusal::Internal {
                detail: "splice span outside the body".to_owned(),
            })?;
            if head.content_length.is_some() {
                ops.push(HeaderOp::Set(
                    "content-length",
                    spliced.len().to_string().into(),
                ));
            }
            Some(spliced)
        }
        None => None,
    };
    routing_headers(server, call, via, head, broker_cluster, &mut ops);
    Ok(RoutePlan {
        body: new_body,
        headers: ops,
    })
}

/// The headers of a stateless-era call routed from its headers (the body
/// is not known yet): the route as for any call, `Mcp-Name` rewritten to
/// the upstream name when the prefix made them differ (the body's name is
/// spliced to match when it arrives, so the body's length changes and its
/// `content-length` goes: Envoy then frames the body itself).
pub fn modern_plan<'a>(
    server: &'a ServerRoute,
    call: &'a ModernCall,
    head: &RequestHead<'_>,
    broker_cluster: &'a str,
) -> Vec<HeaderOp<'a>> {
    let mut ops = Vec::with_capacity(10);
    if let Some(upstream) = &call.rename {
        ops.push(HeaderOp::Set(
            modern::MCP_NAME,
            modern::encode_header_value(upstream),
        ));
        ops.push(HeaderOp::Remove("content-length"));
    }
    let via = Via::known_session(&call.call);
    routing_headers(server, &call.call, via, head, broker_cluster, &mut ops);
    ops
}

/// Where a routed call goes from the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// To its upstream, by the server's route.
    Upstream,
    /// To the broker, which bridges the eras or asks for approval
    /// ([`RoutedCall::bridged`]).
    Bridge,
    /// To the broker, which opens the upstream session the router has no
    /// record of, forwards the call on it and returns the session with the
    /// answer (`router_config::session_api`, "The first call"). `stale`:
    /// the upstream session id the upstream no longer knew.
    FirstCall { stale: Option<&'a str> },
}

impl Via<'_> {
    /// Where `call` goes when its upstream session is known (or it needs
    /// none): to the broker if it is bridged, else to its upstream.
    pub fn known_session(call: &RoutedCall) -> Via<'static> {
        if call.bridged {
            Via::Bridge
        } else {
            Via::Upstream
        }
    }

    /// Where a routed call goes that the session cache has no usable record
    /// for, in the table's first-call `mode`: to the broker as a first call,
    /// or `None` where the router asks the session API first (and then
    /// routes the call to the upstream itself).
    pub fn on_miss(mode: router_config::FirstCall, stale: Option<&str>) -> Option<Via<'_>> {
        match mode {
            router_config::FirstCall::Forward => Some(Via::FirstCall { stale }),
            router_config::FirstCall::SessionApi => None,
        }
    }
}

/// The route of a call: `:authority`, `:path` and `x-mcp-cluster` of its
/// server (unless it goes to the broker: then `x-mcp-cluster` is the
/// broker's, and a first call says so in `x-mcp-first-call`), the router's
/// own headers, and the client credential headers the server did not opt
/// into removed (a call to the broker keeps them: the broker checks the
/// caller's identity with them and forwards only what the server opted
/// into).
fn routing_headers<'a>(
    server: &'a ServerRoute,
    call: &'a RoutedCall,
    via: Via<'a>,
    head: &RequestHead<'_>,
    broker_cluster: &'a str,
    ops: &mut Vec<HeaderOp<'a>>,
) {
    if via == Via::Upstream {
        // Each set is a host call, and Envoy re-reads its route after any
        // change to the request headers: a value already right is left.
        if head.authority != server.authority {
            ops.push(HeaderOp::Set(
                headers::AUTHORITY,
                server.authority.as_str().into(),
            ));
        }
        if head.path != server.path {
            ops.push(HeaderOp::Set(":path", server.path.as_str().into()));
        }
        // The caller's signed capabilities are the gateway's business,
        // not the upstream's (kept only where the policy reads them).
        if head.authorized.is_some() {
            ops.push(HeaderOp::Remove(headers::X_MCP_AUTHORIZED));
        }
    }
    ops.push(HeaderOp::Set(
        headers::X_MCP_METHOD,
        call.method.as_str().into(),
    ));
    ops.push(HeaderOp::Set(
        headers::X_MCP_SERVERNAME,
        server.name.as_str().into(),
    ));
    match &call.key {
        RouteKey::Tool(name) => {
            ops.push(HeaderOp::Set(headers::X_MCP_TOOLNAME, name.as_str().into()));
        }
        RouteKey::Prompt(name) => {
            ops.push(HeaderOp::Set(
                headers::X_MCP_PROMPTNAME,
                name.as_str().into(),
            ));
        }
        RouteKey::Resource(uri) => ops.push(HeaderOp::Set(
            headers::X_MCP_RESOURCEURI,
            mcp_protocol::names::header_safe_uri(uri),
        )),
        RouteKey::Answer => {}
    }
    if via != Via::Upstream {
        // Envoy's routes send a call naming a server to the cluster it names:
        // for a call to the broker, the broker's.
        ops.push(HeaderOp::Set(headers::X_MCP_CLUSTER, broker_cluster.into()));
        if let Via::FirstCall { stale } = via {
            ops.push(HeaderOp::Set(
                headers::X_MCP_FIRST_CALL,
                stale.unwrap_or("-").into(),
            ));
        }
        return;
    }
    if let Some(cluster) = &server.cluster {
        ops.push(HeaderOp::Set(
            headers::X_MCP_CLUSTER,
            cluster.as_str().into(),
        ));
    }
    for name in head.credentials.present() {
        if !forwards(server, name) {
            ops.push(HeaderOp::Remove(name));
        }
    }
}

/// The headers a message passed to the broker gets: its method as
/// `x-mcp-method`, and for a list the id of the route table in force
/// (`x-mcp-route-table`), so the broker lists what this proxy can route.
pub fn broker_headers<'a>(table_id: &'a str, method: &'a str) -> Vec<HeaderOp<'a>> {
    let mut ops = vec![HeaderOp::Set(headers::X_MCP_METHOD, method.into())];
    if method.ends_with("/list") && !table_id.is_empty() {
        ops.push(HeaderOp::Set(headers::X_MCP_ROUTE_TABLE, table_id.into()));
    }
    ops
}

/// What a request passed to the broker says about its virtual server:
/// `x-mcp-virtualserver` set to the one it selected (the client's copy was
/// stripped with every `x-mcp-*` header), and `:path` set to the MCP path
/// when the path selected it (the broker serves one path). Nothing without
/// a virtual server.
pub fn virtual_server_headers<'a>(
    table: &'a RouteTable,
    head: &RequestHead<'_>,
) -> Vec<HeaderOp<'a>> {
    let Some(Some(name)) = head.endpoint(table) else {
        return Vec::new();
    };
    let mut ops = vec![HeaderOp::Set(
        headers::X_MCP_VIRTUALSERVER,
        Cow::Owned(name.to_owned()),
    )];
    if head.virtual_server_by_path(table) {
        ops.push(HeaderOp::Set(":path", table.mcp_path().into()));
    }
    ops
}

/// Whether `server` receives the client's credential header `name`.
pub fn forwards(server: &ServerRoute, name: &str) -> bool {
    if name == headers::AUTHORIZATION {
        server.forward_authorization
    } else {
        server.forward_headers.iter().any(|h| h == name)
    }
}

/// The headers that carry the upstream session: its id (removed for an
/// upstream without sessions, so the gateway's id never reaches it), the
/// version it agreed to (unless the request already names it), and the
/// server's credential when the broker hands it to the router (where Envoy
/// does not inject it itself).
pub fn session_headers<'a>(
    session: &'a UpstreamSessionResponse,
    head: &RequestHead<'_>,
) -> Vec<HeaderOp<'a>> {
    let mut ops = Vec::with_capacity(3);
    ops.push(match &session.session_id {
        Some(id) => HeaderOp::Set(headers::SESSION_ID, id.as_str().into()),
        None => HeaderOp::Remove(headers::SESSION_ID),
    });
    if head.protocol_version != Some(session.protocol_version.as_str()) {
        ops.push(HeaderOp::Set(
            headers::PROTOCOL_VERSION,
            session.protocol_version.as_str().into(),
        ));
    }
    if let Some(authorization) = &session.authorization {
        ops.push(HeaderOp::Set(
            headers::AUTHORIZATION,
            authorization.as_str().into(),
        ));
    }
    ops
}

#[cfg(test)]
mod tests;
