//! The routing fixtures in `testdata/router`: a route table and JSON-RPC
//! requests with the decision each must get. Read by the core's unit tests
//! and by the wasm harness suite, so both check the same cases.
//!
//! Compiled for tests, and for other crates with the `test-fixtures`
//! feature; never part of the filter. The files are compiled in
//! (`include_str!`), so the tests need no filesystem: they also run as
//! wasm32-unknown-unknown on Node (`just test-wasm-bindgen`).

use std::collections::BTreeMap;

use router_config::RouterConfig;
use serde::Deserialize;

/// The route table file the cases run against, in `testdata/router`.
pub const ROUTE_TABLE_FILE: &str = "route-table.json";

const ROUTE_TABLE_JSON: &str = include_str!("../../../testdata/router/route-table.json");
const CASES_JSON: &str = include_str!("../../../testdata/router/cases.json");

/// One fixture case.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// A sentence naming the behaviour.
    pub name: String,
    pub request: CaseRequest,
    pub expect: Expect,
}

/// The request a client sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseRequest {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    /// The body as text, exact bytes.
    pub body: Option<String>,
    /// The body as hex, for bytes that are not UTF-8.
    pub body_hex: Option<String>,
}

/// The decision a case must get.
#[derive(Debug, Deserialize)]
#[serde(tag = "decision")]
pub enum Expect {
    /// Routed to `server`'s upstream with exactly these router headers
    /// (`x-mcp-method` and the one the method is routed by, such as
    /// `x-mcp-toolname`; `x-mcp-servername` and `x-mcp-cluster` follow from
    /// the server) and exactly this body.
    #[serde(rename = "route")]
    Route {
        server: String,
        headers: BTreeMap<String, String>,
        #[serde(rename = "upstreamBody")]
        upstream_body: String,
        /// The server does not speak the client's era: the call goes to
        /// the broker, which bridges it (no `:authority`/`:path` change).
        #[serde(default)]
        bridged: bool,
    },
    /// Passed to the broker, labelled `method` (absent for GET/DELETE).
    #[serde(rename = "broker")]
    Broker { method: Option<String> },
    /// Answered by the router with this status and JSON-RPC error.
    #[serde(rename = "reject")]
    Reject {
        status: u32,
        #[serde(rename = "errorCode")]
        error_code: i64,
        #[serde(rename = "messageContains")]
        message_contains: String,
        /// The id the error echoes (`null` when none could be read).
        id: Option<serde_json::Value>,
    },
    /// Not the MCP endpoint: passed untouched.
    #[serde(rename = "not_mcp")]
    NotMcp,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CasesFile {
    route_table: String,
    cases: Vec<Case>,
}

impl CaseRequest {
    /// The body's bytes.
    ///
    /// # Errors
    /// `body_hex` is not hex.
    pub fn body(&self) -> Result<Vec<u8>, String> {
        match (&self.body, &self.body_hex) {
            (_, Some(hex)) => decode_hex(hex),
            (Some(text), None) => Ok(text.clone().into_bytes()),
            (None, None) => Ok(Vec::new()),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The request as the fuzzing oracle takes it.
    ///
    /// # Errors
    /// `body_hex` is not hex.
    pub fn input(&self) -> Result<crate::oracle::Input, String> {
        Ok(crate::oracle::Input {
            method: self.method.clone(),
            path: self.path.clone(),
            headers: self.headers.clone(),
            body: self.body()?,
        })
    }
}

/// The route table the cases run against, as JSON text.
pub fn route_table_json() -> &'static str {
    ROUTE_TABLE_JSON
}

/// The route table, parsed.
///
/// # Errors
/// The file is not a route table.
pub fn route_table() -> Result<RouterConfig, String> {
    RouterConfig::from_json(ROUTE_TABLE_JSON.as_bytes()).map_err(|e| e.to_string())
}

/// Every case of `cases.json`.
///
/// # Errors
/// The file cannot be parsed, names another route table, or has
/// lost cases (fewer than 40).
pub fn cases() -> Result<Vec<Case>, String> {
    let path = "testdata/router/cases.json";
    let file: CasesFile = serde_json::from_str(CASES_JSON).map_err(|e| format!("{path}: {e}"))?;
    if file.route_table != ROUTE_TABLE_FILE {
        return Err(format!("{path} names route table {}", file.route_table));
    }
    if file.cases.len() < 40 {
        return Err(format!("{path} lost cases: {} left", file.cases.len()));
    }
    Ok(file.cases)
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("bad hex at {i} in {text:?}"))
        })
        .collect()
}
