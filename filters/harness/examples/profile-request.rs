//! Runs one kind of request through the real `mcp_router.wasm` many times,
//! for a profiler: `PROXY_WASM_HARNESS_PERFMAP=1 perf record -g --call-graph fp
//! target/release/examples/profile-request tool 40000`, then `perf report`
//! (the filter's functions are named by the perf map). Kinds: `tool`,
//! `modern`, `broker`; the count defaults to 20,000. A fresh VM every 200
//! requests keeps the harness's own records small.

use proxy_wasm_harness::cost::{self, Kind};
use proxy_wasm_harness::{Host, locate};

const TOOLS: usize = 10;
const PER_VM: usize = 200;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("modern") => Kind::ModernTool,
        Some("broker") => Kind::Broker,
        _ => Kind::Tool,
    };
    let count: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let host = Host::load(locate::router_wasm()?)?;
    let config = cost::table(TOOLS);
    let request = cost::request(kind, TOOLS, 200);
    for _ in 0..count.div_ceil(PER_VM) {
        let gateway = host
            .gateway()
            .plugin_config(&config[..])
            .cluster("mcp_broker")
            .start()?;
        for _ in 0..PER_VM {
            cost::exchange(gateway.vm(0), &request, kind)?;
        }
    }
    Ok(())
}
