//! Property tests: thousands of generated and mutated requests against the
//! real `.wasm`, all on the same two VMs. Whatever the bytes, the filter
//! never traps and never breaks the host contract, and every request ends
//! in exactly one well-formed outcome: a JSON-RPC error answered by the
//! router, or a request passed on (to the broker, labelled; or routed).

use std::cell::Cell;

use crate::common::*;
use mcp_protocol::headers;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use proxy_wasm_harness::{Gateway, Request};

/// Cases per property (three properties).
const CASES: u32 = 1500;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

fn ready_gateway() -> Gateway {
    let gateway = gateway(2);
    for server in ["weather", "files", "search"] {
        seed_session(&gateway, server, SESSION, &upstream_session("up-1"));
    }
    gateway
}

/// Valid bodies the mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather_get_forecast","arguments":{"city":"Paris"}}}"#,
        r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"read_file","arguments":{"path":"/x"}}}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"s_search","arguments":[1,2,{"q":"é"}]}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":4,"result":{"content":[]}}"#,
        r#"[{"jsonrpc":"2.0","id":5,"method":"ping"}]"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// One mutation of a body.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\",:\\\0\r\n \xff0-e.".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = body.len().max(1);
        match *m {
            Mutation::Flip(i, b) => {
                if let Some(byte) = body.get_mut(i % len) {
                    *byte ^= b | 1;
                }
            }
            Mutation::Insert(i, b) => body.insert((i % len).min(body.len()), b),
            Mutation::Delete(i, n) => {
                let start = (i % len).min(body.len());
                let end = (start + n).min(body.len());
                body.drain(start..end);
            }
            Mutation::Duplicate(i, n) => {
                let start = (i % len).min(body.len());
                let end = (start + n).min(body.len());
                let copy = body[start..end].to_vec();
                body.splice(end..end, copy);
            }
            Mutation::Truncate(i) => body.truncate(i % len),
        }
    }
    body
}

/// Arbitrary JSON, shallow enough to print when it fails.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(Into::into),
        any::<i64>().prop_map(Into::into),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Into::into),
        name().prop_map(Into::into),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Into::into),
            prop::collection::btree_map(name(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Names: the table's, near misses, and hostile text.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "weather_get_forecast",
            "weather_",
            "weather_x",
            "read_file",
            "search",
            "s_search",
            "s_",
            "tools/call",
            "",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{0,12}",
        "\\PC{0,12}",
        "[\\x00-\\x1f\\x7f\r\n:a-z]{0,8}",
    ]
}

/// A JSON-RPC-shaped object with every member possibly wrong.
fn rpc_like() -> impl Strategy<Value = serde_json::Value> {
    let method = prop_oneof![
        prop::sample::select(vec![
            "tools/call",
            "tools/list",
            "initialize",
            "ping",
            "notifications/initialized",
        ])
        .prop_map(serde_json::Value::from),
        json_value(),
    ];
    let params = prop_oneof![
        name().prop_map(|n| serde_json::json!({"name": n, "arguments": {}})),
        json_value()
            .prop_map(|a| serde_json::json!({"name": "weather_get_alerts", "arguments": a})),
        json_value(),
    ];
    (
        prop::option::of(prop_oneof![Just("2.0".into()), json_value()]),
        prop::option::of(prop_oneof![any::<u32>().prop_map(Into::into), json_value()]),
        prop::option::of(method),
        prop::option::of(params),
        prop::option::of(json_value()),
    )
        .prop_map(|(jsonrpc, id, method, params, result)| {
            let mut object = serde_json::Map::new();
            for (key, value) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
                ("result", result),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            serde_json::Value::Object(object)
        })
}

/// Session and version headers, sometimes wrong.
fn session_headers() -> impl Strategy<Value = (Option<Vec<u8>>, Option<&'static str>)> {
    let session = prop_oneof![
        4 => Just(Some(SESSION.as_bytes().to_vec())),
        1 => Just(None),
        1 => Just(Some(b"other-session".to_vec())),
        1 => Just(Some(b"has space".to_vec())),
        1 => Just(Some(vec![b'a'; 300])),
        1 => Just(Some(b"caf\xe9".to_vec())),
    ];
    let version = prop::sample::select(vec![Some(VERSION), None, Some("1999-01-01")]);
    (session, version)
}

