//! The fuzzing oracle: one whole request decided by the pure core, with
//! the invariants every answer must keep checked on the way. Shared by the
//! `cargo fuzz` target (`fuzz/`) and the mutation run of the real `.wasm`
//! (`proxy_wasm_harness::fuzz`), so both hold the core to the same rules:
//!
//! - no panic (the fuzzer catches one; the caller never needs to);
//! - a refusal is a well-formed JSON-RPC error response ([`check_error`])
//!   with an HTTP status of 200–599:
//!   `jsonrpc: "2.0"`, an integer `error.code`, a non-empty
//!   `error.message`, and the request's `id` echoed when it had one;
//! - a routed call names a server of the table, its plan fits the body,
//!   and the upstream body differs from the client's only inside the splice;
//!   a body `serde_json` accepted stays one it accepts.
//!
//! Compiled with the `test-fixtures` feature; never part of the filter.

use std::collections::BTreeMap;

use mcp_protocol::refusal::Refusal;
use mcp_protocol::splice::Splice;
use serde_json::value::RawValue;

use crate::decision::{
    self, BodyDecision, BodyRefusal, CheckedBody, CredentialHeaders, HeadDecision, RequestHead,
};
use crate::table::RouteTable;

/// A request as the fuzzers build it: pseudo-headers apart, header names
/// lower-case (Envoy's form), the body as bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// What the core did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not the MCP endpoint: passed untouched.
    NotMcp,
    /// Passed to the broker.
    Broker,
    /// Routed to this server (`bridged`: through the broker).
    Routed { server: String, bridged: bool },
    /// Answered with this HTTP status and JSON-RPC error code, echoing
    /// this request id (raw JSON; `None`: `null`).
    Refused {
        status: u32,
        code: i64,
        id: Option<String>,
    },
}

