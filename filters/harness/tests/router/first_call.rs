//! First calls forwarded by the broker (`broker.firstCall: forward`, the
//! default; `router_config::session_api`, "The first call"): a call the
//! session cache has nothing for goes to the broker without a callout, the
//! session comes back on the answer, is cached and never reaches the
//! client; the broker's refusals pass, an unreachable broker is a JSON-RPC
//! error, and a lost session's retry names the stale id.

use crate::common::*;
use mcp_protocol::headers;
use proxy_wasm_harness::Response;
use router_config::session_api::UpstreamSessionResponse;

/// The broker's answer to a first call: the upstream's response plus the
/// session record.
fn forwarded(status: u32, session: &UpstreamSessionResponse) -> Response {
    Response::status(status)
        .header(
            headers::X_MCP_UPSTREAM_SESSION,
            serde_json::to_string(session).expect("serialises"),
        )
        .header(
            headers::SESSION_ID,
            session.session_id.as_deref().unwrap_or_default(),
        )
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#)
}

#[test]
fn a_miss_goes_to_the_broker_without_a_callout_and_its_session_is_cached() {
    let gateway = gateway(2);
    let request = tools_call(1, "weather_get_forecast").header("authorization", "Bearer client");
    let first = gateway.vm(0).send(&request).expect("runs");
    first
        .expect_no_calls()
        .expect_forwarded()
        .expect_upstream_header(headers::X_MCP_CLUSTER, BROKER_CLUSTER)
        .expect_upstream_header(headers::X_MCP_FIRST_CALL, "-")
        .expect_upstream_header(headers::X_MCP_SERVERNAME, "weather")
        .expect_upstream_header(headers::X_MCP_TOOLNAME, "get_forecast")
        // The broker checks the caller with the client's own headers.
        .expect_upstream_header("authorization", "Bearer client")
        .expect_upstream_header(headers::SESSION_ID, SESSION)
        .expect_upstream_body(
            serde_json::json!({
                "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "get_forecast", "arguments": {}}
            })
            .to_string(),
        );
    let mut session = upstream_session("up-7");
    session.authorization = Some("Bearer weather-cred".to_owned());
    first.respond(&forwarded(200, &session)).expect("passes");
    first
        .expect_downstream_status(200)
        .expect_downstream_header(headers::SESSION_ID, Some(SESSION))
        .expect_downstream_header(headers::X_MCP_UPSTREAM_SESSION, None);
    first.finish().expect("ends");
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-7".to_owned())))
    );
    assert_eq!(gateway.metric("mcp_router.first_call_forwarded"), Some(1));
    // The next call, on another worker, goes straight to the upstream with
    // the cached session and its credential.
    gateway
        .vm(1)
        .send(&tools_call(2, "weather_get_alerts").header("authorization", "Bearer client"))
        .expect("runs")
        .expect_no_calls()
        .expect_routed_to("weather")
        .expect_no_upstream_header(headers::X_MCP_FIRST_CALL)
        .expect_upstream_header(headers::SESSION_ID, "up-7")
        .expect_upstream_header("authorization", "Bearer weather-cred");
}

#[test]
fn the_brokers_refusals_reach_the_client_and_only_an_unknown_session_is_remembered() {
    let gateway = gateway(1);
    let refusal = |status: u32, code: i64| {
        Response::status(status)
            .header("content-type", "application/json")
            .json(&serde_json::json!({
                "jsonrpc": "2.0", "id": 5, "error": {"code": code, "message": "from the broker"}
            }))
    };
    for (answer, status, remembered) in [
        (refusal(403, -32003), 403, None),
        (refusal(429, -32000), 429, None),
        (refusal(200, -32000), 200, None),
        (refusal(404, -32001), 404, Some(Cached::Ended)),
    ] {
        let stream = gateway
            .send(&tools_call(5, "weather_get_alerts"))
            .expect("runs");
        stream.expect_upstream_header(headers::X_MCP_FIRST_CALL, "-");
        stream.respond(&answer).expect("no trap");
        assert!(stream.local_response().is_none(), "{}", stream.describe());
        stream.expect_downstream_status(status);
        assert!(
            stream
                .downstream_response()
                .is_some_and(|r| r.body_str().contains("from the broker")),
            "{}",
            stream.describe()
        );
        stream.finish().expect("ends");
        assert_eq!(cached_session(&gateway, "weather", SESSION), remembered);
    }
    // The ended session is refused at once, without the broker.
    let call = gateway
        .send(&tools_call(6, "weather_get_alerts"))
        .expect("runs");
    call.expect_jsonrpc_error(404, -32001);
}