fn post(body: Vec<u8>, session: Option<Vec<u8>>, version: Option<&str>) -> Request {
    let mut request = Request::post("/mcp").body(body);
    if let Some(session) = session {
        request = request.header(headers::SESSION_ID, session);
    }
    if let Some(version) = version {
        request = request.header(headers::PROTOCOL_VERSION, version);
    }
    request
}

/// The property: no trap, and one well-formed outcome.
fn outcome_is_well_formed(gateway: &Gateway, request: &Request) -> Result<(), TestCaseError> {
    let stream = gateway
        .send(request)
        .map_err(|e| TestCaseError::fail(format!("the filter failed: {e}")))?;
    // A session the cache does not know: the broker is asked; answer it.
    if let [call] = stream.pending_calls().as_slice() {
        stream
            .vm()
            .answer(call.token, &broker_answer(&upstream_session("up-2")))
            .map_err(|e| TestCaseError::fail(format!("resuming failed: {e}")))?;
    }
    let describe = || stream.describe();
    if let Some(local) = stream.local_response() {
        prop_assert!(
            [200, 400, 404, 405, 413].contains(&local.status),
            "status {}: {}",
            local.status,
            describe()
        );
        let body = local.json();
        prop_assert_eq!(&body["jsonrpc"], "2.0", "{}", describe());
        prop_assert!(
            body["error"]["code"].as_i64().is_some_and(|c| [
                -32700, -32600, -32601, -32602, -32000, -32001, -32002, -32020, -32022
            ]
            .contains(&c)),
            "{}",
            describe()
        );
        prop_assert!(body["error"]["message"].is_string(), "{}", describe());
        prop_assert!(
            body["id"].is_null() || body["id"].is_string() || body["id"].is_number(),
            "{}",
            describe()
        );
        // A stateless-era call's headers may have gone on before its body
        // was refused: the upstream never gets a complete request.
        prop_assert!(
            stream.upstream_request().is_none_or(|r| !r.complete),
            "{}",
            describe()
        );
    } else {
        let up = stream.upstream_request();
        prop_assert!(up.as_ref().is_some_and(|r| r.complete), "{}", describe());
        let up = up.unwrap_or_default();
        prop_assert!(up.header(headers::X_MCP_METHOD).is_some(), "{}", describe());
        if up.header(headers::X_MCP_SERVERNAME).is_some() {
            let keyed = [
                headers::X_MCP_TOOLNAME,
                headers::X_MCP_PROMPTNAME,
                headers::X_MCP_RESOURCEURI,
            ]
            .iter()
            .any(|h| up.header(h).is_some());
            let answer = up.header(headers::X_MCP_METHOD) == Some("response");
            prop_assert!(keyed || answer, "{}", describe());
            // A stateless-era call whose name was spliced loses it.
            if let Some(length) = up.header("content-length") {
                let actual = up.body.len().to_string();
                prop_assert_eq!(length, actual.as_str());
            }
        }
    }
    stream
        .finish()
        .map_err(|e| TestCaseError::fail(format!("ending failed: {e}")))?;
    Ok(())
}

fn run(strategy: impl Strategy<Value = Request>) {
    let gateway = ready_gateway();
    let count = Cell::new(0u32);
    let result = runner().run(&strategy, |request| {
        count.set(count.get() + 1);
        outcome_is_well_formed(&gateway, &request)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert!(count.get() >= CASES);
    for vm in gateway.vms() {
        assert_eq!(vm.failure(), None);
        vm.send(&tools_call(1, "weather_get_alerts"))
            .expect("still serving")
            .expect_routed_to("weather");
    }
}

#[test]
fn arbitrary_bytes_never_trap() {
    run((
        prop::collection::vec(any::<u8>(), 0..600),
        session_headers(),
    )
        .prop_map(|(body, (session, version))| post(body, session, version)));
}

#[test]
fn mutated_valid_bodies_never_trap() {
    run((
        prop::sample::select(seeds()),
        prop::collection::vec(mutation(), 1..6),
        session_headers(),
        1usize..64,
    )
        .prop_map(|(seed, mutations, (session, version), chunk)| {
            post(mutate(seed, &mutations), session, version).chunked(chunk)
        }));
}

#[test]
fn generated_json_rpc_shapes_never_trap() {
    run(
        (rpc_like(), session_headers()).prop_map(|(value, (session, version))| {
            post(value.to_string().into_bytes(), session, version)
        }),
    );
}
