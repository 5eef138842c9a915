//! Upstream sessions step by step, with the session API for first calls
//! (`broker.firstCall: sessionApi`; the default, forwarding, is in
//! `first_call.rs`): cache hit, miss → broker call → resume,
//! broker errors and timeouts, concurrent requests of one session (on one
//! VM and across VMs), 404 invalidation, session id mapping on responses,
//! and the session's end.

use crate::common::*;
use mcp_protocol::headers;
use proxy_wasm_harness::{Request, Response};

#[test]
fn a_cached_session_routes_at_once() {
    let gateway = session_api_gateway(1);
    let mut session = upstream_session("up-1");
    session.authorization = Some("Bearer weather-cred".to_owned());
    seed_session_for(
        &gateway,
        "weather",
        SESSION,
        &session,
        Some("Bearer client"),
    );
    let stream = gateway
        .send(&tools_call(1, "weather_get_alerts").header("authorization", "Bearer client"))
        .expect("runs");
    stream
        .expect_routed_to("weather")
        .expect_no_calls()
        .expect_upstream_header(headers::SESSION_ID, "up-1")
        .expect_upstream_header(headers::PROTOCOL_VERSION, VERSION)
        .expect_upstream_header("authorization", "Bearer weather-cred");
}

#[test]
fn a_miss_asks_the_broker_then_resumes_and_every_vm_sees_the_cache() {
    let gateway = session_api_gateway(2);
    let first = gateway
        .vm(0)
        .send(&tools_call(1, "weather_get_forecast"))
        .expect("runs");
    let call = first.expect_held().expect_call_to(BROKER_CLUSTER);
    assert_eq!(call.json(), serde_json::json!({"server": "weather"}));
    assert_eq!(call.header(headers::X_MCP_GATEWAY_SESSION), Some(SESSION));
    assert_eq!(call.context, first.id(), "the call belongs to the request");
    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&upstream_session("up-7")))
        .expect("resumes");
    first
        .expect_routed_to("weather")
        .expect_upstream_header(headers::SESSION_ID, "up-7");
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-7".to_owned())))
    );
    // Another worker finds it in shared data.
    gateway
        .vm(1)
        .send(&tools_call(2, "weather_get_alerts"))
        .expect("runs")
        .expect_no_calls()
        .expect_routed_to("weather")
        .expect_upstream_header(headers::SESSION_ID, "up-7");
    // A session per server: another server is another miss.
    gateway
        .vm(1)
        .send(&tools_call(3, "read_file"))
        .expect("runs")
        .expect_held()
        .expect_call_to(BROKER_CLUSTER);
}

#[test]
fn broker_errors_become_json_rpc_errors_and_are_not_cached() {
    let cases: Vec<(Response, u32, i64, &str)> = vec![
        (
            Response::status(404).json(&serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32001, "message": "unknown session"}
            })),
            404,
            -32001,
            "Session not found",
        ),
        (
            Response::status(502).json(&serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32000, "message": "connection refused by weather"}
            })),
            200,
            -32000,
            "connection refused by weather",
        ),
        (
            Response::status(503).body("<html>down</html>"),
            200,
            -32000,
            "HTTP 503",
        ),
        (Response::ok().body("{not json"), 200, -32000, "unreadable"),
        (
            Response::ok().json(&serde_json::json!({
                "sessionId": "a\r\nx-evil: 1", "protocolVersion": VERSION
            })),
            200,
            -32000,
            "unreadable",
        ),
    ];
    let gateway = session_api_gateway(1);
    for (answer, status, code, message) in cases {
        let stream = gateway
            .send(&tools_call(11, "weather_get_alerts"))
            .expect("runs");
        let call = stream.expect_call_to(BROKER_CLUSTER);
        gateway
            .vm(0)
            .answer(call.token, &answer)
            .expect("no trap, no breach");
        let body = stream.expect_jsonrpc_error(status, code);
        assert_eq!(body["id"], 11);
        let text = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{text:?} should mention {message:?}"
        );
        // Only "the session is unknown" is remembered (refused without
        // asking, for a while); failures are retried on the next call.
        let expected = (status == 404).then_some(Cached::Ended);
        assert_eq!(cached_session(&gateway, "weather", SESSION), expected);
        clear_sessions(&gateway, SESSION);
        stream.finish().expect("ends");
    }
    assert!(gateway.metric("mcp_router.session_api_error") >= Some(4));
}

