//! Calls that need the caller's approval, on the real router and broker:
//! an official SDK client (TypeScript) is asked with an elicitation and
//! accepts or declines; one without the capability is refused; a
//! stateless-era client gets the question as an `input_required` result.
//! An approved call returns the upstream's result; a refused one returns
//! the gateway's error; the broker logs and counts every decision.

use e2e::{Stack, UpstreamKind, metrics, node};
use serde_json::{Value, json};

/// Runs `approval-client.mjs` against `url`: calls `tool` with `arguments`,
/// answering elicitations with `action` (`none`: no capability).
async fn client(url: String, tool: &str, arguments: Value, action: &str) -> Value {
    let args = vec![
        url,
        tool.to_owned(),
        arguments.to_string(),
        action.to_owned(),
    ];
    node::report("approval-client.mjs", args).await
}

async fn approvals(stack: &Stack, outcome: &str) -> u64 {
    let text = metrics::scrape(&stack.broker_url("/metrics")).await;
    metrics::sum(&text, "mcp_broker_approvals_total", &[("outcome", outcome)])
}

#[tokio::test]
async fn a_call_needing_approval_is_forwarded_only_when_the_client_accepts() {
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .setting(
            "policy",
            json!({ "approval": { "tools": ["echo_add"], "destructive": true } }),
        )
        .start()
        .await
        .expect("stack starts");
    let url = stack.gateway_url();

    let accepted = client(url.clone(), "echo_add", json!({ "a": 2, "b": 3 }), "accept").await;
    assert_eq!(accepted["result"]["content"][0]["text"], "5", "{accepted}");
    let asked = accepted["asked"][0].as_str().unwrap_or_default();
    assert!(
        asked.contains("\"echo_add\"") && asked.contains("\"echo\"") && asked.contains(r#""a":2"#),
        "the question names the tool, the server and the arguments: {asked}"
    );

    for action in ["decline", "cancel"] {
        let refused = client(url.clone(), "echo_add", json!({ "a": 2, "b": 3 }), action).await;
        assert_eq!(
            refused["asked"].as_array().map(Vec::len),
            Some(1),
            "{refused}"
        );
        let error = refused["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("needs approval and was not approved"),
            "{action}: {error}"
        );
    }
    let unable = client(url.clone(), "echo_add", json!({ "a": 2, "b": 3 }), "none").await;
    let error = unable["error"].as_str().unwrap_or_default();
    assert!(error.contains("elicitation client capability"), "{error}");

    // A tool that needs no approval is not asked about.
    let echoed = client(url.clone(), "echo_echo", json!({ "text": "hi" }), "accept").await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi", "{echoed}");
    assert_eq!(echoed["asked"], json!([]));

    assert_eq!(approvals(&stack, "approved").await, 1);
    assert_eq!(approvals(&stack, "declined").await, 1);
    assert_eq!(approvals(&stack, "cancelled").await, 1);
    assert_eq!(approvals(&stack, "unavailable").await, 1);
    let log = std::fs::read_to_string(stack.dir().join("broker.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("tool call approval") && l.contains("declined")),
        "the decision is in the broker's log"
    );
}

#[tokio::test]
async fn a_stateless_era_client_is_asked_with_input_required() {
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .setting("policy", json!({ "approval": { "tools": ["echo_add"] } }))
        .start()
        .await
        .expect("stack starts");
    let http = reqwest::Client::new();
    let call = |responses: Option<Value>, capabilities: Value| {
        let mut params = json!({
            "name": "echo_add", "arguments": { "a": 1, "b": 1 },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": capabilities,
            }
        });
        if let Some(responses) = responses {
            params["inputResponses"] = responses;
        }
        let body = json!({ "jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": params });
        http.post(stack.gateway_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo_add")
            .body(body.to_string())
            .send()
    };
    let elicitation = json!({ "elicitation": {} });
    let asked: Value = call(None, elicitation.clone())
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(asked["id"], 11);
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    assert_eq!(
        asked["result"]["inputRequests"]["approval"]["method"],
        "elicitation/create"
    );
    let approved: Value = call(
        Some(json!({ "approval": { "action": "accept" } })),
        elicitation.clone(),
    )
    .await
    .expect("answered")
    .json()
    .await
    .expect("JSON");
    assert_eq!(approved["result"]["content"][0]["text"], "2", "{approved}");
    let declined: Value = call(
        Some(json!({ "approval": { "action": "decline" } })),
        elicitation,
    )
    .await
    .expect("answered")
    .json()
    .await
    .expect("JSON");
    assert_eq!(declined["error"]["code"], -32003, "{declined}");
    let unable = call(None, json!({})).await.expect("answered");
    assert_eq!(unable.status(), 400);
    let unable: Value = unable.json().await.expect("JSON");
    assert_eq!(unable["error"]["code"], -32021, "{unable}");
}
