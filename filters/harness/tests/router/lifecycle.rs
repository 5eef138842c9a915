//! The router over many requests and whole lifecycles: contexts end with
//! done/log/delete, memory does not creep, its own local replies pass back
//! through it unchanged, and traffic it does not route stays cheap.

use crate::common::*;
use proxy_wasm_harness::{Callback, Event, Request, Response};

#[test]
fn every_stream_ends_with_done_log_and_delete() {
    let gateway = gateway(1);
    let stream = gateway.send(&Request::get("/healthz")).expect("runs");
    stream.expect_untouched();
    stream.respond(&Response::ok()).expect("passes");
    stream.finish().expect("ends");
    let callbacks: Vec<Callback> = stream
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Returned { callback, .. } => Some(*callback),
            _ => None,
        })
        .collect();
    assert_eq!(
        callbacks,
        [
            Callback::ContextCreate,
            Callback::RequestHeaders,
            Callback::ResponseHeaders,
            Callback::Done,
            Callback::Log,
            Callback::Delete,
        ]
    );
}

#[test]
fn thousands_of_requests_leave_memory_where_it_was() {
    let gateway = session_api_gateway(1);
    let vm = gateway.vm(0);
    let round = |i: u64| {
        // Alternate: cache miss with a broker answer, hits, refusals,
        // broker-bound messages, upstream responses, session resets.
        if i.is_multiple_of(50) {
            clear_sessions(&gateway, SESSION);
        }
        let routed = vm.send(&tools_call(i, "weather_get_alerts")).expect("runs");
        if let [call] = routed.pending_calls().as_slice() {
            vm.answer(call.token, &broker_answer(&upstream_session("up-1")))
                .expect("resumes");
        }
        let status = if i.is_multiple_of(7) { 404 } else { 200 };
        routed
            .respond(&Response::status(status).header("mcp-session-id", "up-1"))
            .expect("passes");
        routed.finish().expect("ends");
        for request in [
            tools_call(i, "nope"),
            mcp_post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            mcp_post("{broken"),
        ] {
            let stream = vm.send(&request).expect("runs");
            if stream.local_response().is_none() {
                stream.respond(&Response::ok()).expect("passes");
            }
            stream.finish().expect("ends");
        }
    };
    for i in 0..100 {
        round(i);
    }
    let warm = vm.memory_pages();
    for i in 100..1_100 {
        round(i);
    }
    assert!(
        vm.memory_pages() <= warm + 1,
        "memory grew from {warm} to {} pages over 4,000 requests",
        vm.memory_pages()
    );
    assert!(vm.pending_calls().is_empty());
}

#[test]
fn the_routers_own_replies_pass_back_through_it_unchanged() {
    for through_filter in [true, false] {
        let gateway = host()
            .gateway()
            .plugin_config(route_table())
            .cluster(BROKER_CLUSTER)
            .local_reply_through_filter(through_filter)
            .start()
            .expect("starts");
        let stream = gateway.send(&tools_call(8, "nope")).expect("runs");
        stream.expect_jsonrpc_error(200, -32602);
        let local = stream.local_response().expect("answered locally");
        let down = stream.downstream_response().expect("answered");
        assert_eq!(down.body, local.body);
        assert_eq!(down.header("content-type"), Some("application/json"));
        let ran_response_headers = stream
            .actions()
            .iter()
            .any(|(c, _)| *c == Callback::ResponseHeaders);
        assert_eq!(ran_response_headers, through_filter);
    }
}

#[test]
fn traffic_the_router_does_not_route_stays_cheap() {
    let gateway = gateway(1);
    let other_path = gateway
        .send(&Request::post("/api/orders").body("x".repeat(64 << 10)))
        .expect("runs");
    other_path.expect_untouched();
    let sse = gateway
        .send(&Request::get("/mcp").header("mcp-session-id", SESSION))
        .expect("runs");
    sse.expect_to_broker(None);
    // Decided on the headers: the body is never buffered or parsed.
    for stream in [&other_path, &sse] {
        assert!(
            stream.fuel() < 30_000,
            "{} wasm instructions for a request the router passes on its headers",
            stream.fuel()
        );
    }
}