#[test]
fn a_broker_timeout_is_an_upstream_error_and_the_next_request_retries() {
    let gateway = session_api_gateway(1);
    let stream = gateway
        .send(&tools_call(4, "weather_get_alerts"))
        .expect("runs");
    let call = stream.expect_call_to(BROKER_CLUSTER);
    gateway.vm(0).fail_call(call.token).expect("no trap");
    let body = stream.expect_jsonrpc_error(200, -32000);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("did not answer"))
    );
    let retry = gateway
        .send(&tools_call(5, "weather_get_alerts"))
        .expect("runs");
    let call = retry.expect_call_to(BROKER_CLUSTER);
    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&upstream_session("up-9")))
        .expect("resumes");
    retry.expect_routed_to("weather");
}

#[test]
fn an_unreachable_or_unknown_broker_cluster_is_answered_at_once() {
    for builder in [
        host().gateway().unreachable_cluster(BROKER_CLUSTER),
        // No cluster at all: Envoy refuses the call with BAD_ARGUMENT.
        host().gateway(),
    ] {
        let gateway = builder
            .plugin_config(session_api_table_json().to_string())
            .start()
            .expect("starts");
        let stream = gateway
            .send(&tools_call(6, "weather_get_alerts"))
            .expect("no trap");
        let body = stream.expect_jsonrpc_error(200, -32000);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("cannot be reached"))
        );
        stream.expect_no_calls();
    }
}

#[test]
fn concurrent_first_calls_of_one_session_each_resume_their_own_request() {
    let gateway = session_api_gateway(2);
    let a = gateway
        .vm(0)
        .send(&tools_call(21, "weather_get_alerts"))
        .expect("runs");
    let b = gateway
        .vm(0)
        .send(&tools_call(22, "weather_get_forecast"))
        .expect("runs");
    let c = gateway
        .vm(1)
        .send(&tools_call(23, "weather_new_tool"))
        .expect("runs");
    let (call_a, call_b, call_c) = (
        a.expect_call_to(BROKER_CLUSTER),
        b.expect_call_to(BROKER_CLUSTER),
        c.expect_call_to(BROKER_CLUSTER),
    );
    assert_ne!(call_a.token, call_b.token);
    // A request that needs no session goes through meanwhile.
    gateway
        .vm(0)
        .send(&mcp_post(
            r#"{"jsonrpc":"2.0","id":24,"method":"tools/list"}"#,
        ))
        .expect("runs")
        .expect_to_broker(Some("tools/list"));
    // Answers arrive out of order; each resumes its own request.
    gateway
        .vm(0)
        .answer(call_b.token, &broker_answer(&upstream_session("up-shared")))
        .expect("resumes b");
    b.expect_routed_to("weather")
        .expect_upstream_header(headers::X_MCP_TOOLNAME, "get_forecast");
    a.expect_held();
    gateway
        .vm(1)
        .answer(call_c.token, &broker_answer(&upstream_session("up-shared")))
        .expect("resumes c");
    c.expect_routed_to("weather")
        .expect_upstream_header(headers::X_MCP_TOOLNAME, "new_tool");
    gateway
        .vm(0)
        .answer(call_a.token, &broker_answer(&upstream_session("up-shared")))
        .expect("resumes a");
    a.expect_routed_to("weather")
        .expect_upstream_header(headers::X_MCP_TOOLNAME, "get_alerts");
    for (stream, id) in [(&a, 21), (&b, 22), (&c, 23)] {
        let body = stream.upstream_request().expect("forwarded").body;
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["id"], id, "each request kept its own body");
        stream
            .respond(&Response::ok().header(headers::SESSION_ID, "up-shared"))
            .expect("response");
        stream.expect_downstream_header(headers::SESSION_ID, Some(SESSION));
        stream.finish().expect("ends");
    }
}

