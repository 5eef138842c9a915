//! The requests whose cost the filter's figures and its budget measure:
//! a route table of a given size (servers of 100 tools, each with prompts,
//! resources and a template, built by the one builder), a request body of
//! a given size for each way a request goes, and one measured exchange
//! (fresh VM, warm-up request of the same shape, then the measured one).
//! Shared by `bench-filter` (docs/benchmarks/filter-cost.md) and the
//! budget test (tests/budget.rs), so both count the same thing.

use router_config::{BrokerRoute, Limits, RouteTableSettings, ServerRoute, build_route_table};

use crate::record::{Callback, Event};
use crate::{Error, Host, HttpStream, Request, Response, Result, START_TIME_NS, Vm};

pub const TOOLS_PER_SERVER: usize = 100;
/// Prompts and resources per server (besides one resource template).
pub const ENTRIES_PER_SERVER: usize = 10;
const BROKER: &str = "mcp_broker";
const SESSION: &str = "bench-session";
pub const PAGE: u64 = 64 << 10;

/// The route table: `tools` tools spread over servers of 100 tools each,
/// server `i` with prefix `s{i}_`, built by the one builder.
pub fn table(tools: usize) -> Vec<u8> {
    let servers = tools.div_ceil(TOOLS_PER_SERVER);
    let upstreams = (0..servers)
        .map(|i| ServerRoute {
            name: format!("srv{i}"),
            prefix: format!("s{i}_"),
            authority: format!("srv{i}.mcp.local:8000"),
            path: "/mcp".to_owned(),
            cluster: Some(format!("outbound|8000||srv{i}.mcp.svc.cluster.local")),
            forward_authorization: false,
            forward_headers: Vec::new(),
            tools: (0..TOOLS_PER_SERVER.min(tools - i * TOOLS_PER_SERVER))
                .map(|j| format!("tool_{j}"))
                .collect(),
            prompts: (0..ENTRIES_PER_SERVER)
                .map(|j| format!("prompt_{j}"))
                .collect(),
            resources: (0..ENTRIES_PER_SERVER)
                .map(|j| format!("res://srv{i}/doc/{j}"))
                .collect(),
            resource_templates: vec![format!("tpl://srv{i}/{{id}}")],
            // Both eras: a stateless-era call is routed directly too.
            era: router_config::ServerEra::Both,
            ..ServerRoute::new("", "", "", "")
        })
        .collect();
    let build = build_route_table(
        RouteTableSettings {
            mcp_path: "/mcp".to_owned(),
            limits: Limits {
                max_request_body_bytes: 4 << 20,
            },
            broker: BrokerRoute {
                cluster: BROKER.to_owned(),
                authority: "broker.local".to_owned(),
                session_path: "/v1/upstream-sessions".to_owned(),
                timeout_ms: 5000,
                first_call: Default::default(),
            },
            sessions: Default::default(),
            access: Default::default(),
            policy: Default::default(),
        },
        upstreams,
    );
    assert!(
        build.issues.is_empty(),
        "bench table has issues: {:?}",
        build.issues
    );
    build.config.to_json().into_bytes()
}

/// The verified claims of [`Kind::PolicyTool`]'s caller: base64url of
/// `{"sub":"bench-user","groups":["staff","bench"],"scope":"mcp:tools"}`.
const POLICY_CLAIMS: &str =
    "eyJzdWIiOiJiZW5jaC11c2VyIiwiZ3JvdXBzIjpbInN0YWZmIiwiYmVuY2giXSwic2NvcGUiOiJtY3A6dG9vbHMifQ";

