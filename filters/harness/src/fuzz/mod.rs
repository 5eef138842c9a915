//! Hostile input at scale through the real `.wasm`: mutated fixture
//! requests ([`mutate`]) sent one after another to one long-lived VM with
//! the fixture route table (its state carries over), each answer checked:
//!
//! - no trap and no ABI breach (the harness records both as a failure);
//! - a local reply is a well-formed JSON-RPC error (`mcp_router::oracle`);
//! - a forwarded request carries no spoofed router header, and names a
//!   server only when it was routed;
//! - nothing is left hanging: a session API call is answered (as the
//!   broker would), after which the request goes on;
//! - where the core can see the same request (header values UTF-8), the
//!   wasm did what the pure core decides ([`mcp_router::oracle::decide`]):
//!   the same refusal (status, code, id), the same server, or the broker
//!   (a routed call may instead be refused for its session's identity
//!   binding, which is state the core's decision does not see).
//!
//! After a broken input the VM is replaced, so one finding does not hide
//! the next. Used by `fuzz-wasm` (`just fuzz`, 10⁶ inputs) and by a smoke
//! test in `just test`.

pub mod mutate;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp_protocol::headers;
use mcp_protocol::refusal::Refusal;
use mcp_protocol::versions::Era;
use mcp_router::fixtures;
use mcp_router::oracle::{self, Input, Verdict};
use mcp_router::table::RouteTable;
use router_config::session_api::UpstreamSessionResponse;

use crate::{Gateway, Host, HttpStream, Request, Response, Result, START_TIME_NS};
use mutate::{Mutant, Mutator};

/// The broker cluster of the fixture route table.
const BROKER_CLUSTER: &str = "mcp_broker";
/// Findings kept in full; the rest are counted.
const KEPT: usize = 20;

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub inputs: u64,
    /// Inputs the core also decided, and the wasm agreed with.
    pub compared: u64,
    /// Outcomes by kind (`refused -32602`, `routed`, `broker`, ...).
    pub outcomes: BTreeMap<String, u64>,
    pub violations: u64,
    /// The first findings, each with the input that caused it.
    pub findings: Vec<String>,
    pub elapsed: Duration,
}

/// What the wasm did with one request.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Refused {
        status: u32,
        code: i64,
        id: serde_json::Value,
    },
    /// Forwarded; the server it names (`x-mcp-servername`), if any.
    Forwarded { server: Option<String> },
}

/// The fixture cases' requests: the seeds every mutation starts from.
///
/// # Errors
/// The fixtures do not load.
pub fn seeds() -> std::result::Result<Vec<Input>, String> {
    fixtures::cases()?
        .iter()
        .map(|case| case.request.input())
        .collect()
}

/// Sends `runs` mutated requests (seeded by `seed`) and checks each.
///
/// # Errors
/// The fixtures or the gateway cannot be set up (not a finding).
pub fn run(host: &Host, runs: u64, seed: u64) -> Result<Report> {
    let seeds = seeds().map_err(|detail| crate::Error::Usage { detail })?;
    let table_json = fixtures::route_table_json();
    let core =
        RouteTable::new(fixtures::route_table().map_err(|detail| crate::Error::Usage { detail })?);
    let start = || {
        host.gateway()
            .plugin_config(table_json.as_bytes())
            .cluster(BROKER_CLUSTER)
            .workers(1)
            // Streams are checked before they end; forgetting them after
            // keeps a run of millions linear.
            .keep_stream_records(false)
            .start()
    };
    let mut gateway = start()?;
    let mut mutator = Mutator::new(seed);
    let mut report = Report::default();
    let began = Instant::now();
    for index in 0..runs {
        let Some(seed_input) = seeds.get(index as usize % seeds.len().max(1)) else {
            break;
        };
        let mutant = mutator.mutate(seed_input);
        report.inputs += 1;
        let verdict = mutant
            .raw_headers
            .is_empty()
            .then(|| oracle::decide(&core, &mutant.input));
        let checked = match verdict {
            Some(Err(broken)) => Err(format!("the core broke an invariant: {broken}")),
            Some(Ok(verdict)) => exchange(&gateway, &mutant).and_then(|outcome| {
                agree(&verdict, &outcome)?;
                report.compared += 1;
                Ok(outcome)
            }),
            None => exchange(&gateway, &mutant),
        };
        match checked {
            Ok(outcome) => *report.outcomes.entry(label(&outcome)).or_default() += 1,
            Err(finding) => {
                report.violations += 1;
                if report.findings.len() < KEPT {
                    report.findings.push(format!(
                        "{finding}\n  input: {}\n  raw headers: {:?}",
                        String::from_utf8_lossy(&mutant.input.encode()),
                        mutant.raw_headers
                    ));
                }
                gateway = start()?;
            }
        }
    }
    report.elapsed = began.elapsed();
    Ok(report)
}

