//! Every case of `testdata/router/cases.json` through the real
//! `mcp_router.wasm`, on two VMs, asserting the exact upstream headers and
//! body bytes (routed and broker cases), the exact JSON-RPC error (refused
//! cases), and that the full lifecycle (response, done, delete) completes.
//! Routed cases run twice: with the upstream session cached, and with a
//! cache miss answered by the broker.

use crate::common::*;
use mcp_protocol::headers;
use mcp_router::fixtures::{self, Case, Expect};
use proxy_wasm_harness::{Gateway, HttpStream, Request, Response};

fn load() -> Vec<Case> {
    fixtures::cases().expect("the fixture cases")
}

const CLIENT_TOKEN: &str = "Bearer client-token";

/// How the harness plays a fixture case.
trait CaseExt {
    fn body(&self) -> Vec<u8>;
    fn client_headers(&self) -> Vec<(String, String)>;
    fn request(&self) -> Request;
}

impl CaseExt for Case {
    fn body(&self) -> Vec<u8> {
        self.request.body().expect("the fixture body")
    }

    /// The request's headers as the client sends them, plus a client
    /// token and spoofed router headers the router must not let through.
    fn client_headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            (":method".to_owned(), self.request.method.clone()),
            (":scheme".to_owned(), "http".to_owned()),
            (":path".to_owned(), self.request.path.clone()),
            (":authority".to_owned(), "gateway.local".to_owned()),
        ];
        headers.extend(self.request.headers.clone());
        let body = self.body();
        if !body.is_empty() && !self.request.headers.contains_key("content-length") {
            headers.push(("content-length".to_owned(), body.len().to_string()));
        }
        headers.push(("authorization".to_owned(), CLIENT_TOKEN.to_owned()));
        headers.push((headers::X_MCP_SERVERNAME.to_owned(), "spoofed".to_owned()));
        headers.push((headers::X_MCP_TOOLNAME.to_owned(), "spoofed".to_owned()));
        headers
    }

    fn request(&self) -> Request {
        let mut request = Request::new(&self.request.method, &self.request.path)
            .body(self.body())
            .without_content_length();
        for (name, value) in self.client_headers().into_iter().skip(4) {
            request = request.header(&name, value);
        }
        request
    }
}

/// Whether the case is a stateless-era (2026-07-28) request.
fn is_modern(case: &Case) -> bool {
    case.request
        .header("mcp-protocol-version")
        .is_some_and(mcp_protocol::versions::is_modern)
}

/// The forwarded headers, sorted, for exact comparison.
fn sorted(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort();
    pairs
}

fn forwarded_headers(stream: &HttpStream) -> Vec<(String, String)> {
    let up = stream.upstream_request().expect("forwarded");
    sorted(
        up.headers
            .iter()
            .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned())),
    )
}

/// The client's headers with the spoofed `x-mcp-*` ones gone.
fn without_router_headers(case: &Case) -> Vec<(String, String)> {
    case.client_headers()
        .into_iter()
        .filter(|(n, _)| !n.starts_with(headers::ROUTER_PREFIX))
        .collect()
}

struct Upstream {
    session: &'static str,
    authorization: Option<&'static str>,
}

/// What the upstream must receive for a routed case: every header, exactly.
fn expected_routed_headers(
    case: &Case,
    server: &serde_json::Value,
    router_headers: &std::collections::BTreeMap<String, String>,
    body_len: usize,
    upstream: &Upstream,
) -> Vec<(String, String)> {
    let forward_auth = server["forwardAuthorization"].as_bool().unwrap_or(false);
    let mut headers: Vec<(String, String)> = without_router_headers(case)
        .into_iter()
        .filter(|(n, _)| {
            !matches!(
                n.as_str(),
                ":path"
                    | ":authority"
                    | "content-length"
                    | "mcp-session-id"
                    | "mcp-protocol-version"
            ) && (n != "authorization" || (forward_auth && upstream.authorization.is_none()))
        })
        .collect();
    let text = |v: &serde_json::Value| v.as_str().expect("string field").to_owned();
    headers.extend([
        (":path".to_owned(), text(&server["path"])),
        (":authority".to_owned(), text(&server["authority"])),
        ("content-length".to_owned(), body_len.to_string()),
        ("mcp-session-id".to_owned(), upstream.session.to_owned()),
        ("mcp-protocol-version".to_owned(), VERSION.to_owned()),
        (headers::X_MCP_SERVERNAME.to_owned(), text(&server["name"])),
    ]);
    headers.extend(
        router_headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    if let Some(cluster) = server["cluster"].as_str() {
        headers.push((headers::X_MCP_CLUSTER.to_owned(), cluster.to_owned()));
    }
    if let Some(auth) = upstream.authorization {
        headers.push(("authorization".to_owned(), auth.to_owned()));
    }
    sorted(headers)
}

fn server_entry(name: &str) -> serde_json::Value {
    route_table_json()["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .expect("server in table")
}

/// Answers a routed stream as its upstream, with the upstream session id,
/// and checks the client sees only the gateway session id; then ends it.
fn complete_routed(stream: &HttpStream, upstream_session: &str) {
    stream
        .respond(
            &Response::ok()
                .header("mcp-session-id", upstream_session)
                .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
        )
        .expect("response passes the filter");
    stream
        .expect_downstream_status(200)
        .expect_downstream_header("mcp-session-id", Some(SESSION));
    stream.finish().expect("stream ends");
}

fn run_case(gateway: &Gateway, case: &Case, cached: bool) -> Result<(), String> {
    let stream = gateway
        .send(&case.request())
        .map_err(|e| format!("the filter failed: {e}"))?;
    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_case(gateway, case, &stream, cached)
    }));
    check.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

