//! The first call of a session to each upstream, both ways the router can
//! open its upstream session (`firstCall`): forwarded by the broker (the
//! default: the call goes to the broker, which opens the session, forwards
//! the call and hands the router the session with the answer) and through
//! the session API (a callout, then the call routed). Real Envoy, the real
//! `.wasm`, the broker, server-everything (answers in SSE) and the Rust
//! SDK's test server, the official Rust client.

use e2e::{Stack, UpstreamKind, client, metrics};
use serde_json::json;

async fn stat(stack: &Stack, name: &str) -> u64 {
    stack
        .envoy_stat(&format!("wasmcustom.mcp_router.{name}"))
        .await
        .expect("Envoy's stats")
}

#[tokio::test]
async fn either_way_a_sessions_calls_are_served_on_one_upstream_handshake_each() {
    for mode in ["forward", "sessionApi"] {
        let stack = Stack::builder()
            .upstream("everything", UpstreamKind::Everything, "everything_")
            .upstream("echo", UpstreamKind::TestServer, "echo_")
            .credential("Bearer e2e-upstream-token")
            .setting("firstCall", json!(mode))
            .start()
            .await
            .expect("stack starts");
        let gateway = client::connect(&stack.gateway_url())
            .await
            .expect("connect");
        for text in ["one", "two", "three"] {
            let echoed = client::call(&gateway, "echo_echo", json!({ "text": text }))
                .await
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert_eq!(client::text_of(&echoed), text, "{mode}");
        }
        for message in ["sse one", "sse two"] {
            let echoed = client::call(&gateway, "everything_echo", json!({ "message": message }))
                .await
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert!(client::text_of(&echoed).contains(message), "{mode}");
        }
        // The credential reached the upstream on the first call too.
        let whoami = client::call(&gateway, "echo_whoami", json!({}))
            .await
            .expect("whoami");
        assert!(
            client::text_of(&whoami).contains("Bearer e2e-upstream-token"),
            "{mode}: {}",
            client::text_of(&whoami)
        );
        assert_eq!(
            metrics::upstream_handshakes(&stack.broker_url("/metrics"), "echo").await,
            1,
            "{mode}"
        );
        assert_eq!(
            metrics::upstream_handshakes(&stack.broker_url("/metrics"), "everything").await,
            1,
            "{mode}"
        );
        let forwarded = stat(&stack, "first_call_forwarded").await;
        let misses = stat(&stack, "session_cache_miss").await;
        assert_eq!(misses, 2, "{mode}: one miss per upstream");
        assert_eq!(forwarded, if mode == "forward" { 2 } else { 0 }, "{mode}");
        assert!(stat(&stack, "session_cache_hit").await >= 4, "{mode}");
        gateway.cancel().await.expect("the client closes");
    }
}
