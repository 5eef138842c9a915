//! Shared by the router's harness tests: the compiled `mcp_router.wasm`
//! (compiled once per test binary), the fixture route table, gateways,
//! session-cache seeding, and assertions in the router's vocabulary.

use std::sync::OnceLock;

use mcp_protocol::headers;
use mcp_router::session_cache::{self, CachedSession};
use proxy_wasm_harness::{Gateway, Host, HttpStream, Request, Response, locate};
use router_config::session_api::UpstreamSessionResponse;

pub const BROKER_CLUSTER: &str = "mcp_broker";
pub const SESSION: &str = "gw-session-1";
pub const VERSION: &str = "2025-06-18";

/// The router module, compiled once. Panics (failing the test) with the
/// build hint if the `.wasm` is missing.
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let path = locate::router_wasm().unwrap_or_else(|e| panic!("{e}"));
        Host::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
    })
}

/// `testdata/router/route-table.json`.
pub fn route_table() -> Vec<u8> {
    mcp_router::fixtures::route_table_json()
        .expect("read the fixture route table")
        .into_bytes()
}

/// The fixture table as JSON, to derive variants.
pub fn route_table_json() -> serde_json::Value {
    serde_json::from_slice(&route_table()).expect("fixture table is JSON")
}

/// A gateway on `workers` VMs with the fixture table and the broker
/// cluster.
pub fn gateway(workers: usize) -> Gateway {
    gateway_with(&route_table(), workers)
}

pub fn gateway_with(table: &[u8], workers: usize) -> Gateway {
    host()
        .gateway()
        .plugin_config(table)
        .cluster(BROKER_CLUSTER)
        .workers(workers)
        .start()
        .unwrap_or_else(|e| panic!("starting the gateway: {e}"))
}

/// An upstream session as the broker's session API returns it.
pub fn upstream_session(id: &str) -> UpstreamSessionResponse {
    UpstreamSessionResponse {
        session_id: Some(id.to_owned()),
        protocol_version: VERSION.to_owned(),
        authorization: None,
    }
}

/// Puts an upstream session in the shared cache, as a previous request
/// (on any VM) would have.
pub fn seed_session(
    gateway: &Gateway,
    server: &str,
    gateway_session: &str,
    session: &UpstreamSessionResponse,
) {
    let key = session_cache::key(server, gateway_session);
    let value = CachedSession::Live(session.clone()).encode();
    gateway.shared().set(key.as_bytes(), &value, 0);
}

/// The cached entry for (server, gateway session), decoded.
pub fn cached_session(
    gateway: &Gateway,
    server: &str,
    gateway_session: &str,
) -> Option<CachedSession> {
    let key = session_cache::key(server, gateway_session);
    gateway
        .shared()
        .get(key.as_bytes())
        .and_then(|(value, _)| CachedSession::decode(&value))
}

/// Forgets every cached session of `gateway_session` (the router writes
/// empty values to clear, since shared data cannot delete).
pub fn clear_sessions(gateway: &Gateway, gateway_session: &str) {
    for server in ["weather", "files", "search"] {
        let key = session_cache::key(server, gateway_session);
        gateway.shared().set(key.as_bytes(), b"", 0);
    }
}

/// A `tools/call` POST to `/mcp` in session `SESSION`.
pub fn tools_call(id: u64, name: &str) -> Request {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": {}}
    });
    mcp_post(&body.to_string())
}

/// A POST to `/mcp` with the session headers and `body`.
pub fn mcp_post(body: &str) -> Request {
    Request::post("/mcp")
        .header(headers::SESSION_ID, SESSION)
        .header(headers::PROTOCOL_VERSION, VERSION)
        .header("content-type", "application/json")
        .body(body)
}

/// The broker's 200 answer carrying `session`.
pub fn broker_answer(session: &UpstreamSessionResponse) -> Response {
    Response::ok().json(&serde_json::to_value(session).expect("session serialises"))
}

/// Assertions named after the router's behaviour.
pub trait RouterExpect {
    /// Routed to `server`'s upstream as a `tools/call`.
    fn expect_routed_to(&self, server: &str) -> &Self;
    /// Passed to the broker, labelled `x-mcp-method: method` (or with no
    /// label for requests decided on their headers alone).
    fn expect_to_broker(&self, method: Option<&str>) -> &Self;
    /// Not the MCP endpoint: passed untouched.
    fn expect_untouched(&self) -> &Self;
    /// Answered by the router with a JSON-RPC error; returns the body.
    fn expect_jsonrpc_error(&self, status: u32, code: i64) -> serde_json::Value;
}

impl RouterExpect for HttpStream {
    #[track_caller]
    fn expect_routed_to(&self, server: &str) -> &Self {
        self.expect_forwarded()
            .expect_upstream_header(headers::X_MCP_METHOD, "tools/call")
            .expect_upstream_header(headers::X_MCP_SERVERNAME, server)
    }

    #[track_caller]
    fn expect_to_broker(&self, method: Option<&str>) -> &Self {
        self.expect_forwarded()
            .expect_no_upstream_header(headers::X_MCP_SERVERNAME)
            .expect_no_upstream_header(headers::X_MCP_TOOLNAME);
        match method {
            Some(method) => self.expect_upstream_header(headers::X_MCP_METHOD, method),
            None => self.expect_no_upstream_header(headers::X_MCP_METHOD),
        }
    }

    #[track_caller]
    fn expect_untouched(&self) -> &Self {
        self.expect_forwarded()
            .expect_no_upstream_header(headers::X_MCP_METHOD)
            .expect_no_upstream_header(headers::X_MCP_SERVERNAME)
    }

    #[track_caller]
    fn expect_jsonrpc_error(&self, status: u32, code: i64) -> serde_json::Value {
        let local = self.expect_local_response(status);
        self.expect_downstream_status(status);
        let body = local.json();
        assert_eq!(
            local.headers.get_str("content-type"),
            Some("application/json"),
            "{}",
            self.describe()
        );
        assert_eq!(body["jsonrpc"], "2.0", "{}", self.describe());
        assert_eq!(
            body["error"]["code"].as_i64(),
            Some(code),
            "{}",
            self.describe()
        );
        assert!(body["error"]["message"].is_string(), "{}", self.describe());
        body
    }
}
