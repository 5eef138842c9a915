//! The stateless era (MCP 2026-07-28) on the broker's endpoint: discover,
//! lists with their caching hints, listen, and every refusal with its
//! status and code.

use super::*;

use axum::http::HeaderValue;

const VERSION: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "modern-test", "version": "1" }
    })
}

/// A modern request: headers that agree with `params`, which gets `_meta`.
fn modern(id: Value, method: &str, mut params: Value) -> Request<Body> {
    params["_meta"] = meta();
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    mcp(Method::POST)
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", method)
        .body(Body::from(body.to_string()))
        .expect("a valid request")
}

#[tokio::test]
async fn discover_names_every_version_and_what_the_gateway_offers() {
    let state = broker(NO_SERVERS);
    let reply = send(&state, modern(json!("d-1"), "server/discover", json!({}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let result = &reply.json()["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(
        result["capabilities"]["tools"],
        json!({ "listChanged": true })
    );
    assert_eq!(result["cacheScope"], "public");
    assert!(result["ttlMs"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-wasm-gateway"
    );
    assert!(
        reply.header(SESSION_ID).is_none(),
        "no sessions in this era"
    );
}

#[tokio::test]
async fn lists_carry_result_type_and_caching_hints() {
    let state = broker(NO_SERVERS);
    for (method, member) in [
        ("tools/list", "tools"),
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ] {
        let reply = send(&state, modern(json!(1), method, json!({}))).await;
        assert_eq!(
            reply.json()["result"],
            json!({ member: [], "resultType": "complete", "ttlMs": 30000, "cacheScope": "public" }),
            "{method}"
        );
    }
}

#[tokio::test]
async fn every_refusal_has_the_status_and_code_of_the_revision() {
    let state = broker(NO_SERVERS);
    let no_meta = mcp(Method::POST)
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "tools/list")
        .body(Body::from(call(json!(1), "tools/list")))
        .expect("a request");
    send(&state, no_meta)
        .await
        .assert_rpc_error(StatusCode::BAD_REQUEST, -32602, json!(1));

    let wrong_method = {
        let mut request = modern(json!(2), "tools/list", json!({}));
        request
            .headers_mut()
            .insert("mcp-method", HeaderValue::from_static("prompts/list"));
        request
    };
    send(&state, wrong_method)
        .await
        .assert_rpc_error(StatusCode::BAD_REQUEST, -32020, json!(2));

    let no_method_header = {
        let mut request = modern(json!(3), "tools/list", json!({}));
        request.headers_mut().remove("mcp-method");
        request
    };
    send(&state, no_method_header).await.assert_rpc_error(
        StatusCode::BAD_REQUEST,
        -32020,
        json!(3),
    );

    let unsupported = {
        let mut request = modern(json!(4), "tools/list", json!({}));
        request.headers_mut().insert(
            "mcp-protocol-version",
            HeaderValue::from_static("2031-01-01"),
        );
        request
    };
    let reply = send(&state, unsupported).await;
    reply.assert_rpc_error(StatusCode::BAD_REQUEST, -32022, Value::Null);
    assert_eq!(reply.json()["error"]["data"]["requested"], "2031-01-01");

    // Gone in this revision.
    for method in ["ping", "initialize", "logging/setLevel", "x/y"] {
        send(&state, modern(json!(5), method, json!({})))
            .await
            .assert_rpc_error(StatusCode::NOT_FOUND, -32601, json!(5));
    }
    for method in [Method::GET, Method::DELETE] {
        let request = mcp(method)
            .header("mcp-protocol-version", VERSION)
            .header(header::ACCEPT, "text/event-stream")
            .body(Body::empty())
            .expect("a request");
        assert_eq!(
            send(&state, request).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    // A notification is accepted and does nothing; the next request works.
    let notification = mcp(Method::POST)
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "notifications/cancelled")
        .body(Body::from(
            json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "_meta": meta() } })
                .to_string(),
        ))
        .expect("a request");
    assert_eq!(
        send(&state, notification).await.status,
        StatusCode::ACCEPTED
    );
    let reply = send(&state, modern(json!(6), "tools/list", json!({}))).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn listen_acknowledges_first_then_tags_every_change_with_its_id() {
    let state = broker(
        "servers:\n- { name: weather, url: \"http://127.0.0.1:9/mcp\", prefix: weather_ }\n",
    );
    let request = modern(
        json!(42),
        "subscriptions/listen",
        json!({ "notifications": { "toolsListChanged": true, "promptsListChanged": true, "resourceSubscriptions": ["x://1"] } }),
    );
    let response = open(&state, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut next_event = async || -> Value {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .expect("an event arrives")
            .expect("the stream is open")
            .expect("readable")
            .into_data()
            .expect("data");
        let text = String::from_utf8_lossy(&frame).into_owned();
        let data = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("a data line")
            .to_owned();
        serde_json::from_str(&data).expect("JSON")
    };
    let ack = next_event().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"],
        json!({
            "_meta": { "io.modelcontextprotocol/subscriptionId": 42 },
            // No upstream offers prompts; resource subscriptions are not honored.
            "notifications": { "toolsListChanged": true }
        })
    );
    publish_tool(&state, "weather", "forecast");
    let changed = next_event().await;
    assert_eq!(
        changed,
        json!({
            "jsonrpc": "2.0",
            "method": "notifications/tools/list_changed",
            "params": { "_meta": { "io.modelcontextprotocol/subscriptionId": 42 } }
        })
    );
}

/// Publishes one tool on `server` and puts the catalog in force.
fn publish_tool(state: &AppState, server: &str, tool: &str) {
    use crate::upstream::{Capabilities, Definition, Health, PerEntry, UpstreamState};
    let definition = json!({ "name": tool, "inputSchema": { "type": "object" } }).to_string();
    let catalog = PerEntry {
        tool: vec![Definition::parse(router_config::Entry::Tool, &definition).expect("a tool")],
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
            ..UpstreamState::connecting()
        },
    );
    let runtime = state.runtime.load();
    state.catalog.recompose(
        &runtime.route_table_settings(),
        &runtime.specs,
        runtime.clusters(),
    );
}
