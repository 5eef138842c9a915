//! Every MCP request leaves an audit line, and every tool call a metric: the
//! real Envoy's JSON access log and its Prometheus stats, through the real
//! router, with real JWTs.

use std::time::{Duration, Instant};

use e2e::client::RawSession;
use e2e::jwt::Issuer;
use e2e::{Stack, UpstreamKind, metrics};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn call(tool: &str, arguments: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments } })
    .to_string()
    .into_bytes()
}

/// The access log's JSON lines so far.
fn audit_lines(stack: &Stack) -> Vec<Value> {
    std::fs::read_to_string(stack.dir().join("envoy.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("mcp_method").is_some())
        .collect()
}

/// Polls until a line matching `wanted` is logged (Envoy flushes its log
/// about once a second); fails after [`WAIT`].
async fn logged(stack: &Stack, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        if let Some(line) = audit_lines(stack).into_iter().find(|l| wanted(l)) {
            return line;
        }
        assert!(
            start.elapsed() < WAIT,
            "no audit line for {what}: {:#?}",
            audit_lines(stack)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn calls_leave_an_audit_line_and_a_metric_by_server_tool_and_outcome() {
    let issuer = Issuer::new("k1");
    let keys = tempfile::tempdir().expect("a directory");
    let authentication = issuer.authentication(keys.path(), "https://mcp.example.test/mcp");
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .setting("authentication", authentication)
        .setting(
            "policy",
            json!({ "rules": [{ "name": "users", "groups": ["users"],
                "allow": [{ "server": "echo", "tools": ["echo"] }] }] }),
        )
        .start()
        .await
        .expect("stack starts");
    let token = issuer.token("ann", json!({ "groups": ["users"] }));
    let mut session = RawSession::new(&stack.gateway_url())
        .with_header("authorization", &format!("Bearer {token}"));
    session.initialize().await.expect("initialize");
    let gateway_session = session.session_id.clone().expect("a session");
    for _ in 0..2 {
        let answer = session
            .post(&call("echo_echo", json!({ "text": "hi" })))
            .await
            .expect("call");
        assert_eq!(answer.message()["result"]["content"][0]["text"], "hi");
    }
    let refused = session
        .post(&call("echo_add", json!({ "a": 1, "b": 2 })))
        .await
        .expect("call");
    assert_eq!(refused.message()["error"]["code"], -32003);

    // The audit lines: who, which session (by its tag), what, how it ended.
    let tag = mcp_protocol::session_id::log_tag(&gateway_session);
    let routed = logged(&stack, "the routed call", |l| l["tool"] == "echo").await;
    assert_eq!(routed["identity"], "ann");
    assert_eq!(routed["mcp_method"], "tools/call");
    assert_eq!(routed["server"], "echo");
    assert_eq!(routed["session"], tag);
    assert_eq!(routed["status"], 200);
    assert_eq!(routed["refusal"], Value::Null, "{routed}");
    assert!(
        routed["upstream"]
            .as_str()
            .is_some_and(|u| u.starts_with("127.0.0.1:")),
        "{routed}"
    );
    assert!(routed["duration_ms"].is_number(), "{routed}");
    let forbidden = logged(&stack, "the refused call", |l| {
        l["refusal"] == "not_allowed"
    })
    .await;
    assert_eq!(forbidden["identity"], "ann");
    assert_eq!(forbidden["session"], tag);
    logged(&stack, "initialize", |l| l["mcp_method"] == "initialize").await;
    let log = std::fs::read_to_string(stack.dir().join("envoy.log")).unwrap_or_default();
    assert!(
        !log.contains(&gateway_session),
        "the session id itself is never logged"
    );

    // The metrics, in Envoy's Prometheus output.
    let text = metrics::scrape(&stack.admin_url("/stats/prometheus")).await;
    let calls = [("server", "echo"), ("tool", "echo"), ("outcome", "ok")];
    assert_eq!(
        metrics::sum(&text, "mcp_tool_calls_total", &calls),
        2,
        "{}",
        text.lines()
            .filter(|l| l.contains("mcp_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(metrics::sum(&text, "mcp_router_requests_forbidden", &[]), 1);
    assert!(
        text.contains("envoy_cluster_upstream_rq_time_bucket"),
        "per-upstream latency histograms"
    );
}
