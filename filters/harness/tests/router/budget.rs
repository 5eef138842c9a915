//! The filter's cost budget: wasm instructions and host calls of the
//! requests in `cost-budget.json`, measured on the real module as
//! `bench-filter` measures them (`proxy_wasm_harness::cost`). A figure more
//! than 10 % above its budget fails: the router's per-request work only
//! grows in a reviewed commit that raises the budget and says why (the
//! entry's `why`). A figure well below its budget is printed, so the
//! budget can be lowered to hold the gain.

use proxy_wasm_harness::cost::{self, KINDS, Kind};
use proxy_wasm_harness::locate;
use serde::Deserialize;

use super::common::host;

/// How far above its budget a figure may rise, as a fraction.
const TOLERANCE: f64 = 0.10;
/// The route table of every entry: 1,000 tools (10 servers).
const TOOLS: usize = 1_000;

#[derive(Deserialize)]
struct Budget {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    /// A [`Kind`] label, as `bench-filter` prints it.
    method: String,
    /// Request body, bytes (about).
    body: usize,
    /// Wasm instructions over the stream's life.
    instructions: u64,
    /// Host calls over the stream's life.
    host_calls: u64,
    /// Why the budget is what it is (kept with the figure, for review).
    #[allow(dead_code, reason = "read by people, not the test")]
    why: String,
}

fn kind(label: &str) -> Kind {
    KINDS
        .into_iter()
        .find(|k| k.label() == label)
        .unwrap_or_else(|| panic!("cost-budget.json names no known request: {label:?}"))
}

#[test]
fn every_request_stays_within_its_cost_budget() {
    let budget: Budget = serde_json::from_str(include_str!("cost-budget.json"))
        .expect("cost-budget.json is a budget");
    let config = cost::table(TOOLS);
    let mut over = Vec::new();
    for entry in &budget.entries {
        let kind = kind(&entry.method);
        let cost = cost::measure(host(), &config, TOOLS, kind, entry.body)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.method));
        for (what, measured, allowed) in [
            ("instructions", cost.total_fuel, entry.instructions),
            ("host calls", cost.total_host_calls, entry.host_calls),
        ] {
            let line = format!(
                "{} ({} B): {measured} {what}, budget {allowed}",
                entry.method, entry.body
            );
            if measured as f64 > allowed as f64 * (1.0 + TOLERANCE) {
                over.push(line);
            } else if (measured as f64) < allowed as f64 * (1.0 - TOLERANCE) {
                eprintln!("below budget (lower it to keep the gain): {line}");
            }
        }
    }
    assert!(
        over.is_empty(),
        "over budget by more than {:.0} %:\n{}\n(raise a budget in filters/harness/tests/router/cost-budget.json only in a commit that says why)",
        TOLERANCE * 100.0,
        over.join("\n")
    );
}

/// The benchmarks' `router-calls` floor (bench/floor-filter) stands for
/// Envoy's side of a routed call's host calls, so it must make as many as
/// the router makes: when the router's host calls change, so must it.
#[test]
fn the_router_calls_floor_makes_the_router_s_host_calls() {
    let router = locate::router_wasm().unwrap_or_else(|e| panic!("{e}"));
    let floor = router.with_file_name("bench_floor_filter.wasm");
    let calls = cost::measure_floor(&floor, TOOLS, "router-calls")
        .unwrap_or_else(|e| panic!("{}: {e} (`just build-wasm` builds it)", floor.display()));
    let table = cost::table(TOOLS);
    let ours = cost::measure(host(), &table, TOOLS, Kind::Tool, 200).expect("a routed call");
    assert_eq!(
        calls.total_host_calls, ours.total_host_calls,
        "bench/floor-filter's router-calls mode makes {} host calls, a routed tools/call {}: make them the same calls again",
        calls.total_host_calls, ours.total_host_calls
    );
    // In the router's place in the gateway (`--systems
    // wasm-router-calls-gateway`) its configuration is the router's route
    // table, which must read as `router-calls` too.
    let table_text = std::str::from_utf8(&table).expect("the route table is UTF-8");
    let in_place =
        cost::measure_floor(&floor, TOOLS, table_text).expect("the floor with a route table");
    assert_eq!(
        in_place.total_host_calls, calls.total_host_calls,
        "with the router's configuration the floor filter makes {} host calls, in router-calls mode {}",
        in_place.total_host_calls, calls.total_host_calls
    );
    // It makes them and nothing else (the SDK's conversions of what the
    // calls return aside): well under half the instructions.
    assert!(
        calls.total_fuel * 2 < ours.total_fuel,
        "router-calls runs {} instructions against the router's {}",
        calls.total_fuel,
        ours.total_fuel
    );
}