/// `config` (a [`table`] of `tools` tools) with a policy: three identity
/// rules (the caller matches the last) and a virtual server of ten tools,
/// the measured one among them.
pub fn with_policy(config: &[u8], tools: usize) -> Vec<u8> {
    let mut table: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    let tool = tool_name(tools);
    let server = format!("srv{}", tools.div_ceil(TOOLS_PER_SERVER) / 2);
    let members: Vec<String> = (0..9).map(|i| format!("other_{i}")).chain([tool]).collect();
    table["policy"] = serde_json::json!({
        "rules": [
            { "name": "admins", "groups": ["admins"], "allow": [{ "server": "*" }] },
            { "name": "readers", "scopes": ["mcp:read"], "allow": [{ "server": "*", "prompts": ["*"] }] },
            { "name": "bench", "groups": ["bench"], "scopes": ["mcp:tools"],
              "allow": [{ "server": server, "tools": ["*"] }] }
        ],
        "virtualServers": [{ "name": "team/bench", "tools": members }]
    });
    table.to_string().into_bytes()
}

/// A tool in the middle of the table.
pub fn tool_name(tools: usize) -> String {
    let servers = tools.div_ceil(TOOLS_PER_SERVER);
    let server = servers / 2;
    let in_server = TOOLS_PER_SERVER.min(tools - server * TOOLS_PER_SERVER);
    format!("s{server}_tool_{}", in_server / 2)
}

/// A way a request goes through the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tool,
    /// A stateless-era (2026-07-28) `tools/call`, routed from its headers.
    ModernTool,
    Prompt,
    Resource,
    Template,
    Broker,
    /// A `tools/call` of a tool the table does not have: answered by the
    /// filter itself.
    Rejected,
    /// [`Kind::Tool`] under a policy ([`with_policy`]): the caller's
    /// verified claims checked against identity rules, through a virtual
    /// server.
    PolicyTool,
    /// [`Kind::Tool`] as the first call of a session to its upstream: no
    /// session cached, so it goes to the broker (`firstCall: forward`),
    /// whose answer carries the session the router caches.
    FirstCall,
}

pub const KINDS: [Kind; 9] = [
    Kind::Tool,
    Kind::PolicyTool,
    Kind::FirstCall,
    Kind::ModernTool,
    Kind::Prompt,
    Kind::Resource,
    Kind::Template,
    Kind::Broker,
    Kind::Rejected,
];

impl Kind {
    pub fn method(self) -> &'static str {
        match self {
            Kind::Tool | Kind::ModernTool | Kind::Rejected | Kind::PolicyTool | Kind::FirstCall => {
                "tools/call"
            }
            Kind::Prompt => "prompts/get",
            Kind::Resource | Kind::Template => "resources/read",
            Kind::Broker => "tools/list",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Tool => "tools/call (routed)",
            Kind::ModernTool => "tools/call, 2026-07-28 (routed from headers)",
            Kind::Prompt => "prompts/get (routed)",
            Kind::Resource => "resources/read (listed URI)",
            Kind::Template => "resources/read (last template)",
            Kind::Broker => "tools/list (to broker)",
            Kind::Rejected => "tools/call, unknown tool (refused)",
            Kind::PolicyTool => "tools/call (routed, identity rules + virtual server)",
            Kind::FirstCall => "tools/call, first of a session (to the broker, session cached)",
        }
    }
}

