//! Two gateways (each an Envoy with the router and a broker) in front of
//! the same upstream, sharing one real Redis (`sessionStore`): a session
//! opened through one is listed, called and ended through the other, with
//! one upstream session between them.

use std::time::{Duration, Instant};

use e2e::Stack;
use e2e::client::RawSession;
use e2e::redis::RedisServer;
use serde_json::Value;

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"hi"}}}"#;
const LIST: &[u8] = br#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;

async fn stats(stack: &Stack) -> Value {
    reqwest::get(stack.upstreams[0].admin_url("/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

fn count(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or_default()
}

/// The same gateway session, sent to another gateway.
fn on(url: &str, session: &RawSession) -> RawSession {
    let mut other = RawSession::new(url);
    other.session_id = session.session_id.clone();
    other
}

#[tokio::test]
async fn a_session_opened_on_one_replica_lists_calls_and_ends_on_the_other() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let (a, b) = Stack::replicas(&redis.url()).await.expect("gateways start");
    for stack in [&a, &b] {
        stack
            .wait_for_status("echo's tools", Duration::from_secs(20), |s| {
                s["tools"].as_array().is_some_and(|t| !t.is_empty())
            })
            .await
            .expect("the catalogue fills");
    }
    let before = stats(&a).await;

    let mut on_a = RawSession::new(&a.gateway_url());
    assert_eq!(on_a.initialize().await.expect("initialize").status, 200);
    let on_b = on(&b.gateway_url(), &on_a);

    let called = on_a.post(CALL).await.expect("call on a");
    assert_eq!(called.status, 200, "{}", called.message_text());
    let called = on_b.post(CALL).await.expect("call on b");
    assert_eq!(called.status, 200, "{}", called.message_text());
    assert!(
        called.message_text().contains("hi"),
        "{}",
        called.message_text()
    );
    let listed = on_b.post(LIST).await.expect("list on b");
    assert_eq!(listed.status, 200);
    assert!(listed.message_text().contains("echo_echo"));

    let after = stats(&a).await;
    assert_eq!(
        count(&after, "sessions_initialized") - count(&before, "sessions_initialized"),
        1,
        "one upstream session serves both gateways: before {before}, after {after}"
    );
    assert_eq!(
        count(&after, "tool_calls") - count(&before, "tool_calls"),
        2
    );

    assert_eq!(on_b.delete().await.expect("delete on b"), 200);
    // Ended through b: a refuses it. Its router may still hold the upstream
    // session for one revalidation period, but b's broker closes that
    // upstream session as it ends the gateway session (in the background),
    // and the upstream's 404 sends a back to its broker, which has read
    // the end from Redis. Bounded: the close takes milliseconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let refused = on_a.post(CALL).await.expect("call on a");
        if refused.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a still serves an ended session: {} {}",
            refused.status,
            refused.message_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = on_a.post(LIST).await.expect("list on a");
    assert_eq!(listed.status, 404, "the broker of a knows it ended");
}