fn label(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Refused { status, code, .. } => format!("refused {status} {code}"),
        Outcome::Forwarded { server: Some(_) } => "routed".to_owned(),
        Outcome::Forwarded { server: None } => "passed on (broker, or not MCP)".to_owned(),
    }
}

/// The request as Envoy hands it to the filter.
fn request(mutant: &Mutant) -> Request {
    let input = &mutant.input;
    let mut request = Request::new(&input.method, &input.path)
        .body(input.body.clone())
        .without_content_length();
    for (name, value) in &input.headers {
        request = request.header(name, value);
    }
    for (name, value) in &mutant.raw_headers {
        request = request.header(name, value);
    }
    request
}

/// One request through the wasm, and what came of it.
fn exchange(gateway: &Gateway, mutant: &Mutant) -> std::result::Result<Outcome, String> {
    let vm = gateway.vm(0);
    let stream = vm
        .send(&request(mutant))
        .map_err(|e| format!("trap or ABI breach: {e}"))?;
    // A cache miss asks the broker's session API: answer as it would.
    for call in stream.pending_calls() {
        if call.cluster != BROKER_CLUSTER {
            return Err(format!("a call to {:?}", call.cluster));
        }
        vm.answer(call.token, &session_answer())
            .map_err(|e| format!("trap answering the session API: {e}"))?;
    }
    let outcome = outcome(&stream);
    stream
        .finish()
        .map_err(|e| format!("trap ending the stream: {e}"))?;
    if let Some(failure) = vm.failure() {
        return Err(format!("the VM failed: {failure}"));
    }
    outcome
}

fn outcome(stream: &HttpStream) -> std::result::Result<Outcome, String> {
    if let Some(reply) = stream.local_response() {
        let (code, id) = oracle::read_error(&reply.body)?;
        if !(200..600).contains(&reply.status) {
            return Err(format!("a local reply with HTTP {}", reply.status));
        }
        return Ok(Outcome::Refused {
            status: reply.status,
            code,
            id,
        });
    }
    match stream.upstream_request() {
        Some(up) if up.complete => {
            for name in [
                headers::X_MCP_SERVERNAME,
                headers::X_MCP_TOOLNAME,
                headers::X_MCP_CLUSTER,
            ] {
                if up.header(name) == Some("spoofed") {
                    return Err(format!("a client's {name} reached the upstream"));
                }
            }
            Ok(Outcome::Forwarded {
                server: up.header(headers::X_MCP_SERVERNAME).map(str::to_owned),
            })
        }
        _ if stream.was_reset() => Err("the stream was reset without an answer".to_owned()),
        _ => Err(format!(
            "the request was left hanging\n{}",
            stream.describe()
        )),
    }
}

/// Whether the wasm did what the core decided.
fn agree(verdict: &Verdict, outcome: &Outcome) -> std::result::Result<(), String> {
    let same = match (verdict, outcome) {
        (
            Verdict::Refused { status, code, id },
            Outcome::Refused {
                status: s,
                code: c,
                id: i,
            },
        ) => {
            let expected = id
                .as_deref()
                .and_then(|raw| serde_json::from_str(raw).ok())
                .unwrap_or(serde_json::Value::Null);
            status == s && code == c && &expected == i
        }
        (Verdict::Routed { server, .. }, Outcome::Forwarded { server: Some(s) }) => server == s,
        // The session's record, which the core's decision does not see:
        // an earlier input of another identity opened it.
        (Verdict::Routed { .. }, Outcome::Refused { status, code, .. }) => {
            session_state_refusal(*status, *code)
        }
        (Verdict::Broker | Verdict::NotMcp, Outcome::Forwarded { server: None }) => true,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "the core decided {verdict:?}, the wasm did {outcome:?}"
        ))
    }
}

/// Whether (status, code) is the refusal of a session bound to another
/// identity, which only the session cache (state) can give.
fn session_state_refusal(status: u32, code: i64) -> bool {
    let reply = Refusal::SessionOfAnotherIdentity.reply_in(Era::Handshake, None);
    reply.status == status && oracle::read_error(&reply.body).is_ok_and(|(c, _)| c == code)
}

/// The session API's answer: an upstream session for a day.
fn session_answer() -> Response {
    let session = UpstreamSessionResponse {
        session_id: Some("fuzz-upstream-session".to_owned()),
        protocol_version: "2025-06-18".to_owned(),
        expires_at: START_TIME_NS / 1_000_000_000 + 86_400,
        authorization: None,
    };
    Response::ok().json(&serde_json::to_value(session).unwrap_or_default())
}
