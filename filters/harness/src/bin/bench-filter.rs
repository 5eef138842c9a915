//! `bench-filter`: what one request costs the router, in wasm instructions
//! (wasmtime fuel: deterministic, whatever the machine's load) and in
//! linear memory, for bodies of about 200 B, 4 KiB, 64 KiB and 1 MiB, route
//! tables of 10, 1,000 and 10,000 tools, and each way a request goes: a
//! routed `tools/call` and `prompts/get` (by name, spliced), a routed
//! `resources/read` (by listed URI, and by a URI only a resource template
//! matches, the last in the table), and a method that is not routed
//! (`tools/list`, passed to the broker).
//!
//! Prints a markdown table and writes it to `docs/benchmarks/filter-cost.md`
//! (or the path given as the first argument).
//!
//! Each row runs on a fresh VM: start, configure, one warm-up request of
//! the same shape (it fills the session cache, as the first call of a
//! session does), then the measured request, a cache hit, with its full
//! lifecycle (context creation, request headers and body, upstream response
//! headers and body, done/log/delete).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use proxy_wasm_harness::{Callback, Event, Host, HttpStream, Request, Response, Result, locate};
use router_config::{BrokerRoute, Limits, RouteTableSettings, ServerRoute, build_route_table};

const TABLE_SIZES: [usize; 3] = [10, 1_000, 10_000];
const BODY_SIZES: [(usize, &str); 4] = [
    (200, "200 B"),
    (4 << 10, "4 KiB"),
    (64 << 10, "64 KiB"),
    (1 << 20, "1 MiB"),
];
const TOOLS_PER_SERVER: usize = 100;
/// Prompts and resources per server (besides one resource template).
const ENTRIES_PER_SERVER: usize = 10;
const BROKER: &str = "mcp_broker";
const SESSION: &str = "bench-session";
const PAGE: u64 = 64 << 10;

/// The route table: `tools` tools spread over servers of 100 tools each,
/// server `i` with prefix `s{i}_`, built by the one builder.
fn table(tools: usize) -> Vec<u8> {
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
            },
            sessions: Default::default(),
            access: Default::default(),
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

/// A tool in the middle of the table.
fn tool_name(tools: usize) -> String {
    let servers = tools.div_ceil(TOOLS_PER_SERVER);
    let server = servers / 2;
    let in_server = TOOLS_PER_SERVER.min(tools - server * TOOLS_PER_SERVER);
    format!("s{server}_tool_{}", in_server / 2)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tool,
    /// A stateless-era (2026-07-28) `tools/call`, routed from its headers.
    ModernTool,
    Prompt,
    Resource,
    Template,
    Broker,
}

const KINDS: [Kind; 6] = [
    Kind::Tool,
    Kind::ModernTool,
    Kind::Prompt,
    Kind::Resource,
    Kind::Template,
    Kind::Broker,
];

impl Kind {
    fn method(self) -> &'static str {
        match self {
            Kind::Tool | Kind::ModernTool => "tools/call",
            Kind::Prompt => "prompts/get",
            Kind::Resource | Kind::Template => "resources/read",
            Kind::Broker => "tools/list",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Tool => "tools/call (routed)",
            Kind::ModernTool => "tools/call, 2026-07-28 (routed from headers)",
            Kind::Prompt => "prompts/get (routed)",
            Kind::Resource => "resources/read (listed URI)",
            Kind::Template => "resources/read (last template)",
            Kind::Broker => "tools/list (to broker)",
        }
    }
}

/// A body of exactly `size` bytes (or the smallest possible).
fn body(kind: Kind, tools: usize, size: usize) -> Vec<u8> {
    let servers = tools.div_ceil(TOOLS_PER_SERVER);
    let middle = servers / 2;
    let (head, tail) = match kind {
        Kind::Tool => (
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

struct Row {
    tools: usize,
    kind: Kind,
    label: &'static str,
    body: usize,
    request_fuel: u64,
    total_fuel: u64,
    base_pages: u64,
    peak_pages: u64,
}

/// Wasm instructions spent in the request callbacks of a stream.
fn request_fuel(stream: &HttpStream) -> u64 {
    stream
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Returned {
                callback: Callback::RequestHeaders | Callback::RequestBody,
                fuel,
                ..
            } => Some(*fuel),
            _ => None,
        })
        .sum()
}

fn request(kind: Kind, tools: usize, size: usize) -> Request {
    let request = Request::post("/mcp").header("content-type", "application/json");
    let request = if kind == Kind::ModernTool {
        request
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool_name(tools))
    } else {
        request
            .header("mcp-session-id", SESSION)
            .header("mcp-protocol-version", "2025-06-18")
    };
    request.body(body(kind, tools, size))
}

