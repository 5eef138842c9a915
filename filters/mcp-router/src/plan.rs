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
    routing_headers(server, call, head, broker_cluster, &mut ops);
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
    routing_headers(server, &call.call, head, broker_cluster, &mut ops);
    ops
}

/// The route of a call: `:authority`, `:path` and `x-mcp-cluster` of its
/// server (unless it is bridged: then it goes on to the broker, Envoy's
/// default route), the router's own headers, and the client credential
/// headers the server did not opt into removed (a bridged call keeps them:
/// the broker checks the caller's identity with them and forwards only
/// what the server opted into).
fn routing_headers<'a>(
    server: &'a ServerRoute,
    call: &'a RoutedCall,
    head: &RequestHead<'_>,
    broker_cluster: &'a str,
    ops: &mut Vec<HeaderOp<'a>>,
) {
    if !call.bridged {
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
    if call.bridged {
        // Envoy's routes send a call naming a server to the cluster it names:
        // for a bridged call, the broker's.
        ops.push(HeaderOp::Set(headers::X_MCP_CLUSTER, broker_cluster.into()));
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
mod tests {
    use super::*;
    use crate::decision::CredentialHeaders;
    use mcp_protocol::splice::Splice;
    use serde_json::value::RawValue;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn server(forward_authorization: bool, forward_headers: &[&str]) -> ServerRoute {
        ServerRoute {
            name: "weather".to_owned(),
            prefix: "weather_".to_owned(),
            authority: "weather:8001".to_owned(),
            path: "/mcp".to_owned(),
            cluster: Some("mcp_upstream_weather".to_owned()),
            forward_authorization,
            forward_headers: forward_headers.iter().map(|h| (*h).to_owned()).collect(),
            tools: vec!["get".to_owned()],
            ..ServerRoute::new("", "", "", "")
        }
    }

    fn call(splice: Option<Splice>) -> RoutedCall {
        RoutedCall {
            server_index: 0,
            method: "tools/call".to_owned(),
            key: RouteKey::Tool("get".to_owned()),
            splice,
            gateway_session: "gw".to_owned(),
            id: Some(RawValue::from_string("1".to_owned()).expect("raw id")),
            era: mcp_protocol::versions::Era::Handshake,
            bridged: false,
        }
    }

    fn head_with(credentials: &[&str]) -> RequestHead<'static> {
        let mut present = CredentialHeaders::default();
        for name in credentials {
            present.note(name);
        }
        RequestHead {
            method: "POST",
            path: "/mcp",
            content_length: Some("99"),
            credentials: present,
            ..RequestHead::default()
        }
    }

    #[test]
    fn a_routed_call_sets_the_route_and_the_router_headers() {
        let body = br#"{"params":{"name":"weather_get"}}"#;
        let start = 18;
        assert_eq!(&body[start..start + 13], br#""weather_get""#);
        let splice = Splice::new(start..start + 13, "get");
        let (server, call) = (server(false, &[]), call(Some(splice)));
        let plan = route_plan(&server, &call, &head_with(&[]), body, "broker").expect("plans");
        assert_eq!(
            plan.body.as_deref(),
            Some(&br#"{"params":{"name":"get"}}"#[..])
        );
        assert_eq!(
            plan.headers,
            vec![
                HeaderOp::Set("content-length", "25".into()),
                HeaderOp::Set(":authority", "weather:8001".into()),
                HeaderOp::Set("x-mcp-method", "tools/call".into()),
                HeaderOp::Set("x-mcp-servername", "weather".into()),
                HeaderOp::Set("x-mcp-toolname", "get".into()),
                HeaderOp::Set("x-mcp-cluster", "mcp_upstream_weather".into()),
            ]
        );
    }

    #[test]
    fn route_headers_already_right_are_left_alone() {
        let mut server = server(false, &[]);
        server.path = "/v1/mcp".to_owned();
        let head = RequestHead {
            authority: "weather:8001",
            ..head_with(&[])
        };
        let call = call(None);
        let ops = route_plan(&server, &call, &head, b"{}", "broker")
            .expect("plans")
            .headers;
        assert!(ops.contains(&HeaderOp::Set(":path", "/v1/mcp".into())));
        assert!(
            !ops.iter()
                .any(|op| matches!(op, HeaderOp::Set(":authority", _)))
        );
    }

    #[test]
    fn each_kind_of_call_names_what_it_is_routed_by() {
        let header = |method: &str, key: RouteKey| -> Vec<HeaderOp<'static>> {
            let call = RoutedCall {
                method: method.to_owned(),
                key,
                ..call(None)
            };
            let server = server(false, &[]);
            route_plan(&server, &call, &head_with(&[]), b"{}", "broker")
                .expect("plans")
                .headers
                .into_iter()
                .map(|op| match op {
                    HeaderOp::Set(name, value) => HeaderOp::Set(name, value.into_owned().into()),
                    HeaderOp::Remove(name) => HeaderOp::Remove(name),
                })
                .filter(|op| {
                    matches!(op, HeaderOp::Set(name, _) if name.starts_with("x-mcp-") && *name != "x-mcp-servername" && *name != "x-mcp-cluster")
                })
                .collect()
        };
        assert_eq!(
            header("prompts/get", RouteKey::Prompt("brief".to_owned())),
            vec![
                HeaderOp::Set("x-mcp-method", "prompts/get".into()),
                HeaderOp::Set("x-mcp-promptname", "brief".into()),
            ]
        );
        assert_eq!(
            header(
                "resources/read",
                RouteKey::Resource("file:///caf\u{e9}".to_owned())
            ),
            vec![
                HeaderOp::Set("x-mcp-method", "resources/read".into()),
                HeaderOp::Set("x-mcp-resourceuri", "file:///caf%C3%A9".into()),
            ]
        );
        assert_eq!(
            header("response", RouteKey::Answer),
            vec![HeaderOp::Set("x-mcp-method", "response".into())]
        );
    }

    #[test]
    fn client_credentials_are_removed_unless_the_server_opts_in() {
        let head = head_with(&[
            "authorization",
            "cookie",
            "x-api-key",
            "proxy-authorization",
        ]);
        let removed = |server: &ServerRoute| -> Vec<&'static str> {
            route_plan(server, &call(None), &head, b"{}", "broker")
                .expect("plans")
                .headers
                .into_iter()
                .filter_map(|op| match op {
                    HeaderOp::Remove(name) => Some(name),
                    HeaderOp::Set(..) => None,
                })
                .collect()
        };
        assert_eq!(
            removed(&server(false, &[])),
            [
                "authorization",
                "proxy-authorization",
                "cookie",
                "x-api-key"
            ]
        );
        assert_eq!(
            removed(&server(true, &["cookie"])),
            ["proxy-authorization", "x-api-key"]
        );
        // Nothing to remove when the client sent none.
        assert!(
            route_plan(
                &server(false, &[]),
                &call(None),
                &head_with(&[]),
                b"{}",
                "broker"
            )
            .expect("plans")
            .headers
            .iter()
            .all(|op| matches!(op, HeaderOp::Set(..)))
        );
    }

    #[test]
    fn a_splice_outside_the_body_is_refused() {
        let (server, call) = (server(false, &[]), call(Some(Splice::new(5..50, "x"))));
        let plan = route_plan(&server, &call, &head_with(&[]), b"short", "broker");
        assert!(matches!(plan, Err(Refusal::Internal { .. })));
    }

    #[test]
    fn lists_passed_to_the_broker_name_the_route_table_in_force() {
        assert_eq!(
            broker_headers("t1", "tools/list"),
            vec![
                HeaderOp::Set("x-mcp-method", "tools/list".into()),
                HeaderOp::Set("x-mcp-route-table", "t1".into()),
            ]
        );
        assert_eq!(
            broker_headers("t1", "ping"),
            vec![HeaderOp::Set("x-mcp-method", "ping".into())]
        );
        assert_eq!(broker_headers("", "tools/list").len(), 1);
    }

    #[test]
    fn session_headers_carry_the_upstream_session_or_remove_the_gateway_id() {
        let mut session = UpstreamSessionResponse {
            session_id: Some("up-1".to_owned()),
            protocol_version: "2025-06-18".to_owned(),
            expires_at: 0,
            authorization: Some("Bearer cred".to_owned()),
        };
        let head = head_with(&[]);
        assert_eq!(
            session_headers(&session, &head),
            vec![
                HeaderOp::Set("mcp-session-id", "up-1".into()),
                HeaderOp::Set("mcp-protocol-version", "2025-06-18".into()),
                HeaderOp::Set("authorization", "Bearer cred".into()),
            ]
        );
        session.session_id = None;
        session.authorization = None;
        assert_eq!(
            session_headers(&session, &head),
            vec![
                HeaderOp::Remove("mcp-session-id"),
                HeaderOp::Set("mcp-protocol-version", "2025-06-18".into()),
            ]
        );
        // A request that already names the agreed version keeps its header.
        let same = RequestHead {
            protocol_version: Some("2025-06-18"),
            ..head_with(&[])
        };
        assert_eq!(
            session_headers(&session, &same),
            vec![HeaderOp::Remove("mcp-session-id")]
        );
    }
}