impl Input {
    /// Reads the fuzz target's byte format: `METHOD PATH\n`, then
    /// `name: value\n` lines, an empty line, then the body. Anything that is
    /// not UTF-8 in the head is read lossily; a missing head is a POST to
    /// `/mcp`.
    pub fn decode(bytes: &[u8]) -> Input {
        let split = bytes.windows(2).position(|w| w == b"\n\n");
        let (head, body) = match split {
            Some(at) => (&bytes[..at], &bytes[at + 2..]),
            None => (&b""[..], bytes),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n');
        let request_line = lines.next().unwrap_or_default();
        let (method, path) = request_line.split_once(' ').unwrap_or(("POST", "/mcp"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Input {
            method: if method.is_empty() { "POST" } else { method }.to_owned(),
            path: if path.is_empty() { "/mcp" } else { path }.to_owned(),
            headers,
            body: body.to_vec(),
        }
    }

    /// The byte format [`Input::decode`] reads (corpus files).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{} {}\n", self.method, self.path);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\n"));
        }
        out.push('\n');
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The headers the router reads, as the glue hands them to the core.
    pub fn head(&self) -> RequestHead<'_> {
        let header = |name: &str| self.header(name);
        let mut credentials = CredentialHeaders::default();
        for name in self.headers.keys() {
            credentials.note(name);
        }
        RequestHead {
            method: &self.method,
            path: &self.path,
            session_id: header("mcp-session-id"),
            protocol_version: header("mcp-protocol-version"),
            content_length: header("content-length"),
            authority: header(":authority").unwrap_or("gateway.local"),
            origin: header("origin"),
            authorization: header("authorization").map(str::as_bytes),
            identity: None,
            credentials,
            mcp_method: header("mcp-method"),
            mcp_name: header("mcp-name"),
            virtual_server: header("x-mcp-virtualserver"),
            claims: header("x-jwt-payload").map(str::as_bytes),
            authorized: header("x-mcp-authorized").map(str::as_bytes),
            now: 0,
        }
    }
}

/// Decides `input` as the filter would (the body limit included) and
/// checks every invariant of the module docs.
///
/// # Errors
/// The invariant that broke, with what the core produced.
pub fn decide(table: &RouteTable, input: &Input) -> Result<Verdict, String> {
    let head = input.head();
    let refused = |refusal: Refusal, id: Option<&RawValue>| {
        let reply = refusal.reply_in(head.era(), id);
        let code = check_error(&reply.body, id.map(RawValue::get))
            .map_err(|e| format!("{refusal:?}: {e}"))?;
        if !(200..600).contains(&reply.status) {
            return Err(format!("{refusal:?} answered with HTTP {}", reply.status));
        }
        Ok(Verdict::Refused {
            status: reply.status,
            code,
            id: id.map(|id| id.get().to_owned()),
        })
    };
    let body = input.body.as_slice();
    match decision::on_request_head(table, &head) {
        HeadDecision::NotMcp => return Ok(Verdict::NotMcp),
        HeadDecision::Broker | HeadDecision::ModernBroker { .. } => return Ok(Verdict::Broker),
        HeadDecision::Reject(refusal) => return refused(refusal, None),
        HeadDecision::Modern(_) if body.is_empty() => return refused(Refusal::EmptyBody, None),
        HeadDecision::Modern(call) => {
            let server = server_name(table, call.call.server_index)?;
            if body.len() > table.max_body_bytes() {
                let limit = table.max_body_bytes();
                return refused(Refusal::BodyTooLarge { limit }, None);
            }
            return match decision::on_modern_body(&call, body) {
                Ok(CheckedBody { splice, .. }) => {
                    check_splice(body, splice.as_ref())?;
                    Ok(Verdict::Routed {
                        server,
                        bridged: call.call.bridged,
                    })
                }
                Err(BodyRefusal { refusal, id }) => refused(refusal, id.as_deref()),
            };
        }
        HeadDecision::ReadBody if body.is_empty() => return refused(Refusal::EmptyBody, None),
        HeadDecision::ReadBody => {}
    }
    if body.len() > table.max_body_bytes() {
        let limit = table.max_body_bytes();
        return refused(Refusal::BodyTooLarge { limit }, None);
    }
    match decision::on_request_body(table, &head, body) {
        BodyDecision::Broker { .. } => Ok(Verdict::Broker),
        BodyDecision::Reject { refusal, id } => refused(refusal, id.as_deref()),
        BodyDecision::Route(call) => {
            let server = server_name(table, call.server_index)?;
            let route = &table.servers()[call.server_index];
            let plan = match crate::plan::route_plan(
                route,
                &call,
                crate::plan::Via::known_session(&call),
                &head,
                body,
                &table.broker().cluster,
            ) {
                Ok(plan) => plan,
                Err(refusal) => return refused(refusal, call.id.as_deref()),
            };
            check_splice(body, call.splice.as_ref())?;
            if let Some(new_body) = &plan.body
                && Some(new_body.as_slice())
                    != call.splice.as_ref().and_then(|s| s.apply(body)).as_deref()
            {
                return Err("the plan's body is not the call's splice applied".to_owned());
            }
            Ok(Verdict::Routed {
                server,
                bridged: call.bridged,
            })
        }
    }
}

fn server_name(table: &RouteTable, index: usize) -> Result<String, String> {
    table
        .servers()
        .get(index)
        .map(|s| s.name.clone())
        .ok_or_else(|| format!("routed to server {index}, past the table"))
}

/// A splice stays inside the body, changes nothing outside its span, and
/// keeps a body `serde_json` accepts one it accepts.
fn check_splice(body: &[u8], splice: Option<&Splice>) -> Result<(), String> {
    let Some(splice) = splice else {
        return Ok(());
    };
    let Some(spliced) = splice.apply(body) else {
        return Err(format!(
            "splice {splice:?} outside a {}-byte body",
            body.len()
        ));
    };
    let span = &splice.span;
    let tail = body.len() - span.end;
    if spliced[..span.start] != body[..span.start]
        || spliced[spliced.len() - tail..] != body[span.end..]
    {
        return Err("the splice changed bytes outside its span".to_owned());
    }
    let valid = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).is_ok();
    if valid(body) && !valid(&spliced) {
        return Err(format!(
            "the splice broke the JSON: {}",
            String::from_utf8_lossy(&spliced)
        ));
    }
    Ok(())
}

