//! First calls forwarded by the broker, against the scripted upstream.

use super::*;

/// A routed call the router had no upstream session for, as it sends it to
/// the broker (`router_config::session_api`, "The first call").
fn first_call(session: &str, stale: &str, body: &str) -> Request<Body> {
    mcp(Method::POST)
        .header(SESSION_ID, session)
        .header(mcp_protocol::headers::X_MCP_FIRST_CALL, stale)
        .header(mcp_protocol::headers::X_MCP_SERVERNAME, "weather")
        .header(mcp_protocol::headers::X_MCP_METHOD, "tools/call")
        .header("cookie", "client-secret")
        .header("user-agent", "test-client/1")
        .body(Body::from(body.to_owned()))
        .expect("a valid request")
}

#[tokio::test]
async fn a_first_call_is_forwarded_on_the_session_it_opens_and_hands_the_router_the_session() {
    let upstream = Arc::new(Upstream::default());
    let state = broker_of(&serve(upstream.clone()).await);
    let session = start_session(&state, "2025-06-18").await;
    // Odd spacing: the upstream must get these very bytes.
    let body = r#"{"jsonrpc":"2.0", "id":7,"method":"tools/call","params":{"name":"get","arguments":{"a":  1}}}"#;
    let reply = send(&state, first_call(&session, "-", body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({ "jsonrpc": "2.0", "id": 7, "result": { "content": [] } }),
        "the upstream's answer"
    );
    let expires = state
        .signer()
        .verify(&session)
        .expect("valid")
        .expires_at_unix();
    let record: Value = serde_json::from_str(
        reply
            .header(mcp_protocol::headers::X_MCP_UPSTREAM_SESSION)
            .expect("the session comes with the answer"),
    )
    .expect("the record is JSON");
    assert_eq!(
        record,
        json!({
            "sessionId": "up-1",
            "protocolVersion": "2025-06-18",
            "expiresAt": expires,
            "authorization": "Bearer upstream-secret"
        })
    );
    assert_eq!(
        reply.header(SESSION_ID),
        Some("up-1"),
        "the router maps it back"
    );

    let calls = upstream.calls.lock().expect("not poisoned").clone();
    let [(sent, sent_body)] = calls.as_slice() else {
        panic!("one call reached the upstream: {calls:?}");
    };
    assert_eq!(sent_body.as_ref(), body.as_bytes());
    let header = |name: &str| sent.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header(SESSION_ID), Some("up-1"));
    assert_eq!(header("mcp-protocol-version"), Some("2025-06-18"));
    assert_eq!(header("authorization"), Some("Bearer upstream-secret"));
    assert_eq!(header("user-agent"), Some("test-client/1"));
    // The router's routing headers go on, as on a routed call.
    assert_eq!(
        header(mcp_protocol::headers::X_MCP_SERVERNAME),
        Some("weather")
    );
    assert_eq!(
        header(mcp_protocol::headers::X_MCP_METHOD),
        Some("tools/call")
    );
    for gone in [
        "cookie",
        mcp_protocol::headers::X_MCP_FIRST_CALL,
        mcp_protocol::headers::X_MCP_GATEWAY_TOKEN,
    ] {
        assert_eq!(header(gone), None, "{gone} does not reach the upstream");
    }
    assert_eq!(
        upstream
            .seen()
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>(),
        ["initialize", "notifications/initialized", "tools/call"]
    );

    // A stale session named by the router is replaced by a new handshake.
    let reply = send(&state, first_call(&session, "up-1", body)).await;
    let record: Value = serde_json::from_str(
        reply
            .header(mcp_protocol::headers::X_MCP_UPSTREAM_SESSION)
            .expect("a record"),
    )
    .expect("JSON");
    assert_eq!(record["sessionId"], "up-2");
}

#[tokio::test]
async fn a_first_call_the_broker_refuses_carries_no_session_and_reaches_no_upstream() {
    let upstream = Arc::new(Upstream::default());
    let state = broker_of(&serve(upstream.clone()).await);
    let body = r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get"}}"#;
    let reply = send(&state, first_call("not-a-session", "-", body)).await;
    reply.assert_rpc_error(StatusCode::NOT_FOUND, -32001, json!(8));
    assert_eq!(
        reply.header(mcp_protocol::headers::X_MCP_UPSTREAM_SESSION),
        None
    );
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());

    // An unreachable upstream: a JSON-RPC error, no record.
    let state = broker_of("http://127.0.0.1:9/mcp");
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(&state, first_call(&session, "-", body)).await;
    assert_eq!(
        reply.header(mcp_protocol::headers::X_MCP_UPSTREAM_SESSION),
        None
    );
    assert!(reply.json()["error"]["code"].is_i64(), "{reply:?}");
}
