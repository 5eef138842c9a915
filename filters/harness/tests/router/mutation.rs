//! The smoke of the mutation run (`just fuzz` runs 10⁶): a few thousand
//! mutated fixture requests through the real `.wasm`, every answer checked
//! (`proxy_wasm_harness::fuzz`).

use crate::common::host;
use proxy_wasm_harness::fuzz;

/// Inputs of the smoke; `MCP_FUZZ_RUNS` overrides.
const SMOKE_RUNS: u64 = 3_000;

#[test]
fn mutated_requests_get_well_formed_answers_the_core_agrees_with() {
    let runs = std::env::var("MCP_FUZZ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SMOKE_RUNS);
    let report = fuzz::run(host(), runs, 7).expect("the run starts");
    assert_eq!(report.inputs, runs);
    assert!(
        report.findings.is_empty(),
        "{} findings, the first:\n{}",
        report.violations,
        report.findings.join("\n\n")
    );
    // The mutations reach every way a request goes, not only refusals.
    for kind in ["routed", "passed on (broker, or not MCP)"] {
        assert!(
            report.outcomes.contains_key(kind),
            "no {kind:?}: {:?}",
            report.outcomes
        );
    }
    assert!(
        report.compared * 2 > report.inputs,
        "most inputs are compared with the core: {report:?}"
    );
}

/// The committed seeds of the `cargo fuzz` target are the fixture cases
/// (`fuzz-wasm --seeds fuzz/seeds/core` rewrites them).
#[test]
fn the_cargo_fuzz_seeds_are_the_fixture_cases() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/core");
    let seeds = fuzz::seeds().expect("the fixture seeds");
    for (index, seed) in seeds.iter().enumerate() {
        let path = format!("{dir}/fixture-{index:03}");
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == seed.encode(),
            "{path} is stale: run `fuzz-wasm --runs 0 --seeds fuzz/seeds/core`"
        );
    }
    let files = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, seeds.len(), "{dir} holds other files");
}
