//! The policy (identity rules, virtual servers) as the router applies it:
//! the fixture table with a policy added, and calls decided against it.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use base64::Engine;

use super::*;
use crate::fixtures;

fn table() -> RouteTable {
    let mut config = fixtures::route_table().expect("fixture route table");
    config.policy = serde_json::from_value(serde_json::json!({
        "rules": [
            { "name": "sre", "groups": ["sre"], "allow": [{ "server": "*" }] },
            { "name": "analysts", "groups": ["analysts"],
              "allow": [{ "server": "weather", "tools": ["get_forecast"], "resources": ["weather://"] }] }
        ],
        "virtualServers": [{ "name": "team/forecasts", "tools": ["weather_get_forecast", "read_file"] }]
    }))
    .expect("policy");
    RouteTable::new(config)
}

fn claims(json: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn call_body(name: &str) -> Vec<u8> {
    format!(r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"{name}","arguments":{{}}}}}}"#)
        .into_bytes()
}

fn head<'h>(
    path: &'h str,
    claims: Option<&'h str>,
    virtual_server: Option<&'h str>,
) -> RequestHead<'h> {
    RequestHead {
        method: "POST",
        path,
        session_id: Some("s1"),
        authority: "gateway.local",
        claims: claims.map(str::as_bytes),
        virtual_server,
        ..RequestHead::default()
    }
}

/// The routed server, or the refusal's JSON-RPC message.
fn decide(table: &RouteTable, head: &RequestHead<'_>, body: &[u8]) -> Result<String, String> {
    match on_request_head(table, head) {
        HeadDecision::ReadBody => {}
        HeadDecision::Reject(refusal) => return Err(refusal.error().message),
        other => return Err(format!("head: {other:?}")),
    }
    match on_request_body(table, head, body) {
        BodyDecision::Route(call) => Ok(table.servers()[call.server_index].name.clone()),
        BodyDecision::Reject { refusal, id } => {
            assert_eq!(
                id.map(|i| i.get().to_owned()).as_deref(),
                Some("7"),
                "the id is echoed"
            );
            Err(refusal.error().message)
        }
        BodyDecision::Broker { method_label } => Err(format!("broker: {method_label}")),
    }
}

#[test]
fn two_identities_get_different_calls() {
    let table = table();
    let analyst = claims(r#"{"sub":"ann","groups":["analysts"]}"#);
    let sre = claims(r#"{"sub":"sam","groups":"sre"}"#);
    let forecast = call_body("weather_get_forecast");
    let alerts = call_body("weather_get_alerts");
    assert_eq!(
        decide(&table, &head("/mcp", Some(&analyst), None), &forecast),
        Ok("weather".into())
    );
    assert_eq!(
        decide(&table, &head("/mcp", Some(&analyst), None), &alerts),
        Err(
            "Forbidden: tool \"weather_get_alerts\" is not allowed: no rule allows it to \"ann\""
                .into()
        )
    );
    assert_eq!(
        decide(&table, &head("/mcp", Some(&sre), None), &alerts),
        Ok("weather".into())
    );
    assert!(
        decide(&table, &head("/mcp", None, None), &forecast)
            .is_err_and(|e| e.contains("unidentified caller")),
        "no claims, no rule"
    );
}

#[test]
fn resources_are_checked_by_uri() {
    let table = table();
    let analyst = claims(r#"{"sub":"ann","groups":["analysts"]}"#);
    let read = |uri: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{{"uri":"{uri}"}}}}"#
        )
        .into_bytes()
    };
    let head = head("/mcp", Some(&analyst), None);
    assert_eq!(
        decide(&table, &head, &read("weather://stations/paris")),
        Ok("weather".into())
    );
    assert!(
        decide(&table, &head, &read("file:///etc/motd"))
            .is_err_and(|e| e.starts_with("Forbidden: resource"))
    );
}

#[test]
fn a_virtual_server_by_header_or_path_refuses_non_members() {
    let table = table();
    let sre = claims(r#"{"sub":"sam","groups":["sre"]}"#);
    for head in [
        head("/mcp", Some(&sre), Some("team/forecasts")),
        head("/mcp/team/forecasts", Some(&sre), None),
        head("/mcp/team/forecasts?x=1", Some(&sre), Some("other")),
    ] {
        assert_eq!(
            decide(&table, &head, &call_body("weather_get_forecast")),
            Ok("weather".into())
        );
        assert_eq!(
            decide(&table, &head, &call_body("read_file")),
            Ok("files".into())
        );
        assert_eq!(
            decide(&table, &head, &call_body("weather_get_alerts")),
            Err("Forbidden: tool \"weather_get_alerts\" is not allowed: it is not in virtual server \"team/forecasts\"".into())
        );
    }
}

#[test]
fn an_unknown_virtual_server_is_refused_and_other_paths_are_not_mcp() {
    let table = table();
    for head in [
        head("/mcp/nope", None, None),
        head("/mcp", None, Some("nope")),
    ] {
        let HeadDecision::Reject(refusal) = on_request_head(&table, &head) else {
            panic!("refused");
        };
        assert_eq!(
            (refusal.status(), refusal.label()),
            (404, "unknown_virtual_server")
        );
    }
    assert!(matches!(
        on_request_head(&table, &head("/mcpx", None, None)),
        HeadDecision::NotMcp
    ));
    let plain = RouteTable::new(fixtures::route_table().expect("table"));
    assert!(
        matches!(
            on_request_head(&plain, &head("/mcp/team/forecasts", None, None)),
            HeadDecision::NotMcp
        ),
        "without virtual servers their paths are not the endpoint"
    );
}

#[test]
fn an_unreadable_claims_header_is_refused() {
    let table = table();
    let head = head("/mcp", Some("%%%"), None);
    assert!(
        decide(&table, &head, &call_body("weather_get_forecast"))
            .is_err_and(|e| e.starts_with("Forbidden: the caller's identity cannot be read"))
    );
}

#[test]
fn broker_requests_carry_the_virtual_server_and_the_mcp_path() {
    let table = table();
    let by_path = head("/mcp/team/forecasts", None, None);
    let ops = crate::plan::virtual_server_headers(&table, &by_path);
    assert_eq!(
        ops,
        [
            crate::plan::HeaderOp::Set("x-mcp-virtualserver", "team/forecasts".into()),
            crate::plan::HeaderOp::Set(":path", "/mcp".into()),
        ]
    );
    let by_header = head("/mcp", None, Some("team/forecasts"));
    assert_eq!(
        crate::plan::virtual_server_headers(&table, &by_header).len(),
        1
    );
    assert!(crate::plan::virtual_server_headers(&table, &head("/mcp", None, None)).is_empty());
}
