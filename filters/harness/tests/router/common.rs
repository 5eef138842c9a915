//! Shared by the router's harness tests: the compiled `mcp_router.wasm`
//! (compiled once per test binary), the fixture route table, gateways,
//! session-cache seeding, and assertions in the router's vocabulary.

use std::sync::OnceLock;

use mcp_protocol::headers;
use mcp_protocol::identity::Identity;
use mcp_router::session_cache::{self, Record, RecordState};
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
    mcp_router::fixtures::route_table_json().as_bytes().to_vec()
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

/// The fixture table with `broker.firstCall: sessionApi`: a call the cache
/// has no session for waits on a session API call (a callout), then goes to
/// its upstream.
pub fn session_api_table_json() -> serde_json::Value {
    let mut table = route_table_json();
    table["broker"]["firstCall"] = "sessionApi".into();
    table
}

/// A gateway on `workers` VMs routing first calls through the session API.
pub fn session_api_gateway(workers: usize) -> Gateway {
    gateway_with(session_api_table_json().to_string().as_bytes(), workers)
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

/// The harness clock at start, Unix seconds.
pub const NOW: u64 = proxy_wasm_harness::START_TIME_NS / 1_000_000_000;

/// An upstream session as the broker's session API returns it (the gateway
/// session expires in a day).
pub fn upstream_session(id: &str) -> UpstreamSessionResponse {
    UpstreamSessionResponse {
        session_id: Some(id.to_owned()),
        protocol_version: VERSION.to_owned(),
        expires_at: NOW + 86_400,
        authorization: None,
    }
}

/// The slot count and key id of the fixture table (what the router uses).
fn table_sessions() -> (u32, String) {
    let table = route_table_json();
    let sessions = &table["sessions"];
    (
        session_cache::slot_count(sessions["cacheSlots"].as_u64().unwrap_or(16_384) as u32),
        sessions["keyId"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Writes `state` as the record of (server, gateway session) in its first
/// slot, as a request on any VM would have.
pub fn seed_record(gateway: &Gateway, server: &str, gateway_session: &str, state: RecordState) {
    let (slots, _) = table_sessions();
    let [slot, _] = session_cache::candidate_slots(server, gateway_session, slots);
    let record = Record {
        gateway_session: gateway_session.to_owned(),
        server: server.to_owned(),
        state,
    };
    gateway.shared().set(
        session_cache::slot_key(slot).as_bytes(),
        &record.encode(),
        0,
    );
}

/// A live record for a caller without credentials, valid for a minute.
pub fn seed_session(
    gateway: &Gateway,
    server: &str,
    gateway_session: &str,
    session: &UpstreamSessionResponse,
) {
    seed_session_for(gateway, server, gateway_session, session, None);
}

/// A live record for a caller sending `authorization`, valid for a minute.
pub fn seed_session_for(
    gateway: &Gateway,
    server: &str,
    gateway_session: &str,
    session: &UpstreamSessionResponse,
    authorization: Option<&str>,
) {
    let (_, key_id) = table_sessions();
    let identity = Identity::of_request(None, authorization.map(str::as_bytes));
    let state = RecordState::Live {
        valid_until: NOW + 60,
        binding: session_cache::binding_hash(&key_id, identity),
        key_id,
        session: session.clone(),
    };
    seed_record(gateway, server, gateway_session, state);
}

/// What the cache holds for (server, gateway session), simplified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// A live record with this upstream session id.
    Live(Option<String>),
    /// The upstream lost this session.
    Stale(String),
    Ended,
}

/// The record of (server, gateway session), from either of its slots.
pub fn cached_record(gateway: &Gateway, server: &str, gateway_session: &str) -> Option<Record> {
    let (slots, _) = table_sessions();
    session_cache::candidate_slots(server, gateway_session, slots)
        .into_iter()
        .find_map(|slot| {
            let (value, _) = gateway
                .shared()
                .get(session_cache::slot_key(slot).as_bytes())?;
            Record::decode(&value).filter(|r| r.is_for(server, gateway_session))
        })
}

pub fn cached_session(gateway: &Gateway, server: &str, gateway_session: &str) -> Option<Cached> {
    cached_record(gateway, server, gateway_session).map(|record| match record.state {
        RecordState::Live { session, .. } => Cached::Live(session.session_id),
        RecordState::Stale { session_id } => Cached::Stale(session_id),
        RecordState::Ended { .. } => Cached::Ended,
    })
}

/// Forgets every cached record of `gateway_session` (the slots are emptied,
/// since shared data cannot delete).
pub fn clear_sessions(gateway: &Gateway, gateway_session: &str) {
    let (slots, _) = table_sessions();
    for server in ["weather", "files", "search"] {
        for slot in session_cache::candidate_slots(server, gateway_session, slots) {
            let key = session_cache::slot_key(slot);
            let ours = gateway
                .shared()
                .get(key.as_bytes())
                .and_then(|(value, _)| Record::decode(&value))
                .is_some_and(|r| r.is_for(server, gateway_session));
            if ours {
                gateway.shared().set(key.as_bytes(), b"", 0);
            }
        }
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

/// A `tools/call` POST to `/mcp` in `gateway_session`.
pub fn tools_call_in(gateway_session: &str, id: u64, name: &str) -> Request {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": {}}
    });
    Request::post("/mcp")
        .header(headers::SESSION_ID, gateway_session)
        .header(headers::PROTOCOL_VERSION, VERSION)
        .header("content-type", "application/json")
        .body(body.to_string())
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
            .expect_no_upstream_header(headers::X_MCP_TOOLNAME)
            .expect_no_upstream_header(headers::X_MCP_PROMPTNAME)
            .expect_no_upstream_header(headers::X_MCP_RESOURCEURI);
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