#[test]
fn an_unreachable_broker_is_a_json_rpc_error_and_the_next_call_asks_again() {
    let gateway = gateway(1);
    for status in [502, 503, 504] {
        let stream = gateway
            .send(&tools_call(7, "weather_get_alerts"))
            .expect("runs");
        stream
            .respond(&Response::status(status).body("upstream connect error"))
            .expect("no trap");
        let body = stream.expect_jsonrpc_error(200, -32000);
        assert_eq!(body["id"], 7);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("broker cannot be reached")),
            "{body}"
        );
        assert_eq!(cached_session(&gateway, "weather", SESSION), None);
    }
    gateway
        .send(&tools_call(8, "weather_get_alerts"))
        .expect("runs")
        .expect_upstream_header(headers::X_MCP_FIRST_CALL, "-");
}

#[test]
fn an_unreadable_record_is_not_cached_but_the_answer_still_hides_the_upstream_session() {
    let gateway = gateway(1);
    for record in [
        "{not json",
        r#"{"sessionId":"a b","protocolVersion":"2025-06-18"}"#,
    ] {
        let stream = gateway
            .send(&tools_call(9, "weather_get_alerts"))
            .expect("runs");
        stream
            .respond(
                &Response::ok()
                    .header(headers::X_MCP_UPSTREAM_SESSION, record)
                    .header(headers::SESSION_ID, "up-secret")
                    .body("{}"),
            )
            .expect("no trap");
        stream
            .expect_downstream_status(200)
            .expect_downstream_header(headers::SESSION_ID, Some(SESSION))
            .expect_downstream_header(headers::X_MCP_UPSTREAM_SESSION, None);
        stream.finish().expect("ends");
        assert_eq!(cached_session(&gateway, "weather", SESSION), None);
    }
    assert!(gateway.metric("mcp_router.session_api_error") >= Some(2));
}

#[test]
fn a_lost_sessions_retry_names_the_stale_id_to_the_broker() {
    let gateway = gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-old"));
    let stream = gateway
        .send(&tools_call(10, "weather_get_alerts"))
        .expect("runs");
    stream.expect_routed_to("weather");
    stream
        .respond(&Response::status(404).body("session gone"))
        .expect("no trap");
    stream.expect_jsonrpc_error(200, -32000);
    let retry = gateway
        .send(&tools_call(11, "weather_get_alerts"))
        .expect("runs");
    retry
        .expect_no_calls()
        .expect_upstream_header(headers::X_MCP_FIRST_CALL, "up-old");
    retry
        .respond(&forwarded(200, &upstream_session("up-new")))
        .expect("passes");
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-new".to_owned())))
    );
}

#[test]
fn a_record_on_a_routed_calls_answer_is_not_taken() {
    // Only the broker's answer to a first call may carry a session: an
    // upstream that sends the header on a routed call changes nothing.
    let gateway = gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    let stream = gateway
        .send(&tools_call(12, "weather_get_alerts"))
        .expect("runs");
    stream.expect_routed_to("weather");
    stream
        .respond(&forwarded(200, &upstream_session("up-forged")))
        .expect("passes");
    stream.finish().expect("ends");
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-1".to_owned())))
    );
}