/// Checks a JSON-RPC error response body (JSON-RPC 2.0 §5, §5.1): returns
/// its `error.code`.
///
/// # Errors
/// What [`read_error`] finds wrong, or an `id` that is not `request_id`
/// (the raw JSON of the request's id), or not `null` without one.
pub fn check_error(body: &[u8], request_id: Option<&str>) -> Result<i64, String> {
    let (code, id) = read_error(body)?;
    let expected = match request_id {
        Some(raw) => serde_json::from_str(raw).map_err(|e| format!("request id {raw}: {e}"))?,
        None => serde_json::Value::Null,
    };
    if id != expected {
        return Err(format!(
            "id is not {expected}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    Ok(code)
}

/// The `error.code` and `id` of a JSON-RPC error response body.
///
/// # Errors
/// Not JSON, no `"jsonrpc": "2.0"`, no integer code, an empty message, a
/// `result` beside the error, or no `id` member.
pub fn read_error(body: &[u8]) -> Result<(i64, serde_json::Value), String> {
    let text = String::from_utf8_lossy(body);
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("error body is not JSON ({e}): {text}"))?;
    if value["jsonrpc"] != "2.0" {
        return Err(format!("no \"jsonrpc\": \"2.0\": {text}"));
    }
    if value.get("result").is_some() {
        return Err(format!("a result beside the error: {text}"));
    }
    let code = value["error"]["code"]
        .as_i64()
        .ok_or_else(|| format!("no integer error.code: {text}"))?;
    if value["error"]["message"].as_str().is_none_or(str::is_empty) {
        return Err(format!("no error.message: {text}"));
    }
    let id = value
        .get("id")
        .cloned()
        .ok_or_else(|| format!("no id member: {text}"))?;
    Ok((code, id))
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::fixtures::{self, Expect};

    #[test]
    fn every_fixture_case_keeps_the_invariants_and_gets_its_kind_of_verdict() {
        let table = RouteTable::new(fixtures::route_table().expect("fixture table"));
        for case in fixtures::cases().expect("fixture cases") {
            let input = case.request.input().expect("fixture body");
            let verdict = decide(&table, &input).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let agrees = match (&case.expect, &verdict) {
                (Expect::NotMcp, Verdict::NotMcp) | (Expect::Broker { .. }, Verdict::Broker) => {
                    true
                }
                (
                    Expect::Route {
                        server, bridged, ..
                    },
                    Verdict::Routed {
                        server: s,
                        bridged: b,
                    },
                ) => server == s && bridged == b,
                (
                    Expect::Reject {
                        status, error_code, ..
                    },
                    Verdict::Refused {
                        status: s, code, ..
                    },
                ) => status == s && error_code == code,
                _ => false,
            };
            assert!(agrees, "{}: {verdict:?}", case.name);
            // The byte format round-trips, so corpus files are these cases.
            assert_eq!(Input::decode(&input.encode()), input, "{}", case.name);
        }
    }

    #[test]
    fn error_bodies_missing_a_member_or_echoing_another_id_are_caught() {
        let good = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}}"#;
        assert_eq!(check_error(good, Some("7")), Ok(-32601));
        for (body, id) in [
            (
                &br#"{"jsonrpc":"2.0","id":8,"error":{"code":-32601,"message":"no"}}"#[..],
                Some("7"),
            ),
            (
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32601}}"#,
                None,
            ),
            (
                br#"{"jsonrpc":"1.0","id":null,"error":{"code":1,"message":"x"}}"#,
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":"1","message":"x"}}"#,
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":null,"result":{},"error":{"code":1,"message":"x"}}"#,
                None,
            ),
            (b"not json", None),
        ] {
            assert!(
                check_error(body, id).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