fn check_case(gateway: &Gateway, case: &Case, stream: &HttpStream, cached: bool) {
    match &case.expect {
        Expect::Route {
            server,
            headers: router_headers,
            upstream_body,
            bridged,
        } if *bridged || is_modern(case) => {
            // No session to look up: a stateless-era call routed from its
            // headers, or a call the broker bridges.
            stream
                .expect_forwarded()
                .expect_no_calls()
                .expect_upstream_header(headers::X_MCP_SERVERNAME, server)
                .expect_upstream_body(upstream_body);
            let entry = server_entry(server);
            let forward_auth = entry["forwardAuthorization"].as_bool().unwrap_or(false);
            let renamed = router_headers.contains_key("mcp-name");
            let mut expected: Vec<(String, String)> = without_router_headers(case)
                .into_iter()
                .filter(|(n, _)| {
                    let replaced = !*bridged && matches!(n.as_str(), ":path" | ":authority");
                    let credential = !*bridged && n == "authorization" && !forward_auth;
                    let length = n == "content-length" && (renamed || !is_modern(case));
                    let name = renamed && n == "mcp-name";
                    !(replaced || credential || length || name)
                })
                .collect();
            expected.push((headers::X_MCP_SERVERNAME.to_owned(), server.clone()));
            expected.extend(router_headers.iter().map(|(n, v)| (n.clone(), v.clone())));
            if !is_modern(case) {
                // Routed on its body: the spliced body's length.
                expected.push(("content-length".to_owned(), upstream_body.len().to_string()));
            }
            if *bridged {
                expected.push((headers::X_MCP_CLUSTER.to_owned(), BROKER_CLUSTER.to_owned()));
            } else {
                let text = |v: &serde_json::Value| v.as_str().expect("string field").to_owned();
                expected.push((":path".to_owned(), text(&entry["path"])));
                expected.push((":authority".to_owned(), text(&entry["authority"])));
                if let Some(cluster) = entry["cluster"].as_str() {
                    expected.push((headers::X_MCP_CLUSTER.to_owned(), cluster.to_owned()));
                }
            }
            assert_eq!(
                forwarded_headers(stream),
                sorted(expected),
                "{}",
                stream.describe()
            );
            stream.respond(&Response::ok()).expect("response passes");
            stream.expect_downstream_status(200);
            stream.finish().expect("stream ends");
        }
        Expect::Route {
            server,
            headers: router_headers,
            upstream_body,
            ..
        } => {
            let upstream = if cached {
                // (A DELETE case before may have cleared the cache: the
                // router forgets upstream sessions when a session ends.)
                Upstream {
                    session: "up-cached",
                    authorization: None,
                }
            } else {
                let call = stream.expect_held().expect_call_to(BROKER_CLUSTER);
                assert_eq!(call.header(":method"), Some("POST"));
                assert_eq!(call.header(":path"), Some("/v1/upstream-sessions"));
                assert_eq!(call.header(":authority"), Some("broker.local"));
                assert_eq!(call.header("x-mcp-gateway-session"), Some(SESSION));
                assert_eq!(call.json(), serde_json::json!({ "server": server }));
                assert_eq!(call.timeout_ms, 5000);
                let mut session = upstream_session("up-fresh");
                session.authorization = Some("Bearer broker-issued".to_owned());
                stream
                    .vm()
                    .answer(call.token, &broker_answer(&session))
                    .expect("the filter takes the broker's answer");
                Upstream {
                    session: "up-fresh",
                    authorization: Some("Bearer broker-issued"),
                }
            };
            // Every header, the method among them, is compared below.
            stream
                .expect_forwarded()
                .expect_upstream_header(headers::X_MCP_SERVERNAME, server)
                .expect_upstream_body(upstream_body);
            let expected = expected_routed_headers(
                case,
                &server_entry(server),
                router_headers,
                upstream_body.len(),
                &upstream,
            );
            assert_eq!(forwarded_headers(stream), expected, "{}", stream.describe());
            if !cached {
                assert!(
                    cached_session(gateway, server, SESSION).is_some(),
                    "the broker's answer is cached"
                );
            }
            complete_routed(stream, upstream.session);
        }
        Expect::Broker { method } => {
            stream
                .expect_to_broker(method.as_deref())
                .expect_no_calls()
                .expect_upstream_body(case.body());
            let mut expected = without_router_headers(case);
            if let Some(method) = method {
                expected.push((headers::X_MCP_METHOD.to_owned(), method.clone()));
            }
            assert_eq!(
                forwarded_headers(stream),
                sorted(expected),
                "{}",
                stream.describe()
            );
            stream.respond(&Response::ok()).expect("response passes");
            stream.expect_downstream_status(200);
            stream.finish().expect("stream ends");
        }
        Expect::NotMcp => {
            stream.expect_untouched().expect_upstream_body(case.body());
            assert_eq!(
                forwarded_headers(stream),
                sorted(without_router_headers(case)),
                "{}",
                stream.describe()
            );
            stream.respond(&Response::ok()).expect("response passes");
            stream.finish().expect("stream ends");
        }
        Expect::Reject {
            status,
            error_code,
            message_contains,
            id,
        } => {
            let body = stream.expect_jsonrpc_error(*status, *error_code);
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(message_contains.as_str()),
                "message {message:?} should contain {message_contains:?}"
            );
            assert_eq!(
                body["id"],
                id.clone().unwrap_or(serde_json::Value::Null),
                "{}",
                stream.describe()
            );
            // A stateless-era call's headers may have gone on before its
            // body was refused: the upstream never gets a complete request.
            assert!(
                stream.upstream_request().is_none_or(|r| !r.complete),
                "{}",
                stream.describe()
            );
            stream.finish().expect("stream ends");
        }
    }
}

