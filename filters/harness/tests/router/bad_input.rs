//! Every class of bad input, on one VM: the right JSON-RPC error and HTTP
//! status, no trap, no contract breach, and the next request on the same
//! VM is served.

use crate::common::*;
use mcp_protocol::headers;
use proxy_wasm_harness::{Gateway, Headers, HttpStream, Request};

/// A gateway with one VM and a cached session for every server, so a
/// well-formed `tools/call` is routed at once.
fn ready_gateway() -> Gateway {
    let gateway = gateway(1);
    for server in ["weather", "files", "search"] {
        seed_session(&gateway, server, SESSION, &upstream_session("up-1"));
    }
    gateway
}

/// After whatever happened, the same VM still routes a good request.
#[track_caller]
fn next_request_is_served(gateway: &Gateway) {
    let vm = gateway.vm(0);
    assert_eq!(vm.failure(), None, "the VM must survive");
    vm.send(&tools_call(99, "weather_get_forecast"))
        .expect("the next request runs")
        .expect_routed_to("weather");
}

/// Sends `request`, expects the router's JSON-RPC error, then a good
/// request on the same VM.
#[track_caller]
fn refused(gateway: &Gateway, request: &Request, status: u32, code: i64) -> HttpStream {
    let stream = gateway
        .vm(0)
        .send(request)
        .unwrap_or_else(|e| panic!("no trap, no breach expected: {e}"));
    stream.expect_jsonrpc_error(status, code);
    assert!(stream.upstream_request().is_none(), "{}", stream.describe());
    stream.finish().expect("the stream ends cleanly");
    next_request_is_served(gateway);
    stream
}

fn body_cases(gateway: &Gateway, cases: &[(&str, &[u8], u32, i64)]) {
    for (label, body, status, code) in cases {
        let request = mcp_post("").body(body.to_vec());
        let stream = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            refused(gateway, &request, *status, *code)
        }))
        .unwrap_or_else(|_| panic!("case {label:?} failed (see above)"));
        drop(stream);
    }
}

#[test]
fn malformed_json_is_a_parse_error() {
    let gateway = ready_gateway();
    body_cases(
        &gateway,
        &[
            ("plain text", b"hello", 400, -32700),
            (
                "truncated",
                br#"{"jsonrpc":"2.0","id":1,"method":"#,
                400,
                -32700,
            ),
            (
                "trailing garbage",
                br#"{"jsonrpc":"2.0","id":1,"method":"ping"}x"#,
                400,
                -32700,
            ),
            (
                "two objects",
                br#"{"jsonrpc":"2.0","id":1,"method":"ping"}{}"#,
                400,
                -32700,
            ),
            ("single quotes", b"{'jsonrpc':'2.0'}", 400, -32700),
            (
                "raw newline in a string",
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\nb\"}",
                400,
                -32700,
            ),
            (
                "NaN",
                br#"{"jsonrpc":"2.0","id":NaN,"method":"ping"}"#,
                400,
                -32700,
            ),
            ("nul byte", b"\0", 400, -32700),
            ("empty", b"", 400, -32700),
            ("only whitespace", b" \r\n\t ", 400, -32700),
        ],
    );
}

#[test]
fn wrong_types_are_invalid_requests_or_params() {
    let gateway = ready_gateway();
    body_cases(
        &gateway,
        &[
            ("scalar", b"42", 400, -32600),
            // Grammatical JSON (RFC 8259 §8.2), but no string a method can be.
            (
                "lone surrogate escape",
                br#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#,
                400,
                -32600,
            ),
            ("string", br#""tools/call""#, 400, -32600),
            ("null", b"null", 400, -32600),
            (
                "jsonrpc as number",
                br#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#,
                400,
                -32600,
            ),
            (
                "id as object",
                br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                400,
                -32600,
            ),
            (
                "id as bool",
                br#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
                400,
                -32600,
            ),
            (
                "id as array",
                br#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
                400,
                -32600,
            ),
            (
                "method as array",
                br#"{"jsonrpc":"2.0","id":1,"method":["tools/call"]}"#,
                400,
                -32600,
            ),
            (
                "params as string",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#,
                200,
                -32602,
            ),
            (
                "name as object",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"a":1}}}"#,
                200,
                -32602,
            ),
            (
                "name as null",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}"#,
                200,
                -32602,
            ),
            (
                "empty name",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}"#,
                200,
                -32602,
            ),
        ],
    );
}

