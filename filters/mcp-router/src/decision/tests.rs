//! Table-driven from `testdata/router/cases.json`: every case runs the
//! head and body decisions and checks the outcome, down to the exact
//! upstream body bytes. The wasm harness replays the same fixtures against
//! the compiled filter.

use std::collections::BTreeMap;

use router_config::RouterConfig;
use serde::Deserialize;

use super::*;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/router");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    route_table: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    request: Request,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_hex: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", tag = "decision")]
enum Expect {
    #[serde(rename = "route")]
    Route {
        server: String,
        toolname: String,
        #[serde(rename = "upstreamBody")]
        upstream_body: String,
    },
    #[serde(rename = "broker")]
    Broker { method: Option<String> },
    #[serde(rename = "reject")]
    Reject {
        status: u32,
        #[serde(rename = "errorCode")]
        error_code: i64,
        #[serde(rename = "messageContains")]
        message_contains: String,
        id: Option<serde_json::Value>,
    },
    #[serde(rename = "not_mcp")]
    NotMcp,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex fixture"))
        .collect()
}

fn load() -> (RouteTable, Vec<Case>) {
    let fixture: Fixture = serde_json::from_slice(
        &std::fs::read(format!("{TESTDATA}/cases.json")).expect("read cases.json"),
    )
    .expect("parse cases.json");
    let table_json =
        std::fs::read(format!("{TESTDATA}/{}", fixture.route_table)).expect("read route table");
    let config = RouterConfig::from_json(&table_json).expect("fixture route table parses");
    (RouteTable::new(config), fixture.cases)
}

/// What the core decided, flattened for comparison.
#[derive(Debug)]
enum Outcome {
    NotMcp,
    Broker(Option<String>),
    Route(String, String, Vec<u8>),
    Reject(u32, serde_json::Value),
}

fn run(table: &RouteTable, request: &Request) -> Outcome {
    let header = |name: &str| request.headers.get(name).map(String::as_str);
    let head = RequestHead {
        method: &request.method,
        path: &request.path,
        session_id: header("mcp-session-id"),
        protocol_version: header("mcp-protocol-version"),
        content_length: header("content-length"),
    };
    let reply = |rejection: Rejection, id: Option<&RawValue>| {
        let reply = rejection.reply(id);
        Outcome::Reject(
            reply.status,
            serde_json::from_slice(&reply.body).expect("error body is JSON"),
        )
    };
    match on_request_head(table, &head) {
        HeadDecision::NotMcp => return Outcome::NotMcp,
        HeadDecision::Broker => return Outcome::Broker(None),
        HeadDecision::Reject(rejection) => return reply(rejection, None),
        HeadDecision::ReadBody => {}
    }
    let body = match (&request.body, &request.body_hex) {
        (_, Some(h)) => hex(h),
        (Some(b), None) => b.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    // The filter enforces the limit while buffering, before deciding.
    if body.len() > table.max_body_bytes() {
        return reply(
            Rejection::BodyTooLarge {
                limit: table.max_body_bytes(),
            },
            None,
        );
    }
    match on_request_body(table, &head, &body) {
        BodyDecision::Broker { method_label } => Outcome::Broker(Some(method_label.into_owned())),
        BodyDecision::Reject { rejection, id } => reply(rejection, id.as_deref()),
        BodyDecision::Route(call) => {
            let server = table.servers()[call.server_index].name.clone();
            let upstream_body = match &call.splice {
                Some(splice) => splice.apply(&body).expect("splice in range"),
                None => body.clone(),
            };
            assert_eq!(call.gateway_session, head.session_id.unwrap_or_default());
            Outcome::Route(server, call.upstream_name, upstream_body)
        }
    }
}

#[test]
fn every_fixture_case_decides_as_expected() {
    let (table, cases) = load();
    assert!(cases.len() >= 40, "fixture file lost cases");
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = run(&table, &case.request);
        let ok = match (&case.expect, &outcome) {
            (Expect::NotMcp, Outcome::NotMcp) => true,
            (Expect::Broker { method }, Outcome::Broker(label)) => method == label,
            (
                Expect::Route {
                    server,
                    toolname,
                    upstream_body,
                },
                Outcome::Route(s, t, b),
            ) => server == s && toolname == t && upstream_body.as_bytes() == b.as_slice(),
            (
                Expect::Reject {
                    status,
                    error_code,
                    message_contains,
                    id,
                },
                Outcome::Reject(s, body),
            ) => {
                status == s
                    && body["jsonrpc"] == "2.0"
                    && body["error"]["code"].as_i64() == Some(*error_code)
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(message_contains.as_str()))
                    && body["id"] == id.clone().unwrap_or(serde_json::Value::Null)
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got {outcome:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}
