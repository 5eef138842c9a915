//! Per-identity, per-tool rate limits in the real Envoy (`local_ratelimit`
//! keyed on the router's headers and `jwt_authn`'s verified subject): a
//! limit reached, answered `429` with a JSON-RPC error, other identities
//! and tools unaffected, and the bucket refilled after its window.

use std::time::{Duration, Instant};

use e2e::client::RawSession;
use e2e::jwt::Issuer;
use e2e::{Stack, UpstreamKind};
use serde_json::json;

fn call(tool: &str) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": { "name": tool, "arguments": { "text": "x", "a": 1, "b": 2 } } })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_limit_per_identity_and_tool_is_reached_answered_429_and_refilled() {
    let issuer = Issuer::new("k1");
    let keys = tempfile::tempdir().expect("a directory");
    let authentication = issuer.authentication(keys.path(), "https://mcp.example.test/mcp");
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .setting("authentication", authentication)
        .setting(
            "rateLimits",
            json!([{ "name": "per-caller-tool", "requests": 3, "perSeconds": 2, "key": ["identity", "tool"] }]),
        )
        .start()
        .await
        .expect("stack starts");
    let session = |subject: &str| {
        let token = issuer.token(subject, json!({}));
        let url = stack.gateway_url();
        async move {
            let mut session =
                RawSession::new(&url).with_header("authorization", &format!("Bearer {token}"));
            session.initialize().await.expect("initialize");
            session
        }
    };
    let alice = session("alice").await;
    let bob = session("bob").await;

    // Three calls in the window pass; the fourth is refused before the upstream.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            alice
                .post(&call("echo_echo"))
                .await
                .expect("answered")
                .status,
        );
    }
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    let limited = alice.post(&call("echo_echo")).await.expect("answered");
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.json()["error"]["code"],
        -32000,
        "{}",
        limited.message_text()
    );
    assert!(
        limited.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Too many requests")),
        "{}",
        limited.message_text()
    );
    let limited_at = Instant::now();

    // Another tool, and another identity, have buckets of their own.
    assert_eq!(
        alice
            .post(&call("echo_add"))
            .await
            .expect("answered")
            .status,
        200
    );
    assert_eq!(
        bob.post(&call("echo_echo")).await.expect("answered").status,
        200
    );

    // The bucket refills after its window (2 s), not before.
    loop {
        let status = alice
            .post(&call("echo_echo"))
            .await
            .expect("answered")
            .status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(
            limited_at.elapsed() < Duration::from_secs(5),
            "never refilled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stat = stack
        .envoy_stat("mcp_tool_calls.http_local_rate_limit.rate_limited")
        .await
        .expect("Envoy stats");
    assert!(stat >= 1, "rate_limited stat: {stat}");
}