#[test]
fn an_upstream_404_resets_the_session_and_the_next_call_gets_a_new_one() {
    let gateway = session_api_gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-old"));
    let stream = gateway
        .send(&tools_call(31, "weather_get_alerts"))
        .expect("runs");
    stream.expect_routed_to("weather");
    stream
        .respond(&Response::status(404).body("session gone"))
        .expect("no trap");
    // The client gets a JSON-RPC error instead of the upstream's 404.
    let body = stream.expect_jsonrpc_error(200, -32000);
    assert_eq!(body["id"], 31);
    assert!(
        stream
            .downstream_response()
            .is_some_and(|r| r.body_str().contains("lost its session"))
    );
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Stale("up-old".to_owned()))
    );
    assert_eq!(gateway.metric("mcp_router.upstream_session_lost"), Some(1));
    // The retry names the stale session to the broker.
    let retry = gateway
        .send(&tools_call(32, "weather_get_alerts"))
        .expect("runs");
    let call = retry.expect_call_to(BROKER_CLUSTER);
    assert_eq!(
        call.json(),
        serde_json::json!({"server": "weather", "staleSessionId": "up-old"})
    );
    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&upstream_session("up-new")))
        .expect("resumes");
    retry
        .expect_routed_to("weather")
        .expect_upstream_header(headers::SESSION_ID, "up-new");
}

#[test]
fn a_404_does_not_reset_a_session_another_request_already_replaced() {
    let gateway = session_api_gateway(2);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-old"));
    let stream = gateway
        .vm(0)
        .send(&tools_call(41, "weather_get_alerts"))
        .expect("runs");
    stream.expect_routed_to("weather");
    // Meanwhile another worker got a fresh session.
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-fresh"));
    stream.respond(&Response::status(404)).expect("no trap");
    stream.expect_jsonrpc_error(200, -32000);
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-fresh".to_owned())))
    );
}

#[test]
fn an_unreachable_upstream_is_a_json_rpc_error_and_keeps_the_session() {
    let gateway = session_api_gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    for status in [502, 503, 504] {
        let stream = gateway
            .send(&tools_call(71, "weather_get_alerts"))
            .expect("runs");
        stream.expect_routed_to("weather");
        stream
            .respond(&Response::status(status).body("upstream connect error"))
            .expect("no trap");
        let body = stream.expect_jsonrpc_error(200, -32000);
        assert_eq!(body["id"], 71);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("HTTP {status}")))
        );
        assert_eq!(
            cached_session(&gateway, "weather", SESSION),
            Some(Cached::Live(Some("up-1".to_owned()))),
            "the session is not the problem"
        );
        stream.finish().expect("ends");
    }
}

#[test]
fn only_the_gateway_session_id_reaches_the_client() {
    let gateway = session_api_gateway(1);
    seed_session(&gateway, "files", SESSION, &upstream_session("up-files"));
    let stream = gateway.send(&tools_call(51, "read_file")).expect("runs");
    stream
        .expect_routed_to("files")
        .expect_upstream_header(headers::SESSION_ID, "up-files");
    stream
        .respond(
            &Response::ok()
                .header(headers::SESSION_ID, "up-files")
                .header("content-type", "text/event-stream")
                .body("event: message\ndata: {}\n\n"),
        )
        .expect("passes");
    stream
        .expect_downstream_status(200)
        .expect_downstream_header(headers::SESSION_ID, Some(SESSION))
        .expect_downstream_header("content-type", Some("text/event-stream"));
    // An upstream without sessions: nothing is added.
    let mut sessionless = upstream_session("x");
    sessionless.session_id = None;
    seed_session(&gateway, "search", SESSION, &sessionless);
    let stream = gateway.send(&tools_call(52, "s_search")).expect("runs");
    stream
        .expect_routed_to("search")
        .expect_no_upstream_header(headers::SESSION_ID);
    stream.respond(&Response::ok()).expect("passes");
    stream.expect_downstream_header(headers::SESSION_ID, None);
}