/// One request through, answering the broker if the filter asks; it must
/// reach the upstream (or the broker) labelled with `kind`'s method.
fn exchange(host_vm: &proxy_wasm_harness::Vm, request: &Request, kind: Kind) -> Result<HttpStream> {
    let stream = host_vm.send(request)?;
    for call in stream.pending_calls() {
        host_vm.answer(
            call.token,
            &Response::ok().json(&serde_json::json!({
                "sessionId": "upstream-session", "protocolVersion": "2025-06-18"
            })),
        )?;
    }
    let passed = stream.upstream_request().filter(|r| r.complete);
    let labelled = passed
        .as_ref()
        .and_then(|r| r.header("x-mcp-method").map(str::to_owned));
    if stream.local_response().is_some() || labelled.as_deref() != Some(kind.method()) {
        return Err(proxy_wasm_harness::Error::Usage {
            detail: format!(
                "the bench request was not passed on:\n{}",
                stream.describe()
            ),
        });
    }
    stream.respond(
        &Response::ok()
            .header("mcp-session-id", "upstream-session")
            .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
    )?;
    stream.finish()?;
    Ok(stream)
}

fn measure(host: &Host, tools: usize, config: &[u8], kind: Kind) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (size, label) in BODY_SIZES {
        let gateway = host
            .gateway()
            .plugin_config(config)
            .cluster(BROKER)
            .start()?;
        let vm = gateway.vm(0);
        let base_pages = vm.memory_pages();
        let request = request(kind, tools, size);
        exchange(vm, &request, kind)?;
        let stream = exchange(vm, &request, kind)?;
        rows.push(Row {
            tools,
            kind,
            label,
            body: request_body_len(kind, tools, size),
            request_fuel: request_fuel(&stream),
            total_fuel: stream.fuel(),
            base_pages,
            peak_pages: vm.memory_pages(),
        });
    }
    Ok(rows)
}

fn request_body_len(kind: Kind, tools: usize, size: usize) -> usize {
    body(kind, tools, size).len()
}

fn mib(pages: u64) -> String {
    format!("{:.2}", (pages * PAGE) as f64 / f64::from(1u32 << 20))
}

fn report(rows: &[Row], module_size: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Filter cost: wasm instructions and memory per request\n\n\
         Generated by `just bench-filter` (filters/harness/src/bin/bench-filter.rs) from\n\
         `mcp_router.wasm` ({module_size} bytes) on the proxy-wasm harness (wasmtime 48).\n\
         Instructions are wasmtime fuel: one unit per wasm instruction executed in the\n\
         filter (host functions cost nothing), so the figures are exact and do not depend\n\
         on the machine. Memory is the module's linear memory, which never shrinks.\n\n\
         Each row: a fresh VM with the route table, a warm-up request of the same shape,\n\
         then the measured one (upstream session cached). *Request* is\n\
         `on_request_headers` + `on_request_body`; *lifecycle* adds context creation,\n\
         the upstream response (session id mapped back) and done/log/delete.\n"
    );
    let _ = writeln!(
        out,
        "| tools in table | method | body | request instr. | instr./body byte | lifecycle instr. | memory after configure (MiB) | peak memory (MiB) |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} |",
            row.tools,
            row.kind.label(),
            row.label,
            row.request_fuel,
            row.request_fuel as f64 / row.body as f64,
            row.total_fuel,
            mib(row.base_pages),
            mib(row.peak_pages),
        );
    }
    out.push_str(&reading(rows));
    out.push_str("\n## Growth\n\n");
    let _ = writeln!(
        out,
        "Marginal cost per body byte, between the 64 KiB and 1 MiB bodies, and the\n\
         spread of the request cost across table sizes for the same body:\n"
    );
    let _ = writeln!(
        out,
        "| method | tools in table | instr. per extra body byte |\n|---|---:|---:|"
    );
    for kind in KINDS {
        for tools in TABLE_SIZES {
            let pick = |label: &str| {
                rows.iter()
                    .find(|r| r.kind == kind && r.tools == tools && r.label == label)
            };
            if let (Some(small), Some(large)) = (pick("64 KiB"), pick("1 MiB")) {
                let slope = (large.request_fuel - small.request_fuel) as f64
                    / (large.body - small.body) as f64;
                let _ = writeln!(out, "| {} | {tools} | {slope:.2} |", kind.label());
            }
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "| method | body | min request instr. | max request instr. | max/min |\n|---|---:|---:|---:|---:|"
    );
    for kind in KINDS {
        for (_, label) in BODY_SIZES {
            let costs: Vec<u64> = rows
                .iter()
                .filter(|r| r.kind == kind && r.label == label)
                .map(|r| r.request_fuel)
                .collect();
            if let (Some(min), Some(max)) = (costs.iter().min(), costs.iter().max()) {
                let _ = writeln!(
                    out,
                    "| {} | {label} | {min} | {max} | {:.3} |",
                    kind.label(),
                    *max as f64 / (*min).max(1) as f64
                );
            }
        }
    }
    out
}

