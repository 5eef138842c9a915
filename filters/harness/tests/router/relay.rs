//! Server-to-client requests on a routed call's event stream get relay ids
//! (the server in the id the client sees), and the client's answer goes
//! back to the server that asked with the server's own id: through the
//! real `.wasm`, chunk boundaries anywhere.

use mcp_protocol::{headers, relay_id};
use proxy_wasm_harness::{Headers, Response};

use crate::common::*;

const SAMPLING: &str = r#"{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}"#;
const PROGRESS: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#;
const ANSWER: &str =
    r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"done"}]}}"#;

fn relayed_sampling(server: &str) -> String {
    let id = relay_id::encode(server, "0").expect("encodes");
    SAMPLING.replacen(r#""id":0"#, &format!(r#""id":{id}"#), 1)
}

#[test]
fn an_upstream_request_on_the_stream_reaches_the_client_with_a_relay_id() {
    let gateway = gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    let stream = gateway
        .send(&tools_call(7, "weather_get_forecast"))
        .expect("sent");
    stream.expect_routed_to("weather");

    let events = format!(
        "event: message\ndata: {PROGRESS}\n\nevent: message\ndata: {SAMPLING}\n\nevent: message\ndata: {ANSWER}\n\n"
    );
    stream
        .send_response_headers(
            Headers::new()
                .with(":status", "200")
                .with("content-type", "text/event-stream")
                .with("mcp-session-id", "up-1"),
            false,
        )
        .expect("headers pass");
    // Chunk boundaries inside the request's event, and inside its id.
    let bytes = events.as_bytes();
    let cut = events.find(r#""id":0"#).expect("the request's id") + 3;
    for (chunk, end) in [
        (&bytes[..cut], false),
        (&bytes[cut..cut + 9], false),
        (&bytes[cut + 9..], true),
    ] {
        stream.send_response_body(chunk, end).expect("body passes");
    }
    let delivered = stream.downstream_response().expect("delivered");
    assert_eq!(
        String::from_utf8(delivered.body).expect("utf-8"),
        format!(
            "event: message\ndata: {PROGRESS}\n\nevent: message\ndata: {}\n\nevent: message\ndata: {ANSWER}\n\n",
            relayed_sampling("weather")
        )
    );
    assert_eq!(delivered.headers.get_str("mcp-session-id"), Some(SESSION));
    assert_eq!(delivered.headers.get("content-length"), None);
    stream.finish().expect("ends");
    assert_eq!(gateway.vm(0).failure(), None);
}

#[test]
fn the_clients_answer_reaches_the_server_that_asked_with_its_own_id() {
    let gateway = gateway(1);
    seed_session(&gateway, "files", SESSION, &upstream_session("up-files"));
    let id = relay_id::encode("files", "0").expect("encodes");
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"role":"assistant","content":{{"type":"text","text":"hi"}},"model":"m"}}}}"#
    );
    let stream = gateway.send(&mcp_post(&answer)).expect("sent");
    stream
        .expect_forwarded()
        .expect_upstream_header(headers::X_MCP_SERVERNAME, "files")
        .expect_upstream_header(headers::X_MCP_METHOD, "response")
        .expect_upstream_header(headers::SESSION_ID, "up-files")
        .expect_upstream_body(answer.replace(&id, "0"));
    stream
        .respond(&Response::status(202))
        .expect("the upstream accepts it");
    stream.expect_downstream_status(202);
    stream.finish().expect("ends");
}

#[test]
fn a_json_answer_is_not_touched_and_a_stream_without_requests_passes_as_sent() {
    let gateway = gateway(1);
    seed_session(&gateway, "weather", SESSION, &upstream_session("up-1"));
    let stream = gateway
        .send(&tools_call(7, "weather_get_forecast"))
        .expect("sent");
    stream
        .respond(
            &Response::ok()
                .header("content-type", "application/json")
                .header("mcp-session-id", "up-1")
                .body(ANSWER),
        )
        .expect("passes");
    let delivered = stream.downstream_response().expect("delivered");
    assert_eq!(delivered.body, ANSWER.as_bytes());
    stream.finish().expect("ends");

    let stream = gateway
        .send(&tools_call(8, "weather_get_forecast"))
        .expect("sent");
    let events = format!("data: {PROGRESS}\n\ndata: {ANSWER}\n\n");
    stream
        .respond(
            &Response::ok()
                .header("content-type", "text/event-stream")
                .body(events.clone()),
        )
        .expect("passes");
    assert_eq!(
        stream.downstream_response().expect("delivered").body,
        events.as_bytes()
    );
    stream.finish().expect("ends");
    assert_eq!(gateway.vm(0).failure(), None);
}
