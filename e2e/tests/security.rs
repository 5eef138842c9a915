//! What a hostile client can and cannot do, on real Envoy with the real
//! `mcp_router.wasm`, the broker and real upstreams: one test per finding
//! of the hostile probe (the README's "Security" section says what each
//! guarantee is).

use std::future::Future;
use std::time::{Duration, Instant};

use e2e::client::RawSession;
use e2e::{Stack, UpstreamKind, metrics};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

const WHOAMI: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_whoami","arguments":{}}}"#;
const PING: &[u8] = br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;

/// Polls `check` until it holds; fails the test after [`WAIT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn echo_stack() -> e2e::stack::StackBuilder {
    Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .credential("Bearer upstream-credential")
}

/// The `whoami` tool's report of what the upstream received.
fn whoami_report(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let envelope: Value = text
        .lines()
        .find_map(|line| serde_json::from_str(line.trim_start_matches("data: ")).ok())
        .unwrap_or(Value::Null);
    let inner = envelope["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    serde_json::from_str(inner).unwrap_or_else(|_| panic!("no whoami report in {text}"))
}

#[tokio::test]
async fn the_session_api_and_the_mcp_endpoint_answer_only_the_gateways_envoy() {
    let stack = echo_stack().start().await.expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    let gateway_session = session.session_id.clone().expect("a session");
    let http = reqwest::Client::new();
    // A client that reaches the broker's port directly, with a real session.
    let call = http
        .post(stack.broker_url("/v1/upstream-sessions"))
        .header("x-mcp-gateway-session", &gateway_session)
        .header("x-mcp-gateway-token", "a guess")
        .json(&json!({ "server": "echo" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(call.status(), 401);
    let body = call.text().await.expect("body");
    assert!(!body.contains("upstream-credential"), "{body}");
    let direct = http
        .post(stack.broker_url("/mcp"))
        .header("mcp-session-id", &gateway_session)
        .header("content-type", "application/json")
        .body(PING)
        .send()
        .await
        .expect("answered");
    assert_eq!(direct.status(), 401);
    // Through Envoy the same calls work, and the upstream gets its
    // credential from Envoy itself: neither the route table, Envoy's
    // configuration dump nor the router ever holds it.
    let routed = session.post(WHOAMI).await.expect("answered");
    assert_eq!(routed.status, 200);
    assert_eq!(
        whoami_report(&routed.body)["authorization"],
        "Bearer upstream-credential"
    );
    let dump = http
        .get(stack.admin_url("/config_dump?include_eds"))
        .send()
        .await
        .expect("admin")
        .text()
        .await
        .expect("dump");
    assert!(
        dump.contains("mcp_upstream_echo"),
        "the per-server cluster is loaded"
    );
    assert!(
        !dump.contains("upstream-credential"),
        "Envoy redacts SDS secrets"
    );
    let table = std::fs::read_to_string(stack.dir().join("ecds/mcp-router.json")).expect("table");
    assert!(!table.contains("upstream-credential"));
}

#[tokio::test]
async fn an_expired_session_is_refused_on_the_cached_path() {
    let stack = echo_stack()
        .setting("sessionMaxAgeSeconds", json!(3))
        .start()
        .await
        .expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    // Cached now.
    assert_eq!(session.post(WHOAMI).await.expect("answered").status, 200);
    assert_eq!(session.post(WHOAMI).await.expect("answered").status, 200);
    eventually("the broker to call the session expired", || async {
        session.post(PING).await.is_ok_and(|r| r.status == 404)
    })
    .await;
    let refused = session.post(WHOAMI).await.expect("answered");
    assert_eq!(
        refused.status,
        404,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(refused.json()["error"]["code"], -32001);
}

#[tokio::test]
async fn an_ended_session_is_refused_on_the_cached_path() {
    let stack = echo_stack().start().await.expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    assert_eq!(session.post(WHOAMI).await.expect("answered").status, 200);
    assert_eq!(session.delete().await.expect("answered"), 200);
    let refused = session.post(WHOAMI).await.expect("answered");
    assert_eq!(refused.status, 404);
    assert_eq!(refused.json()["error"]["code"], -32001);
}

#[tokio::test]
async fn a_new_session_key_ends_every_session_at_once() {
    let mut stack = echo_stack().start().await.expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    assert_eq!(session.post(WHOAMI).await.expect("answered").status, 200);
    let loaded = stack
        .envoy_stat("wasmcustom.mcp_router.config_loaded")
        .await
        .expect("stats");
    stack
        .change_config(|config| config["sessionKey"] = json!({ "value": "a brand new key" }))
        .expect("config written");
    // The broker publishes a table naming the new key; Envoy swaps it in.
    eventually("Envoy to load the table of the new key", || async {
        stack
            .envoy_stat("wasmcustom.mcp_router.config_loaded")
            .await
            .is_ok_and(|n| n > loaded)
    })
    .await;
    let refused = session.post(WHOAMI).await.expect("answered");
    assert_eq!(
        refused.status,
        404,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    // A new session works.
    let mut fresh = RawSession::new(&stack.gateway_url());
    fresh.initialize().await.expect("initialize");
    assert_eq!(fresh.post(WHOAMI).await.expect("answered").status, 200);
}

#[tokio::test]
async fn a_session_cannot_be_used_by_another_identity() {
    let stack = echo_stack().start().await.expect("stack starts");
    let mut alice =
        RawSession::new(&stack.gateway_url()).with_header("authorization", "Bearer alice");
    alice.initialize().await.expect("initialize");
    assert_eq!(alice.post(WHOAMI).await.expect("answered").status, 200);
    let mut mallory =
        RawSession::new(&stack.gateway_url()).with_header("authorization", "Bearer mallory");
    mallory.session_id = alice.session_id.clone();
    for body in [WHOAMI, PING] {
        let refused = mallory.post(body).await.expect("answered");
        assert_eq!(
            refused.status,
            403,
            "{}",
            String::from_utf8_lossy(&refused.body)
        );
        assert_eq!(refused.json()["error"]["code"], -32003);
    }
    let mut anonymous = RawSession::new(&stack.gateway_url());
    anonymous.session_id = alice.session_id.clone();
    assert_eq!(anonymous.post(WHOAMI).await.expect("answered").status, 403);
    // The owner carries on.
    assert_eq!(alice.post(WHOAMI).await.expect("answered").status, 200);
}

#[tokio::test]
async fn a_request_the_upstream_rejects_does_not_cost_a_new_upstream_session() {
    let stack = Stack::builder()
        .upstream("everything", UpstreamKind::Everything, "everything_")
        .start()
        .await
        .expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    let echo = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"everything_echo","arguments":{{"message":"hi"}}}}}}"#
        )
    };
    assert_eq!(
        session
            .post(echo("1").as_bytes())
            .await
            .expect("answered")
            .status,
        200
    );
    let before = metrics::upstream_handshakes(&stack.broker_url("/metrics"), "everything").await;
    assert_eq!(before, 1);
    // server-everything answers an id of 1.5 with a 400: the client gets it,
    // and the upstream session stays.
    for _ in 0..5 {
        let rejected = session
            .post(echo("1.5").as_bytes())
            .await
            .expect("answered");
        assert_eq!(rejected.status, 400);
    }
    let after = session.post(echo("2").as_bytes()).await.expect("answered");
    assert_eq!(after.status, 200);
    assert!(String::from_utf8_lossy(&after.body).contains("Echo: hi"));
    assert_eq!(
        metrics::upstream_handshakes(&stack.broker_url("/metrics"), "everything").await,
        before
    );
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_on_routed_calls() {
    let stack = echo_stack()
        .setting("allowedOrigins", json!(["https://app.example"]))
        .start()
        .await
        .expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    for extra in [
        ("origin", "http://evil.example:8080"),
        ("host", "evil.example"),
    ] {
        let refused = session.post_with(WHOAMI, &[extra]).await.expect("answered");
        assert_eq!(refused.status, 403, "{extra:?}");
        assert_eq!(refused.json()["error"]["code"], -32003);
    }
    let allowed = session
        .post_with(WHOAMI, &[("origin", "https://app.example")])
        .await
        .expect("answered");
    assert_eq!(allowed.status, 200);
}

#[tokio::test]
async fn client_credentials_reach_no_upstream_that_did_not_opt_in_and_underscores_are_refused() {
    let stack = echo_stack().start().await.expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    let routed = session
        .post_with(
            WHOAMI,
            &[
                ("cookie", "sid=client-secret"),
                ("proxy-authorization", "Basic Y2xpZW50"),
                ("x-api-key", "client-key"),
                ("api-key", "client-key-2"),
                ("x-auth-token", "client-token"),
            ],
        )
        .await
        .expect("answered");
    assert_eq!(routed.status, 200);
    let received = whoami_report(&routed.body);
    for name in [
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-auth-token",
    ] {
        assert!(
            received["headers"].get(name).is_none(),
            "{name} reached the upstream: {received}"
        );
    }
    let underscored = session
        .post_with(WHOAMI, &[("x_mcp_servername", "forged")])
        .await
        .expect("answered");
    assert_eq!(
        underscored.status, 400,
        "Envoy refuses underscores in header names"
    );
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_initialize_is_rate_limited() {
    let stack = echo_stack()
        .setting(
            "limits",
            json!({ "requestHeadersTimeoutSeconds": 1, "initializePerSecond": 2 }),
        )
        .start()
        .await
        .expect("stack starts");
    // Headers that never end: Envoy closes the connection after a second.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", stack.gateway_port))
        .await
        .expect("connects");
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("writes");
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, slow.read_to_end(&mut rest))
        .await
        .expect("the connection is closed")
        .ok();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cut off in {:?}",
        started.elapsed()
    );
    assert!(
        rest.is_empty() || String::from_utf8_lossy(&rest).contains("408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );

    // A burst of initialize: beyond the bucket (2 a second, burst 4) the
    // gateway answers 429 with a JSON-RPC error.
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..12 {
        let mut session = RawSession::new(&stack.gateway_url());
        let response = session.initialize().await.expect("answered");
        if response.status == 429 {
            limited = Some(response.json());
        }
        statuses.push(response.status);
    }
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 4,
        "{statuses:?}"
    );
    let limited = limited.unwrap_or_else(|| panic!("none limited: {statuses:?}"));
    assert_eq!(limited["jsonrpc"], "2.0");
    assert_eq!(limited["error"]["code"], -32000);
    // The bucket refills: initialize works again.
    eventually("initialize to be accepted again", || async {
        RawSession::new(&stack.gateway_url())
            .initialize()
            .await
            .is_ok_and(|r| r.status == 200)
    })
    .await;
}