#[test]
fn batches_are_refused() {
    let gateway = ready_gateway();
    body_cases(
        &gateway,
        &[
            ("empty batch", b"[]", 400, -32600),
            (
                "batch of one",
                br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather_get_alerts"}}]"#,
                400,
                -32600,
            ),
            ("batch after whitespace", b" \n [1,2]", 400, -32600),
        ],
    );
}

#[test]
fn missing_fields_are_refused() {
    let gateway = ready_gateway();
    body_cases(
        &gateway,
        &[
            ("no jsonrpc", br#"{"id":1,"method":"ping"}"#, 400, -32600),
            ("no method, no result", br#"{"jsonrpc":"2.0","id":1}"#, 400, -32600),
            ("empty object", b"{}", 400, -32600),
            ("response without id", br#"{"jsonrpc":"2.0","result":{}}"#, 400, -32600),
            (
                "tools/call notification",
                br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"weather_get_alerts"}}"#,
                400,
                -32600,
            ),
            (
                "tools/call without params",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
                200,
                -32602,
            ),
            (
                "params without name",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
                200,
                -32602,
            ),
        ],
    );
    let no_session = Request::post("/mcp").body(
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"weather_get_alerts"}}"#,
    );
    let body = refused(&gateway, &no_session, 400, -32600).expect_local_response(400);
    assert_eq!(body.json()["id"], 5);
}

/// A valid `tools/call` whose body is exactly `len` bytes long.
fn tools_call_of_len(len: usize) -> Vec<u8> {
    let head = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather_get_alerts","arguments":{"pad":""#;
    let tail = r#""}}}"#;
    let pad = len - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad)).into_bytes()
}

#[test]
fn oversized_bodies_get_413_however_they_arrive() {
    let gateway = ready_gateway();
    // Exactly at the limit (4096 in the fixture table): accepted.
    gateway
        .vm(0)
        .send(&mcp_post("").body(tools_call_of_len(4096)))
        .expect("runs")
        .expect_routed_to("weather");
    // One byte over, in one chunk.
    refused(
        &gateway,
        &mcp_post("").body(tools_call_of_len(4097)),
        413,
        -32600,
    );
    // Declared too large: refused on the headers, the body never read.
    let declared = Request::post("/mcp")
        .header(headers::SESSION_ID, SESSION)
        .header("content-length", "5000")
        .body(tools_call_of_len(5000))
        .without_content_length();
    let stream = refused(&gateway, &declared, 413, -32600);
    assert!(
        !stream
            .actions()
            .iter()
            .any(|(c, _)| *c == proxy_wasm_harness::Callback::RequestBody),
        "the body is never read: {}",
        stream.describe()
    );
    // Undeclared, streamed in 1000-byte chunks: refused when the buffer
    // passes the limit.
    let streamed = mcp_post("")
        .body(tools_call_of_len(10_000))
        .without_content_length()
        .chunked(1000);
    let stream = refused(&gateway, &streamed, 413, -32600);
    let bodies = stream
        .actions()
        .iter()
        .filter(|(c, _)| *c == proxy_wasm_harness::Callback::RequestBody)
        .count();
    assert_eq!(
        bodies,
        5,
        "refused at the fifth chunk: {}",
        stream.describe()
    );
    // A garbage content-length is ignored; the real size decides.
    let garbage = mcp_post("")
        .header("content-length", "lots")
        .body(tools_call_of_len(300))
        .without_content_length();
    gateway
        .vm(0)
        .send(&garbage)
        .expect("runs")
        .expect_routed_to("weather");
}

#[test]
fn invalid_utf8_in_body_and_headers_never_traps() {
    let gateway = ready_gateway();
    body_cases(
        &gateway,
        &[
            (
                "0xff in a string",
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
                400,
                -32700,
            ),
            (
                "overlong encoding",
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xaf\"}",
                400,
                -32700,
            ),
            (
                "truncated sequence",
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xe2\x82\"}",
                400,
                -32700,
            ),
            ("bare continuation", b"\x80", 400, -32700),
        ],
    );
    // A session id that is not UTF-8 is no session id: tools/call needs one.
    let latin1_session = Request::post("/mcp")
        .header(headers::SESSION_ID, b"caf\xe9")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather_get_alerts"}}"#);
    refused(&gateway, &latin1_session, 400, -32600);
    // Non-UTF-8 in other headers (HTTP/1 obs-text) is carried, not fatal.
    let odd_headers = tools_call(7, "weather_get_alerts")
        .header("x-mcp-servername", b"\xff\xfe")
        .header("user-agent", b"agent \xe9");
    let stream = gateway.vm(0).send(&odd_headers).expect("runs");
    stream.expect_routed_to("weather");
    assert_eq!(
        stream
            .upstream_request()
            .and_then(|r| r.headers.get("user-agent").map(<[u8]>::to_vec)),
        Some(b"agent \xe9".to_vec())
    );
    next_request_is_served(&gateway);
}