#[test]
fn ending_a_session_forgets_its_upstream_sessions_only_when_the_broker_agrees() {
    let gateway = session_api_gateway(1);
    let delete = || {
        Request::delete("/mcp")
            .header(headers::SESSION_ID, SESSION)
            .header(headers::PROTOCOL_VERSION, VERSION)
    };
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    seed_session(&gateway, "files", SESSION, &upstream_session("up-2"));
    let refused = gateway.send(&delete()).expect("runs");
    refused.expect_to_broker(None);
    refused.respond(&Response::status(404)).expect("passes");
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-1".to_owned())))
    );
    let keys_before = gateway.shared().entries().len();
    let ended = gateway.send(&delete()).expect("runs");
    ended.respond(&Response::status(204)).expect("passes");
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Ended)
    );
    assert_eq!(
        cached_session(&gateway, "files", SESSION),
        Some(Cached::Ended)
    );
    // "search" had no record: nothing was written for it.
    assert_eq!(cached_session(&gateway, "search", SESSION), None);
    assert_eq!(gateway.shared().entries().len(), keys_before);
    // The ended session is refused at once, without asking the broker.
    let call = gateway
        .send(&tools_call(9, "weather_get_alerts"))
        .expect("runs");
    call.expect_no_calls();
    call.expect_jsonrpc_error(404, -32001);
}

#[test]
fn a_broker_answer_after_the_client_left_is_harmless() {
    let gateway = session_api_gateway(1);
    let stream = gateway
        .send(&tools_call(61, "weather_get_alerts"))
        .expect("runs");
    let call = stream.expect_call_to(BROKER_CLUSTER);
    stream.finish().expect("the client goes away");
    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&upstream_session("late")))
        .expect("no trap");
    // The answer found no request to resume, so nothing was cached: the
    // next request asks again, and is served.
    let next = gateway
        .send(&tools_call(62, "weather_get_alerts"))
        .expect("the VM still serves");
    let call = next.expect_call_to(BROKER_CLUSTER);
    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&upstream_session("up-2")))
        .expect("resumes");
    next.expect_routed_to("weather");
}

#[test]
fn a_record_past_its_time_is_checked_with_the_broker_again() {
    let gateway = session_api_gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    gateway
        .send(&tools_call(1, "weather_get_alerts"))
        .expect("runs")
        .expect_no_calls()
        .expect_routed_to("weather");
    // The record was valid for a minute (the revalidation period).
    gateway
        .advance_time(std::time::Duration::from_secs(61))
        .expect("ticks");
    let stream = gateway
        .send(&tools_call(2, "weather_get_alerts"))
        .expect("runs");
    let call = stream.expect_call_to(BROKER_CLUSTER);
    // The gateway session expired meanwhile: the broker says so, and the
    // call is refused; so is the next one, without asking again.
    gateway
        .vm(0)
        .answer(
            call.token,
            &Response::status(404).json(&serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32001, "message": "session expired"}
            })),
        )
        .expect("no trap");
    stream.expect_jsonrpc_error(404, -32001);
    let next = gateway
        .send(&tools_call(3, "weather_get_alerts"))
        .expect("runs");
    next.expect_no_calls().expect_jsonrpc_error(404, -32001);
}

#[test]
fn a_record_never_outlives_the_gateway_session_it_was_made_for() {
    let gateway = session_api_gateway(1);
    let first = gateway
        .send(&tools_call(1, "weather_get_alerts"))
        .expect("runs");
    let call = first.expect_call_to(BROKER_CLUSTER);
    // A session that expires in 10 s: sooner than the revalidation period.
    let mut session = upstream_session("up-1");
    session.expires_at = NOW + 10;
    gateway
        .vm(0)
        .answer(call.token, &broker_answer(&session))
        .expect("resumes");
    first.expect_routed_to("weather");
    gateway
        .advance_time(std::time::Duration::from_secs(10))
        .expect("ticks");
    gateway
        .send(&tools_call(2, "weather_get_alerts"))
        .expect("runs")
        .expect_call_to(BROKER_CLUSTER);
}

#[test]
fn records_made_under_another_signing_key_are_void() {
    let gateway = session_api_gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    let mut table = session_api_table_json();
    table["sessions"] = serde_json::json!({ "keyId": "new-key" });
    assert!(
        gateway
            .push_config(table.to_string().as_bytes())
            .expect("no trap")
    );
    gateway
        .send(&tools_call(1, "weather_get_alerts"))
        .expect("runs")
        .expect_call_to(BROKER_CLUSTER);
}