/// The figures that answer the questions, in words.
fn reading(rows: &[Row]) -> String {
    let slope = |kind: Kind| {
        let pick = |label: &str| {
            rows.iter()
                .find(|r| r.kind == kind && r.tools == TABLE_SIZES[0] && r.label == label)
        };
        match (pick("64 KiB"), pick("1 MiB")) {
            (Some(a), Some(b)) => {
                (b.request_fuel - a.request_fuel) as f64 / (b.body - a.body) as f64
            }
            _ => f64::NAN,
        }
    };
    let spread = rows
        .iter()
        .map(|r| {
            let same: Vec<u64> = rows
                .iter()
                .filter(|o| o.kind == r.kind && o.label == r.label)
                .map(|o| o.request_fuel)
                .collect();
            let (min, max) = (same.iter().min(), same.iter().max());
            match (min, max) {
                (Some(min), Some(max)) => max - min,
                _ => 0,
            }
        })
        .max()
        .unwrap_or(0);
    let table_memory = |tools: usize| {
        rows.iter()
            .find(|r| r.tools == tools)
            .map_or(0, |r| r.base_pages)
    };
    let per_thousand = (table_memory(TABLE_SIZES[2]) - table_memory(TABLE_SIZES[0])) as f64
        * PAGE as f64
        / ((TABLE_SIZES[2] - TABLE_SIZES[0]) as f64 / 1000.0)
        / 1024.0;
    let peak = |kind: Kind| {
        rows.iter()
            .filter(|r| r.kind == kind && r.label == "1 MiB")
            .map(|r| {
                r.peak_pages.saturating_sub(r.base_pages) as f64 * PAGE as f64
                    / f64::from(1u32 << 20)
            })
            .fold(0.0, f64::max)
    };
    format!(
        "\n## Reading\n\n\
         - The work grows linearly with the body: {:.2} instructions per extra body\n  \
         byte for a routed `tools/call` (parse, then splice the name), {:.2} for a\n  \
         message passed to the broker (parse only).\n\
         - It does not grow with the route table: for the same body, 10 and 10,000\n  \
         tools differ by at most {spread} instructions (a fixed cost, not per byte).\n\
         - The table itself costs about {per_thousand:.0} KiB of linear memory per 1,000 tools.\n\
         - A 1 MiB body raises peak memory by {:.1} MiB when routed (the buffered\n  \
         body and its spliced copy) and {:.1} MiB when passed to the broker.\n\
         - At 200 B in the 10,000-tool table (100 servers, each with {ENTRIES_PER_SERVER} prompts,\n  \
         {ENTRIES_PER_SERVER} resources and a template), a request costs: {}.\n",
        slope(Kind::Tool),
        slope(Kind::Broker),
        peak(Kind::Tool),
        peak(Kind::Broker),
        small_requests(rows),
    )
}

/// The 200 B request cost of each kind in the largest table, in words.
fn small_requests(rows: &[Row]) -> String {
    KINDS
        .iter()
        .filter_map(|kind| {
            let row = rows.iter().find(|r| {
                r.kind == *kind && r.tools == TABLE_SIZES[2] && r.label == BODY_SIZES[0].1
            })?;
            Some(format!(
                "{} {} instructions",
                kind.label(),
                row.request_fuel
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn run() -> Result<String> {
    let wasm = locate::router_wasm()?;
    let host = Host::load(&wasm)?;
    let mut rows = Vec::new();
    for tools in TABLE_SIZES {
        let config = table(tools);
        for kind in KINDS {
            rows.extend(measure(&host, tools, &config, kind)?);
        }
    }
    Ok(report(&rows, host.module_size()))
}

fn main() -> ExitCode {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks/filter-cost.md")
        });
    match run() {
        Ok(markdown) => {
            print!("{markdown}");
            if let Some(dir) = out.parent()
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                eprintln!("cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            if let Err(e) = std::fs::write(&out, markdown) {
                eprintln!("cannot write {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-filter: {e}");
            ExitCode::FAILURE
        }
    }
}
