//! The MCP endpoint: `POST`, `GET` and `DELETE {mcpPath}`.

use super::*;

use std::time::SystemTime;

use crate::upstream::{Capabilities, Definition, Health, PerEntry, UpstreamState};
use router_config::Entry;

#[tokio::test]
async fn initialize_returns_a_signed_session_and_agrees_to_a_known_version() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, post(None, initialize_body("2025-06-18"))).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let session = reply.header(SESSION_ID).expect("a session id");
    let claims = signer()
        .verify(session)
        .expect("signed with the broker's key");
    assert_eq!(claims.protocol_version, "2025-06-18");

    let body = reply.json();
    assert_eq!(body["id"], 1);
    let result = &body["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18");
    assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
    assert_eq!(result["serverInfo"]["name"], "mcp-wasm-gateway");
    assert!(result["serverInfo"]["version"].is_string());
}

#[tokio::test]
async fn initialize_offers_the_latest_version_for_an_unknown_one() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, post(None, initialize_body("2024-01-01"))).await;
    assert_eq!(
        reply.json()["result"]["protocolVersion"],
        mcp_protocol::versions::LATEST
    );
    let session = reply.header(SESSION_ID).expect("a session id");
    assert_eq!(
        signer().verify(session).expect("valid").protocol_version,
        mcp_protocol::versions::LATEST
    );
}

#[tokio::test]
async fn initialize_without_a_protocol_version_is_invalid_params() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, post(None, call(json!("init-1"), "initialize"))).await;
    reply.assert_rpc_error(StatusCode::OK, -32602, json!("init-1"));
    assert_eq!(reply.header(SESSION_ID), None, "no session is started");
}

#[tokio::test]
async fn a_supported_protocol_version_header_is_accepted() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let request = mcp(Method::POST)
        .header(SESSION_ID, &session)
        .header("MCP-Protocol-Version", "2025-06-18")
        .body(Body::from(call(json!(2), "ping")))
        .expect("a valid request");
    assert_eq!(send(&state, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_without_a_session_is_a_bad_request() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, post(None, call(json!(3), "ping"))).await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32600, json!(3));
}

#[tokio::test]
async fn a_forged_or_foreign_session_is_not_found() {
    let state = broker(NO_SERVERS);
    let foreign = SessionSigner::new(b"another broker".to_vec(), Duration::from_secs(3600)).mint(
        "2025-06-18",
        mcp_protocol::identity::Identity::Anonymous,
        Default::default(),
    );
    for session in ["forged-session", foreign.as_str()] {
        let reply = send(&state, post(Some(session), call(json!(4), "ping"))).await;
        reply.assert_rpc_error(StatusCode::NOT_FOUND, -32001, json!(4));
    }
}

#[tokio::test]
async fn notifications_and_client_responses_are_accepted() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let messages = [
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 1 } }),
        json!({ "jsonrpc": "2.0", "id": "s-1", "result": { "roots": [] } }),
        json!({ "jsonrpc": "2.0", "id": 9, "error": { "code": -1, "message": "no" } }),
    ];
    for message in messages {
        let reply = send(&state, post(Some(&session), message.to_string())).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{message}");
        assert!(reply.body.is_empty(), "{message}");
    }
}

#[tokio::test]
async fn ping_answers_an_empty_result_with_the_callers_id() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(&state, post(Some(&session), call(json!("p-1"), "ping"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({ "jsonrpc": "2.0", "id": "p-1", "result": {} })
    );
}

#[tokio::test]
async fn tools_list_serves_the_catalogs_exposed_tools() {
    let state = broker(
        "servers:\n- { name: weather, url: \"http://127.0.0.1:9/mcp\", prefix: weather_ }\n",
    );
    let session = start_session(&state, "2025-06-18").await;
    let empty = send(&state, post(Some(&session), call(json!(1), "tools/list"))).await;
    assert_eq!(empty.json()["result"], json!({ "tools": [] }));

    let forecast = json!({
        "name": "forecast",
        "description": "Weather for a city",
        "inputSchema": { "type": "object" }
    });
    publish_ready(&state, "weather", vec![forecast]);

    let reply = send(&state, post(Some(&session), call(json!(2), "tools/list"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({
            "jsonrpc": "2.0",
            "id": 2,
            "result": { "tools": [{
                "name": "weather_forecast",
                "description": "Weather for a city",
                "inputSchema": { "type": "object" }
            }] }
        })
    );
}

#[tokio::test]
async fn an_unknown_method_is_not_found_and_echoes_the_id() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    // Routed methods reach the broker only when nothing routed them; with
    // no upstream offering logging, logging/setLevel is not offered either.
    for method in [
        "tools/call",
        "prompts/get",
        "resources/read",
        "completion/complete",
        "logging/setLevel",
        "x/y",
    ] {
        let reply = send(&state, post(Some(&session), call(json!(42), method))).await;
        reply.assert_rpc_error(StatusCode::OK, -32601, json!(42));
    }
}

#[tokio::test]
async fn every_list_is_answered_in_one_page_and_a_cursor_is_refused() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    for (method, member) in [
        ("tools/list", "tools"),
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ] {
        let reply = send(&state, post(Some(&session), call(json!(5), method))).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["result"], json!({ member: [] }), "{method}");
        let with_cursor = json!({
            "jsonrpc": "2.0", "id": 6, "method": method, "params": { "cursor": "abc" }
        })
        .to_string();
        let reply = send(&state, post(Some(&session), with_cursor)).await;
        reply.assert_rpc_error(StatusCode::OK, -32602, json!(6));
    }
}

