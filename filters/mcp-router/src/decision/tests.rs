//! Table-driven from `testdata/router/cases.json`: every case runs the
//! head and body decisions and checks the outcome, down to the exact
//! upstream body bytes. The wasm harness replays the same fixtures against
//! the compiled filter.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::fixtures::{self, CaseRequest, Expect};

use super::*;

fn load() -> (RouteTable, Vec<fixtures::Case>) {
    let config = fixtures::route_table().expect("fixture route table");
    (
        RouteTable::new(config),
        fixtures::cases().expect("fixture cases"),
    )
}

/// What the core decided, flattened for comparison.
#[derive(Debug)]
enum Outcome {
    NotMcp,
    Broker(Option<String>),
    Route(
        String,
        bool,
        std::collections::BTreeMap<String, String>,
        Vec<u8>,
    ),
    Reject(u32, serde_json::Value),
}

/// The headers a plan sets that the fixtures name: the router's own
/// (but `x-mcp-servername` and `x-mcp-cluster`, which follow from the
/// server) and a rewritten `mcp-name`.
fn router_headers(ops: Vec<crate::plan::HeaderOp>) -> std::collections::BTreeMap<String, String> {
    ops.into_iter()
        .filter_map(|op| match op {
            crate::plan::HeaderOp::Set(name, value)
                if (name.starts_with("x-mcp-")
                    && name != "x-mcp-servername"
                    && name != "x-mcp-cluster")
                    || name == "mcp-name" =>
            {
                Some((name.to_owned(), value.into_owned()))
            }
            _ => None,
        })
        .collect()
}

fn run(table: &RouteTable, request: &CaseRequest) -> Outcome {
    let input = request.input().expect("fixture body");
    let head = input.head();
    let era = head.era();
    let reply = |refusal: Refusal, id: Option<&RawValue>| {
        let reply = refusal.reply_in(era, id);
        Outcome::Reject(
            reply.status,
            serde_json::from_slice(&reply.body).expect("error body is JSON"),
        )
    };
    match on_request_head(table, &head) {
        HeadDecision::NotMcp => return Outcome::NotMcp,
        HeadDecision::Broker => return Outcome::Broker(None),
        HeadDecision::Reject(refusal) => return reply(refusal, None),
        HeadDecision::ModernBroker { method } => return Outcome::Broker(Some(method)),
        HeadDecision::Modern(call) => {
            let server_route = &table.servers()[call.call.server_index];
            let headers = router_headers(crate::plan::modern_plan(
                server_route,
                &call,
                &head,
                &table.broker().cluster,
            ));
            let body = request.body().expect("fixture body");
            return match on_modern_body(&call, &body) {
                Ok(CheckedBody { splice, .. }) => {
                    let upstream_body = match splice {
                        Some(splice) => splice.apply(&body).expect("splice in range"),
                        None => body,
                    };
                    Outcome::Route(
                        server_route.name.clone(),
                        call.call.bridged,
                        headers,
                        upstream_body,
                    )
                }
                Err(BodyRefusal { refusal, id }) => reply(refusal, id.as_deref()),
            };
        }
        HeadDecision::ReadBody => {}
    }
    let body = request.body().expect("fixture body");
    // The filter enforces the limit while buffering, before deciding.
    if body.len() > table.max_body_bytes() {
        return reply(
            Refusal::BodyTooLarge {
                limit: table.max_body_bytes(),
            },
            None,
        );
    }
    match on_request_body(table, &head, &body) {
        BodyDecision::Broker { method_label } => Outcome::Broker(Some(method_label.into_owned())),
        BodyDecision::Reject { refusal, id } => reply(refusal, id.as_deref()),
        BodyDecision::Route(call) => {
            let server = table.servers()[call.server_index].name.clone();
            let upstream_body = match &call.splice {
                Some(splice) => splice.apply(&body).expect("splice in range"),
                None => body.clone(),
            };
            assert_eq!(call.gateway_session, head.session_id.unwrap_or_default());
            // The router headers the plan sets, as the fixtures name them.
            let server_route = &table.servers()[call.server_index];
            let plan = crate::plan::route_plan(
                server_route,
                &call,
                crate::plan::Via::known_session(&call),
                &head,
                &body,
                &table.broker().cluster,
            )
            .expect("the plan fits the body");
            Outcome::Route(
                server,
                call.bridged,
                router_headers(plan.headers),
                upstream_body,
            )
        }
    }
}

#[test]
fn every_fixture_case_decides_as_expected() {
    let (table, cases) = load();
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = run(&table, &case.request);
        let ok = match (&case.expect, &outcome) {
            (Expect::NotMcp, Outcome::NotMcp) => true,
            (Expect::Broker { method }, Outcome::Broker(label)) => method == label,
            (
                Expect::Route {
                    server,
                    headers,
                    upstream_body,
                    bridged,
                },
                Outcome::Route(s, bridge, h, b),
            ) => {
                server == s
                    && bridged == bridge
                    && headers == h
                    && upstream_body.as_bytes() == b.as_slice()
            }
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