/// A body of exactly `size` bytes (or the smallest possible).
pub fn body(kind: Kind, tools: usize, size: usize) -> Vec<u8> {
    let servers = tools.div_ceil(TOOLS_PER_SERVER);
    let middle = servers / 2;
    let (head, tail) = match kind {
        Kind::Tool | Kind::PolicyTool | Kind::FirstCall => (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{}","arguments":{{"text":""#,
                tool_name(tools)
            ),
            r#""}}}"#,
        ),
        Kind::ModernTool => (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}},"name":"{}","arguments":{{"text":""#,
                tool_name(tools)
            ),
            r#""}}}"#,
        ),
        Kind::Prompt => (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{{"name":"s{middle}_prompt_5","arguments":{{"text":""#
            ),
            r#""}}}"#,
        ),
        Kind::Resource => (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{{"uri":"res://srv{middle}/doc/5","_meta":{{"text":""#
            ),
            r#""}}}"#,
        ),
        Kind::Template => (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{{"uri":"tpl://srv{}/item-42","_meta":{{"text":""#,
                servers - 1
            ),
            r#""}}}"#,
        ),
        Kind::Rejected => (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no_such_tool","arguments":{"text":""#
                .to_owned(),
            r#""}}}"#,
        ),
        Kind::Broker => (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":""#.to_owned(),
            r#""}}"#,
        ),
    };
    let pad = size.saturating_sub(head.len() + tail.len());
    // Varied text, so nothing is cheaper than a real argument would be.
    let text: String = (0..pad)
        .map(|i| char::from(b"abcdefghij klmnopqrstuvwxyz0123456789"[i % 37]))
        .collect();
    format!("{head}{text}{tail}").into_bytes()
}

pub fn request(kind: Kind, tools: usize, size: usize) -> Request {
    request_in(kind, tools, size, SESSION)
}

/// [`request`] in gateway session `session` (handshake-era kinds).
pub fn request_in(kind: Kind, tools: usize, size: usize, session: &str) -> Request {
    let request = Request::post("/mcp").header("content-type", "application/json");
    let request = if kind == Kind::PolicyTool {
        request
            .header("x-jwt-payload", POLICY_CLAIMS)
            .header("x-mcp-virtualserver", "team/bench")
    } else {
        request
    };
    let request = if kind == Kind::ModernTool {
        request
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool_name(tools))
    } else {
        request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18")
    };
    request.body(body(kind, tools, size))
}

/// One request through, answering the broker if the filter asks; it must
/// reach the upstream (or the broker) labelled with `kind`'s method.
pub fn exchange(host_vm: &Vm, request: &Request, kind: Kind) -> Result<HttpStream> {
    let stream = host_vm.send(request)?;
    if kind == Kind::Rejected {
        if stream.local_response().is_none() {
            return Err(Error::Usage {
                detail: format!("the bench request was not refused:\n{}", stream.describe()),
            });
        }
        stream.finish()?;
        return Ok(stream);
    }
    for call in stream.pending_calls() {
        host_vm.answer(
            call.token,
            &Response::ok().json(&serde_json::json!({
                "sessionId": "upstream-session", "protocolVersion": "2025-06-18",
                // A day past the harness clock: the measured request finds
                // the session cached, as a session's later calls do.
                "expiresAt": START_TIME_NS / 1_000_000_000 + 86_400
            })),
        )?;
    }
    let passed = stream.upstream_request().filter(|r| r.complete);
    let labelled = passed
        .as_ref()
        .and_then(|r| r.header("x-mcp-method").map(str::to_owned));
    if stream.local_response().is_some() || labelled.as_deref() != Some(kind.method()) {
        return Err(Error::Usage {
            detail: format!(
                "the bench request was not passed on:\n{}",
                stream.describe()
            ),
        });
    }
    answer_and_finish(stream)
}

/// Answers `stream` as its upstream would (through the broker, with the
/// session it opened, for a first call), then ends it.
fn answer_and_finish(stream: HttpStream) -> Result<HttpStream> {
    let mut response = Response::ok().header("mcp-session-id", "upstream-session");
    let first_call = stream
        .upstream_request()
        .is_some_and(|r| r.header(mcp_protocol::headers::X_MCP_FIRST_CALL).is_some());
    if first_call {
        response = response.header(
            mcp_protocol::headers::X_MCP_UPSTREAM_SESSION,
            serde_json::json!({
                "sessionId": "upstream-session", "protocolVersion": "2025-06-18",
                // A day past the harness clock: the next request finds the
                // session cached, as a session's later calls do.
                "expiresAt": START_TIME_NS / 1_000_000_000 + 86_400
            })
            .to_string(),
        );
    }
    stream
        .respond(&response.json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}})))?;
    stream.finish()?;
    Ok(stream)
}

/// What one measured request cost the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// The request body's length, bytes.
    pub body: usize,
    /// Wasm instructions in the request callbacks (headers, body).
    pub request_fuel: u64,
    /// Host calls made in the request callbacks.
    pub request_host_calls: u64,
    /// Wasm instructions of the request-header callback alone.
    pub headers_fuel: u64,
    /// Wasm instructions over the stream's whole life (context creation,
    /// request, upstream response, done/log/delete).
    pub total_fuel: u64,
    /// Host calls over the stream's whole life.
    pub total_host_calls: u64,
    /// Linear memory after configuration and at the end, 64 KiB pages.
    pub base_pages: u64,
    pub peak_pages: u64,
}

/// Measures one request of `kind` with a body of about `size` bytes
/// against `config` (a route table of `tools` tools, from [`table`];
/// [`with_policy`] added for [`Kind::PolicyTool`]): a
/// fresh VM, a warm-up request of the same shape (it fills the session
/// cache, as a session's first call does), then the measured one.
///
/// # Errors
/// Any harness error, or [`Error::Usage`] when the request is not routed
/// (or, for [`Kind::Rejected`], not refused) as its kind says.
pub fn measure(host: &Host, config: &[u8], tools: usize, kind: Kind, size: usize) -> Result<Cost> {
    let with_policy;
    let config = if kind == Kind::PolicyTool {
        with_policy = self::with_policy(config, tools);
        &with_policy[..]
    } else {
        config
    };
    let gateway = host
        .gateway()
        .plugin_config(config)
        .cluster(BROKER)
        .start()?;
    let vm = gateway.vm(0);
    let base_pages = vm.memory_pages();
    let request = request(kind, tools, size);
    exchange(vm, &request, kind)?;
    // A first call is measured in a session the warm-up did not open.
    let measured = match kind {
        Kind::FirstCall => request_in(kind, tools, size, "bench-session-2"),
        _ => request,
    };
    let stream = exchange(vm, &measured, kind)?;
    let request = measured;
    Ok(Cost::of(
        &stream,
        request.body.len(),
        base_pages,
        vm.memory_pages(),
    ))
}

impl Cost {
    /// The cost of `stream`, whose request body was `body` bytes, on a VM
    /// that had `base_pages` after configuration and `peak_pages` at the end.
    fn of(stream: &HttpStream, body: usize, base_pages: u64, peak_pages: u64) -> Cost {
        let (mut request_fuel, mut request_host_calls, mut headers_fuel) = (0, 0, 0);
        for event in stream.events() {
            if let Event::Returned {
                callback: callback @ (Callback::RequestHeaders | Callback::RequestBody),
                fuel,
                host_calls,
                ..
            } = event
            {
                request_fuel += fuel;
                request_host_calls += host_calls;
                if callback == Callback::RequestHeaders {
                    headers_fuel += fuel;
                }
            }
        }
        Cost {
            body,
            request_fuel,
            request_host_calls,
            headers_fuel,
            total_fuel: stream.fuel(),
            total_host_calls: stream.host_calls(),
            base_pages,
            peak_pages,
        }
    }
}

/// What the benchmarks' wasm floor filter (bench/floor-filter) costs in
/// `mode` for the same 200 B `tools/call`, loaded from `floor_wasm`:
/// `floor` (hold the body, read it, set three headers) is the instructions
/// and host calls any wasm MCP router spends at least; `router-calls` makes
/// the host calls our router makes, and nothing else.
///
/// # Errors
/// Any harness error (a missing or broken module included).
pub fn measure_floor(floor_wasm: &std::path::Path, tools: usize, mode: &str) -> Result<Cost> {
    let host = Host::load(floor_wasm)?;
    let gateway = host.gateway().plugin_config(mode.as_bytes()).start()?;
    let vm = gateway.vm(0);
    let base_pages = vm.memory_pages();
    let request = request(Kind::Tool, tools, 200);
    let exchange = || answer_and_finish(vm.send(&request)?);
    exchange()?;
    let stream = exchange()?;
    Ok(Cost::of(
        &stream,
        request.body.len(),
        base_pages,
        vm.memory_pages(),
    ))
}