#[tokio::test]
async fn a_batch_is_refused() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let batch = format!("[{}]", call(json!(1), "ping"));
    let reply = send(&state, post(Some(&session), batch)).await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32600, Value::Null);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_parse_error() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(&state, post(Some(&session), "{\"jsonrpc\": \"2.0\", ")).await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32700, Value::Null);
}

#[tokio::test]
async fn an_invalid_message_with_a_readable_id_echoes_it() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let reply = send(&state, post(Some(&session), r#"{"id":7,"method":"ping"}"#)).await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32600, json!(7));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let state = broker("limits: { maxRequestBodyBytes: 1024 }\n");
    let session = start_session(&state, "2025-06-18").await;
    let padded = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping", "params": { "pad": "x".repeat(2048) } });
    let reply = send(&state, post(Some(&session), padded.to_string())).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn delete_ends_the_session() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let delete = || {
        mcp(Method::DELETE)
            .header(SESSION_ID, &session)
            .body(Body::empty())
            .expect("a valid request")
    };
    assert_eq!(send(&state, delete()).await.status, StatusCode::OK);

    let after = send(&state, post(Some(&session), call(json!(5), "ping"))).await;
    after.assert_rpc_error(StatusCode::NOT_FOUND, -32001, json!(5));
    assert_eq!(send(&state, delete()).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_without_a_session_is_a_bad_request() {
    let state = broker(NO_SERVERS);
    let request = mcp(Method::DELETE)
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(send(&state, request).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn get_without_accepting_an_event_stream_is_not_acceptable() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let request = Request::get("/mcp")
        .header(mcp_protocol::headers::X_MCP_GATEWAY_TOKEN, GATEWAY_TOKEN)
        .header(SESSION_ID, &session)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .expect("a valid request");
    let reply = send(&state, request).await;
    reply.assert_rpc_error(StatusCode::NOT_ACCEPTABLE, -32600, Value::Null);
}

#[tokio::test]
async fn get_without_a_session_is_a_bad_request() {
    let state = broker(NO_SERVERS);
    let request = mcp(Method::GET)
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(send(&state, request).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn get_opens_a_stream_that_announces_tool_list_changes() {
    let state = broker(
        "servers:\n- { name: weather, url: \"http://127.0.0.1:9/mcp\", prefix: weather_ }\n",
    );
    let session = start_session(&state, "2025-06-18").await;
    let request = mcp(Method::GET)
        .header(SESSION_ID, &session)
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .expect("a valid request");
    let response = open(&state, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );

    publish_ready(
        &state,
        "weather",
        vec![json!({ "name": "forecast", "inputSchema": { "type": "object" } })],
    );
    let frame = tokio::time::timeout(PATIENCE, response.into_body().frame())
        .await
        .expect("an event arrives")
        .expect("the stream is open")
        .expect("the stream is readable")
        .into_data()
        .expect("a data frame");
    let text = String::from_utf8_lossy(&frame);
    let data = text
        .strip_prefix("data: ")
        .expect("an SSE data line")
        .trim_end();
    assert_eq!(
        serde_json::from_str::<Value>(data).expect("a JSON-RPC message"),
        json!({ "jsonrpc": "2.0", "method": "notifications/tools/list_changed" })
    );
}

#[tokio::test]
async fn a_foreign_origin_is_forbidden() {
    let state = broker(NO_SERVERS);
    for origin in [
        "https://evil.example",
        "http://localhost.evil.example",
        "null",
    ] {
        let request = mcp(Method::POST)
            .header(header::ORIGIN, origin)
            .body(Body::from(initialize_body("2025-06-18")))
            .expect("a valid request");
        let reply = send(&state, request).await;
        reply.assert_rpc_error(StatusCode::FORBIDDEN, -32003, Value::Null);
        assert_eq!(reply.header(SESSION_ID), None, "{origin}");
    }
}

#[tokio::test]
async fn a_foreign_origin_cannot_end_a_session() {
    let state = broker(NO_SERVERS);
    let session = start_session(&state, "2025-06-18").await;
    let request = mcp(Method::DELETE)
        .header(SESSION_ID, &session)
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(send(&state, request).await.status, StatusCode::FORBIDDEN);
    let ping = send(&state, post(Some(&session), call(json!(1), "ping"))).await;
    assert_eq!(ping.status, StatusCode::OK, "the session lives on");
}

#[tokio::test]
async fn loopback_and_configured_origins_are_allowed() {
    let state = broker("allowedOrigins: [\"https://app.example\"]\n");
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1",
        "http://[::1]:8080",
        "https://app.example",
    ] {
        let request = mcp(Method::POST)
            .header(header::ORIGIN, origin)
            .body(Body::from(initialize_body("2025-06-18")))
            .expect("a valid request");
        assert_eq!(
            send(&state, request).await.status,
            StatusCode::OK,
            "{origin}"
        );
    }
}

/// Publishes `tools` as the ready state of `server` and recomposes, as the
/// publisher task would.
fn publish_ready(state: &AppState, server: &str, tools: Vec<Value>) {
    let catalog = PerEntry {
        tool: tools
            .iter()
            .map(|tool| {
                Definition::parse(Entry::Tool, &tool.to_string()).expect("a tool definition")
            })
            .collect(),
        ..PerEntry::default()
    };
    state.catalog.publish(
        server,
        UpstreamState {
            health: Health::Ready,
            catalog,
            capabilities: Capabilities {
                tools: true,
                ..Capabilities::default()
            },
            protocol_version: Some("2025-06-18".to_owned()),
            last_change: SystemTime::now(),
            ..UpstreamState::connecting()
        },
    );
    let runtime = state.runtime.load();
    let (_, changed) = state.catalog.recompose(
        &runtime.route_table_settings(),
        &runtime.specs,
        runtime.clusters(),
    );
    assert!(changed.tool, "the exposed tool list changed");
}

#[tokio::test]
async fn initialize_advertises_what_ready_upstreams_offer_and_keeps_what_the_client_declared() {
    let state =
        broker("servers:\n- { name: docs, url: \"http://127.0.0.1:9/mcp\", prefix: docs_ }\n");
    // Nothing discovered yet: tools only.
    let reply = send(&state, post(None, initialize_body("2025-06-18"))).await;
    assert_eq!(
        reply.json()["result"]["capabilities"],
        json!({ "tools": { "listChanged": true } })
    );
    let mut ready = UpstreamState {
        health: Health::Ready,
        capabilities: Capabilities {
            tools: true,
            prompts: true,
            resources: true,
            resources_subscribe: true,
            completions: true,
            logging: true,
        },
        ..UpstreamState::connecting()
    };
    ready.catalog.prompt =
        vec![Definition::parse(Entry::Prompt, r#"{"name":"brief"}"#).expect("a prompt")];
    state.catalog.publish("docs", ready);
    let runtime = state.runtime.load();
    state.catalog.recompose(
        &runtime.route_table_settings(),
        &runtime.specs,
        runtime.clusters(),
    );
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": { "sampling": {}, "roots": { "listChanged": true }, "experimental": {} },
            "clientInfo": { "name": "test-client", "version": "1" }
        }
    });
    let reply = send(&state, post(None, body.to_string())).await;
    assert_eq!(
        reply.json()["result"]["capabilities"],
        json!({
            "tools": { "listChanged": true },
            "prompts": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true },
            "completions": {},
            "logging": {}
        })
    );
    let session = reply.header(SESSION_ID).expect("a session id");
    let claims = state.signer().verify(session).expect("a valid session id");
    assert_eq!(
        claims.client_capabilities.to_json(),
        json!({ "sampling": {}, "roots": { "listChanged": true } }),
        "what upstream handshakes of this session will declare"
    );
    let listed = send(&state, post(Some(session), call(json!(2), "prompts/list"))).await;
    assert_eq!(
        listed.json()["result"],
        json!({ "prompts": [{ "name": "docs_brief" }] })
    );
}

#[tokio::test]
async fn logging_set_level_is_kept_for_the_session_and_checked() {
    let state =
        broker("servers:\n- { name: docs, url: \"http://127.0.0.1:9/mcp\", prefix: docs_ }\n");
    state.catalog.publish(
        "docs",
        UpstreamState {
            health: Health::Ready,
            capabilities: Capabilities {
                logging: true,
                ..Capabilities::default()
            },
            ..UpstreamState::connecting()
        },
    );
    let runtime = state.runtime.load();
    state.catalog.recompose(
        &runtime.route_table_settings(),
        &runtime.specs,
        runtime.clusters(),
    );
    let session = start_session(&state, "2025-06-18").await;
    let set = |level: &str| {
        json!({ "jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": { "level": level } })
            .to_string()
    };
    let reply = send(&state, post(Some(&session), set("loud"))).await;
    reply.assert_rpc_error(StatusCode::OK, -32602, json!(3));
    assert_eq!(
        state.sessions.log_level(&session).await.expect("read"),
        None
    );
    let reply = send(&state, post(Some(&session), set("warning"))).await;
    assert_eq!(reply.json()["result"], json!({}), "{reply:?}");
    assert_eq!(
        state
            .sessions
            .log_level(&session)
            .await
            .expect("read")
            .as_deref(),
        Some("warning")
    );
}