#[test]
fn every_fixture_case_through_the_real_wasm_with_a_cached_session() {
    let gateway = gateway(2);
    let failures: Vec<String> = load()
        .iter()
        .filter_map(|case| {
            for server in ["weather", "files", "search"] {
                seed_session_for(
                    &gateway,
                    server,
                    SESSION,
                    &upstream_session("up-cached"),
                    Some(CLIENT_TOKEN),
                );
            }
            run_case(&gateway, case, true)
                .err()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    for vm in gateway.vms() {
        assert_eq!(vm.failure(), None);
        assert!(vm.pending_calls().is_empty());
    }
}

#[test]
fn every_routed_fixture_case_through_a_broker_round_trip() {
    let gateway = session_api_gateway(2);
    let mut routed = 0;
    let failures: Vec<String> = load()
        .iter()
        .filter(|case| {
            matches!(case.expect, Expect::Route { bridged: false, .. }) && !is_modern(case)
        })
        .filter_map(|case| {
            routed += 1;
            clear_sessions(&gateway, SESSION);
            run_case(&gateway, case, false)
                .err()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(routed >= 8, "fixture file lost routed cases");
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn counters_follow_the_outcomes() {
    let gateway = gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    gateway
        .send(&tools_call(1, "weather_get_alerts"))
        .expect("routed")
        .expect_routed_to("weather");
    gateway
        .send(&tools_call(2, "nope"))
        .expect("refused")
        .expect_jsonrpc_error(200, -32602);
    gateway
        .send(&mcp_post(
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
        ))
        .expect("to broker")
        .expect_to_broker(Some("tools/list"));
    assert_eq!(gateway.metric("mcp_router.requests_routed"), Some(1));
    assert_eq!(gateway.metric("mcp_router.requests_rejected"), Some(1));
    assert_eq!(gateway.metric("mcp_router.requests_to_broker"), Some(1));
    assert_eq!(gateway.metric("mcp_router.session_cache_hit"), Some(1));
    assert_eq!(gateway.metric("mcp_router.config_loaded"), Some(1));
}