#[test]
fn header_injection_through_names_and_headers_is_refused() {
    let gateway = ready_gateway();
    let tool = |name: &str| {
        mcp_post(
            &serde_json::json!({
                "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name}
            })
            .to_string(),
        )
    };
    for name in [
        "weather_x\r\nx-mcp-servername: files",
        "weather_x\nx",
        "weather_x\rx",
        "weather_\0",
        "weather_x\u{7f}",
        "weather_x\u{1b}[31m",
    ] {
        let stream = refused(&gateway, &tool(name), 200, -32602);
        assert_eq!(
            stream.local_response().map(|l| l.json()["id"].clone()),
            Some(3.into())
        );
    }
    // Too long to copy into a header.
    refused(
        &gateway,
        &tool(&format!("weather_{}", "a".repeat(300))),
        200,
        -32602,
    );
    // A method with CR/LF cannot become x-mcp-method.
    refused(
        &gateway,
        &mcp_post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list\r\nx-evil: 1"}"#),
        400,
        -32600,
    );
    // Session ids are checked before anything is copied.
    refused(
        &gateway,
        &Request::post("/mcp")
            .header(headers::SESSION_ID, "a\r\nb")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
        400,
        -32600,
    );
    // Unicode that is not a control character is routable and travels as
    // UTF-8 bytes in x-mcp-toolname (the harness checks no CR/LF/NUL).
    let stream = gateway
        .vm(0)
        .send(&tool("weather_caf\u{e9}\u{2028}"))
        .expect("runs");
    stream
        .expect_routed_to("weather")
        .expect_upstream_header(headers::X_MCP_TOOLNAME, "caf\u{e9}\u{2028}");
    // Spoofed router headers, in any case, never reach the upstream.
    let spoofed = mcp_post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .header("X-MCP-ServerName", "files")
        .header("x-mcp-toolname", "read_file")
        .header("X-Mcp-Method", "tools/call");
    gateway
        .vm(0)
        .send(&spoofed)
        .expect("runs")
        .expect_to_broker(Some("tools/list"));
}

#[test]
fn a_stateless_era_call_ending_in_trailers_is_checked_on_its_whole_body() {
    let gateway = ready_gateway();
    let body = r#"{"jsonrpc":"2.0","id":61,"method":"tools/call","params":{"name":"weather_get_forecast","arguments":{"city":"Oslo"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let request = Request::post("/mcp")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "weather_get_forecast")
        .header("content-type", "application/json")
        .body(body)
        .trailers(Headers::from([("x-checksum", "abc")]));
    let stream = gateway.vm(0).send(&request).expect("runs");
    stream
        .expect_routed_to("weather")
        .expect_upstream_body(body.replace("weather_get_forecast", "get_forecast"));
    next_request_is_served(&gateway);
}

#[test]
fn bodies_in_tiny_chunks_and_with_trailers_are_decided_on_the_whole_body() {
    let gateway = ready_gateway();
    let body =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather_get_alerts"}}"#;
    let stream = gateway
        .vm(0)
        .send(&mcp_post(body).chunked(1))
        .expect("runs");
    stream
        .expect_routed_to("weather")
        .expect_upstream_body(body.replace("weather_get_alerts", "get_alerts"));
    let with_trailers = mcp_post(body).trailers(Headers::from([("x-checksum", "abc")]));
    let stream = gateway.vm(0).send(&with_trailers).expect("runs");
    stream
        .expect_routed_to("weather")
        .expect_upstream_body(body.replace("weather_get_alerts", "get_alerts"));
    assert_eq!(
        stream
            .upstream_request()
            .and_then(|r| r.trailers)
            .and_then(|t| t.get_str("x-checksum").map(str::to_owned)),
        Some("abc".to_owned())
    );
    next_request_is_served(&gateway);
}
