//! The route plan's rules: headers set and removed, credentials, first calls.

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
    let plan = route_plan(
        &server,
        &call,
        Via::Upstream,
        &head_with(&[]),
        body,
        "broker",
    )
    .expect("plans");
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
    let ops = route_plan(&server, &call, Via::Upstream, &head, b"{}", "broker")
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
        route_plan(&server, &call, Via::Upstream, &head_with(&[]), b"{}", "broker")
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
        route_plan(server, &call(None), Via::Upstream, &head, b"{}", "broker")
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
            Via::Upstream,
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
fn a_first_call_goes_to_the_broker_with_the_clients_credentials() {
    let head = head_with(&["authorization", "cookie"]);
    let (server, call) = (server(false, &[]), call(None));
    let ops = |stale| {
        route_plan(
            &server,
            &call,
            Via::FirstCall { stale },
            &head,
            b"{}",
            "broker",
        )
        .expect("plans")
        .headers
    };
    assert_eq!(
        ops(None),
        vec![
            HeaderOp::Set("x-mcp-method", "tools/call".into()),
            HeaderOp::Set("x-mcp-servername", "weather".into()),
            HeaderOp::Set("x-mcp-toolname", "get".into()),
            HeaderOp::Set("x-mcp-cluster", "broker".into()),
            HeaderOp::Set("x-mcp-first-call", "-".into()),
        ]
    );
    assert!(ops(Some("up-9")).contains(&HeaderOp::Set("x-mcp-first-call", "up-9".into())));
    assert_eq!(
        Via::on_miss(router_config::FirstCall::Forward, Some("up-9")),
        Some(Via::FirstCall {
            stale: Some("up-9")
        })
    );
    assert_eq!(
        Via::on_miss(router_config::FirstCall::SessionApi, None),
        None
    );
}

#[test]
fn a_splice_outside_the_body_is_refused() {
    let (server, call) = (server(false, &[]), call(Some(Splice::new(5..50, "x"))));
    let plan = route_plan(
        &server,
        &call,
        Via::Upstream,
        &head_with(&[]),
        b"short",
        "broker",
    );
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