#[test]
fn another_identity_is_refused_on_the_cached_path_and_the_broker_is_told_who_asks() {
    let gateway = session_api_gateway(1);
    seed_session_for(
        &gateway,
        "weather",
        SESSION,
        &upstream_session("up-1"),
        Some("Bearer alice"),
    );
    gateway
        .send(&tools_call(1, "weather_get_alerts").header("authorization", "Bearer alice"))
        .expect("runs")
        .expect_no_calls()
        .expect_routed_to("weather")
        .expect_no_upstream_header("authorization");
    for other in [Some("Bearer mallory"), None] {
        let mut request = tools_call(2, "weather_get_alerts");
        if let Some(value) = other {
            request = request.header("authorization", value);
        }
        let stream = gateway.send(&request).expect("runs");
        stream.expect_no_calls();
        let body = stream.expect_jsonrpc_error(403, -32003);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("another identity"))
        );
    }
    // On a miss the broker decides, with the client's credential in hand.
    let stream = gateway
        .send(&tools_call(3, "read_file").header("authorization", "Bearer mallory"))
        .expect("runs");
    let call = stream.expect_call_to(BROKER_CLUSTER);
    assert_eq!(call.header("authorization"), Some("Bearer mallory"));
    gateway
        .vm(0)
        .answer(
            call.token,
            &Response::status(403).json(&serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32003, "message": "another identity"}
            })),
        )
        .expect("no trap");
    stream.expect_jsonrpc_error(403, -32003);
    assert_eq!(
        cached_session(&gateway, "files", SESSION),
        None,
        "nothing cached"
    );
}

#[test]
fn only_a_400_that_says_the_session_is_unknown_resets_it() {
    let gateway = session_api_gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    // The upstream rejects the request itself: the client gets that 400 as
    // sent, and the session stays.
    let rejected = gateway
        .send(&tools_call(1, "weather_get_alerts"))
        .expect("runs");
    let verdict = serde_json::json!({
        "jsonrpc": "2.0", "id": null,
        "error": {"code": -32600, "message": "Invalid Request: id must be an integer"}
    });
    rejected
        .respond(&Response::status(400).json(&verdict))
        .expect("no trap");
    rejected.expect_downstream_status(400);
    assert!(
        rejected
            .downstream_response()
            .is_some_and(|r| r.body_str().contains("id must be an integer"))
    );
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Live(Some("up-1".to_owned())))
    );
    // The TypeScript SDK's word for an unknown session: reset.
    let lost = gateway
        .send(&tools_call(2, "weather_get_alerts"))
        .expect("runs");
    lost.respond(&Response::status(400).json(&serde_json::json!({
        "jsonrpc": "2.0", "id": null,
        "error": {"code": -32000, "message": "Bad Request: No valid session ID provided"}
    })))
    .expect("no trap");
    let body = lost.expect_jsonrpc_error(200, -32000);
    assert_eq!(body["id"], 2);
    assert_eq!(
        cached_session(&gateway, "weather", SESSION),
        Some(Cached::Stale("up-1".to_owned()))
    );
}

#[test]
fn the_session_cache_stays_within_its_slots_however_many_sessions_come() {
    let mut table = session_api_table_json();
    table["sessions"] = serde_json::json!({ "cacheSlots": 64 });
    let gateway = gateway_with(table.to_string().as_bytes(), 1);
    for i in 0..2_000u64 {
        let session = format!("gw-{i}");
        let stream = gateway
            .send(&tools_call_in(&session, i, "weather_get_alerts"))
            .expect("runs");
        if let [call] = stream.pending_calls().as_slice() {
            gateway
                .vm(0)
                .answer(
                    call.token,
                    &broker_answer(&upstream_session(&format!("up-{i}"))),
                )
                .expect("resumes");
        }
        stream.expect_routed_to("weather");
        stream.respond(&Response::ok()).expect("passes");
        stream.finish().expect("ends");
        let delete = Request::delete("/mcp").header("mcp-session-id", &session);
        let ended = gateway.send(&delete).expect("runs");
        ended.respond(&Response::ok()).expect("passes");
        ended.finish().expect("ends");
    }
    let keys = gateway.shared().entries().len();
    assert!(keys <= 64, "{keys} shared-data keys for a 64-slot cache");
}
