//! The gateway end to end: real Envoy with the real `mcp_router.wasm`, the
//! broker, real upstream MCP servers (server-everything on the TypeScript
//! SDK, mcp-test-server on the Rust SDK), and the official Rust MCP client.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::client::{self, RawSession};
use e2e::{Stack, UpstreamKind};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn names(tools: &[rmcp::model::Tool]) -> BTreeSet<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn tools_of_both_upstreams_are_listed_with_their_prefixes() {
    let stack = Stack::standard().await.expect("stack starts");
    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect to gateway");
    let listed = names(&gateway.list_all_tools().await.expect("tools/list"));

    // Discovery declares every client feature (some servers list more tools
    // to clients that can sample or elicit), so the gateway lists what a
    // client declaring the same sees directly.
    let mut expected = BTreeSet::new();
    for upstream in &stack.upstreams {
        let mut direct = client::RawSession::new(&upstream.url());
        if let Some(credential) = &upstream.credential {
            direct = direct.with_header("authorization", credential);
        }
        direct
            .initialize_declaring(&client::discovery_capabilities())
            .await
            .expect("connect to upstream");
        for tool in direct.list_all("tools/list", "tools").await {
            let tool: serde_json::Value = serde_json::from_str(tool.get()).expect("JSON");
            expected.insert(format!(
                "{}{}",
                upstream.prefix,
                tool["name"].as_str().expect("a name")
            ));
        }
    }
    assert!(listed.contains("everything_echo"), "{listed:?}");
    assert!(listed.contains("echo_add"), "{listed:?}");
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn a_call_through_the_gateway_answers_like_the_upstream_itself() {
    let stack = Stack::standard().await.expect("stack starts");
    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect to gateway");
    let everything = client::connect(&stack.upstreams[0].url())
        .await
        .expect("direct");
    let echo = client::connect(&stack.upstreams[1].url())
        .await
        .expect("direct");

    let via = client::call(&gateway, "everything_get-sum", json!({"a": 2, "b": 40}))
        .await
        .expect("call");
    let direct = client::call(&everything, "get-sum", json!({"a": 2, "b": 40}))
        .await
        .expect("call");
    assert_eq!(client::text_of(&via), client::text_of(&direct));
    assert!(client::text_of(&via).contains("42"), "{via:?}");

    let via = client::call(&gateway, "echo_echo", json!({"text": "héllo ☃"}))
        .await
        .expect("call");
    let direct = client::call(&echo, "echo", json!({"text": "héllo ☃"}))
        .await
        .expect("call");
    assert_eq!(via.content, direct.content);
    assert_eq!(client::text_of(&via), "héllo ☃");
}

#[tokio::test]
async fn the_router_injects_the_server_credential_and_its_own_headers_only() {
    let stack = Stack::standard().await.expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url())
        .with_header("authorization", "Bearer client-token-must-not-leak");
    session.initialize().await.expect("initialize");
    let response = session
        .post_with(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_whoami","arguments":{}}}"#,
            &[
                ("x-mcp-servername", "forged"),
                ("x-mcp-toolname", "forged"),
            ],
        )
        .await
        .expect("call");
    assert_eq!(response.status, 200);
    let text = String::from_utf8_lossy(&response.body);
    assert!(
        text.contains(r#"\"authorization\":\"Bearer e2e-upstream-token\""#),
        "{text}"
    );
    assert!(!text.contains("client-token-must-not-leak"), "{text}");
    assert!(text.contains(r#"\"x-mcp-servername\":\"echo\""#), "{text}");
    assert!(text.contains(r#"\"x-mcp-toolname\":\"whoami\""#), "{text}");
    assert!(!text.contains("forged"), "{text}");
    // The client only ever sees its gateway session id.
    if let Some(id) = response.header("mcp-session-id") {
        assert_eq!(Some(id), session.session_id.as_deref());
    }
}

#[tokio::test]
async fn an_unknown_tool_is_a_json_rpc_error_naming_it() {
    let stack = Stack::standard().await.expect("stack starts");
    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect");
    let error = client::call(&gateway, "no_such_tool", json!({}))
        .await
        .expect_err("unknown tool fails");
    let text = error.to_string();
    assert!(text.contains("Unknown tool: no_such_tool"), "{text}");
    // The session still works.
    let ok = client::call(&gateway, "echo_echo", json!({"text": "still here"}))
        .await
        .expect("call");
    assert_eq!(client::text_of(&ok), "still here");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_json_rpc_errors_and_the_next_request_is_served() {
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .max_body_bytes(64 * 1024)
        .start()
        .await
        .expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");

    let cases: &[(&[u8], u16, i64)] = &[
        (b"{not json", 400, -32700),
        (
            b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
            400,
            -32600,
        ),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1}", 400, -32600),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7}}",
            200,
            -32602,
        ),
        (&[0xff, 0xfe, 0x00], 400, -32700),
    ];
    for (body, status, code) in cases {
        let response = session.post(body).await.expect("answered");
        assert_eq!(
            response.status,
            *status,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.json()["error"]["code"], *code);
    }

    let big = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"echo_echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(100 * 1024)
    );
    let response = session.post(big.as_bytes()).await.expect("answered");
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["code"], -32600);
    assert!(
        response.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("65536")
    );

    let fits = format!(
        r#"{{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{{"name":"echo_echo","arguments":{{"text":"{}"}}}}}}"#,
        "y".repeat(60 * 1024)
    );
    let response = session.post(fits.as_bytes()).await.expect("answered");
    assert_eq!(response.status, 200);
    assert!(String::from_utf8_lossy(&response.body).contains(&"y".repeat(1000)));
}

#[tokio::test]
async fn many_concurrent_first_calls_of_a_session_make_one_upstream_handshake() {
    let stack = Stack::standard().await.expect("stack starts");
    let stats = stack.upstreams[1].admin_url("/stats");
    let before: Value = reqwest::get(&stats)
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");

    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect");
    let calls = (0..24).map(|i| {
        let gateway = &gateway;
        async move { client::call(gateway, "echo_add", json!({"a": i, "b": 1})).await }
    });
    let results = futures::future::join_all(calls).await;
    for (i, result) in results.iter().enumerate() {
        let result = result.as_ref().expect("call succeeds");
        assert_eq!(client::text_of(result), format!("{}", i + 1));
    }

    let after: Value = reqwest::get(&stats)
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let handshakes = after["sessions_initialized"].as_u64().unwrap_or(0)
        - before["sessions_initialized"].as_u64().unwrap_or(0);
    assert_eq!(handshakes, 1, "before {before}, after {after}");
    assert_eq!(
        after["tool_calls"].as_u64().unwrap_or(0) - before["tool_calls"].as_u64().unwrap_or(0),
        24
    );
}

#[tokio::test]
async fn an_upstream_restart_is_recovered_through_404_invalidation() {
    let mut stack = Stack::standard().await.expect("stack starts");
    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect");
    client::call(&gateway, "echo_echo", json!({"text": "before"}))
        .await
        .expect("call");

    stack
        .upstream("echo")
        .start()
        .await
        .expect("restart the rmcp server");
    let lost = client::call(&gateway, "echo_echo", json!({"text": "lost"}))
        .await
        .expect_err("the old upstream session is gone");
    assert!(lost.to_string().contains("retry"), "{lost}");
    let after = client::call(&gateway, "echo_echo", json!({"text": "after"}))
        .await
        .expect("recovered");
    assert_eq!(client::text_of(&after), "after");
    assert!(
        stack
            .envoy_stat("wasmcustom.mcp_router.upstream_session_lost")
            .await
            .expect("stats")
            >= 1
    );
}

#[tokio::test]
async fn a_server_everything_restart_is_recovered_too_though_it_answers_400() {
    let mut stack = Stack::standard().await.expect("stack starts");
    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect");
    client::call(&gateway, "everything_echo", json!({"message": "before"}))
        .await
        .expect("call");

    stack
        .upstream("everything")
        .start()
        .await
        .expect("restart server-everything");
    let _lost = client::call(&gateway, "everything_echo", json!({"message": "lost"}))
        .await
        .expect_err("the old upstream session is gone");
    let after = client::call(&gateway, "everything_echo", json!({"message": "after"}))
        .await
        .expect("recovered");
    assert!(client::text_of(&after).contains("after"));
}

#[tokio::test]
async fn a_route_table_change_reaches_the_filter_without_restarting_envoy() {
    let mut stack = Stack::standard().await.expect("stack starts");
    let envoy_pid = stack.envoy_pid();
    let gateway = client::connect(&stack.gateway_url())
        .await
        .expect("connect");
    client::call(&gateway, "echo_echo", json!({"text": "old prefix"}))
        .await
        .expect("call");

    stack
        .change_config(|config| config["servers"][1]["prefix"] = json!("renamed_"))
        .expect("rewrite config");
    stack
        .wait_for_status("the new prefix in the broker", WAIT, |status| {
            status["tools"]
                .as_array()
                .is_some_and(|tools| tools.iter().any(|t| t["name"] == "renamed_echo"))
        })
        .await
        .expect("broker reloaded");
    // Envoy swaps the filter configuration in on its own schedule: poll the
    // routed call until the new name routes.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match client::call(&gateway, "renamed_echo", json!({"text": "new prefix"})).await {
            Ok(result) => {
                assert_eq!(client::text_of(&result), "new prefix");
                break;
            }
            Err(error) if tokio::time::Instant::now() < deadline => {
                assert!(error.to_string().contains("Unknown tool"), "{error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("renamed tool never routed: {error}"),
        }
    }
    let old = client::call(&gateway, "echo_echo", json!({"text": "x"}))
        .await
        .expect_err("old name gone");
    assert!(old.to_string().contains("Unknown tool"), "{old}");
    assert_eq!(stack.envoy_pid(), envoy_pid);
    assert!(stack.envoy_is_running());
    let listed = names(&gateway.list_all_tools().await.expect("tools/list"));
    assert!(
        listed.contains("renamed_add") && !listed.contains("echo_add"),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_tool_added_upstream_is_announced_and_routed() {
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .refresh_seconds(300)
        .start()
        .await
        .expect("stack starts");
    let handler = client::Handler::default();
    let changed = handler.tools_changed.clone();
    let gateway = client::connect_with(&stack.gateway_url(), handler)
        .await
        .expect("connect");
    assert!(!names(&gateway.list_all_tools().await.expect("list")).contains("echo_late"));

    // The refresh interval is long: only list_changed can bring the tool in.
    let status = reqwest::Client::new()
        .post(stack.upstreams[0].admin_url("/admin/enable-late"))
        .send()
        .await
        .expect("enable late")
        .status();
    assert_eq!(status.as_u16(), 204);
    tokio::time::timeout(WAIT, changed.notified())
        .await
        .expect("the gateway announces tools/list_changed");
    assert!(names(&gateway.list_all_tools().await.expect("list")).contains("echo_late"));
    let result = client::call(&gateway, "echo_late", json!({}))
        .await
        .expect("routed");
    assert_eq!(client::text_of(&result), "late");
}

/// The tools listed after the `tools/list_changed` announcements that end
/// with a list `done` accepts. Lists follow the route table the proxy has
/// loaded (so they agree with what it routes), and the broker announces a
/// change once the proxy routes with it: a list asked between the broker's
/// new table and the proxy's reload is still the old one.
async fn listed_once_announced(
    gateway: &client::Client,
    changed: &tokio::sync::Notify,
    done: impl Fn(&BTreeSet<String>) -> bool,
) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = names(&gateway.list_all_tools().await.expect("list"));
        if done(&listed) {
            return listed;
        }
        assert!(
            tokio::time::timeout_at(deadline, changed.notified())
                .await
                .is_ok(),
            "no tools/list_changed brought the change: {listed:?}"
        );
    }
}

#[tokio::test]
async fn a_down_upstream_loses_its_tools_and_gets_them_back() {
    let mut stack = Stack::standard().await.expect("stack starts");
    let handler = client::Handler::default();
    let changed = handler.tools_changed.clone();
    let gateway = client::connect_with(&stack.gateway_url(), handler)
        .await
        .expect("connect");

    stack.upstream("echo").stop();
    stack
        .wait_for_status("echo marked down", WAIT, |s| {
            s["servers"][1]["health"] == "down"
        })
        .await
        .expect("down");
    let listed = listed_once_announced(&gateway, &changed, |listed| {
        !listed.iter().any(|n| n.starts_with("echo_"))
    })
    .await;
    assert!(listed.contains("everything_echo"));
    let error = client::call(&gateway, "echo_echo", json!({"text": "x"}))
        .await
        .expect_err("down");
    assert!(error.to_string().contains("unavailable"), "{error}");

    stack.upstream("echo").start().await.expect("restart");
    stack
        .wait_for_status("echo ready again", WAIT, |s| {
            s["servers"][1]["health"] == "ready"
        })
        .await
        .expect("ready");
    listed_once_announced(&gateway, &changed, |listed| listed.contains("echo_echo")).await;
    let result = client::call(&gateway, "echo_echo", json!({"text": "back"}))
        .await
        .expect("routed");
    assert_eq!(client::text_of(&result), "back");
}

#[tokio::test]
async fn ending_a_session_ends_its_upstream_sessions_and_later_calls_get_404() {
    let stack = Stack::standard().await.expect("stack starts");
    let mut session = RawSession::new(&stack.gateway_url());
    session.initialize().await.expect("initialize");
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"a"}}}"#;
    assert_eq!(session.post(call).await.expect("call").status, 200);
    assert_eq!(session.delete().await.expect("delete"), 200);

    let after = session.post(call).await.expect("answered");
    assert_eq!(after.status, 404);
    assert_eq!(after.json()["error"]["code"], -32001);
    let ping = session
        .post(br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        .await
        .expect("answered");
    assert_eq!(ping.status, 404);
}

#[tokio::test]
async fn requests_without_a_session_or_with_a_forged_one_are_refused() {
    let stack = Stack::standard().await.expect("stack starts");
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"a"}}}"#;
    let no_session = RawSession::new(&stack.gateway_url());
    let response = no_session.post(call).await.expect("answered");
    assert_eq!(response.status, 400);

    let mut forged = RawSession::new(&stack.gateway_url());
    forged.session_id = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned());
    let response = forged.post(call).await.expect("answered");
    assert_eq!(response.status, 404);
    assert_eq!(response.json()["error"]["code"], -32001);
}
