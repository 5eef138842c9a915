//! What the router keeps per session, measured: the first call of each of
//! many gateway sessions (a cache miss, the broker's answer cached) through
//! one VM, and after every checkpoint the session cache's shared-data keys
//! and bytes and the VM's linear memory. The cache is a fixed table of
//! slots (`mcp_router::session_cache`), so past its slot count nothing
//! grows. Used by `bench-filter` (10⁴ to 10⁶ sessions, written to
//! `docs/benchmarks/filter-cost.md`).

use crate::cost::{self, Kind};
use crate::{Host, Result};

/// The table of the measurement: 100 tools, the default 16,384 slots.
const TOOLS: usize = 100;

/// The router's memory after `sessions` sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub sessions: u64,
    /// Shared-data keys (Envoy holds them for every VM of the proxy).
    pub shared_keys: usize,
    /// Bytes of those keys and values.
    pub shared_bytes: usize,
    /// Peak linear memory of the VM, 64 KiB pages.
    pub vm_pages: u64,
}

/// Runs sessions one after another on one VM, a point at each of
/// `checkpoints` (ascending session counts).
///
/// # Errors
/// Any harness error, or a call that is not routed.
pub fn measure(host: &Host, checkpoints: &[u64]) -> Result<Vec<Point>> {
    let gateway = host
        .gateway()
        .plugin_config(cost::table(TOOLS))
        .cluster("mcp_broker")
        .keep_stream_records(false)
        .start()?;
    let vm = gateway.vm(0);
    let mut points = Vec::new();
    let mut done = 0u64;
    for &checkpoint in checkpoints {
        while done < checkpoint {
            let request = cost::request_in(Kind::Tool, TOOLS, 200, &format!("session-{done}"));
            cost::exchange(vm, &request, Kind::Tool)?;
            done += 1;
        }
        let entries = gateway.shared().entries();
        points.push(Point {
            sessions: done,
            shared_keys: entries.len(),
            shared_bytes: entries.iter().map(|(k, v)| k.len() + v.len()).sum(),
            vm_pages: vm.memory_pages(),
        });
    }
    Ok(points)
}
