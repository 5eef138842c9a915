//! The committed benchmark reports are what their saved results render to,
//! so a change to the report's code or to its hand-written parts
//! (`bench/src/report/*.md`, the findings) shows in `docs/` in the same
//! commit, not only after the next run.

use std::path::{Path, PathBuf};

use mcp_bench::report;
use mcp_bench::suite::Results;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds bench/")
        .to_owned()
}

/// Report `docs/<name>.md`, rendered from its `docs/<name>/results.json`,
/// and as committed.
fn rendered_and_committed(name: &str) -> (String, String) {
    let docs = root().join("docs");
    let saved = std::fs::read(docs.join(name).join("results.json")).expect("saved results");
    let results: Results = serde_json::from_slice(&saved).expect("results.json parses");
    let rendered = report::markdown(&results, &format!("{name}/throughput.svg"));
    let committed =
        std::fs::read_to_string(docs.join(format!("{name}.md"))).expect("committed report");
    (rendered, committed)
}

#[test]
fn committed_reports_are_what_their_results_render_to() {
    for name in ["benchmarks", "benchmarks-profile"] {
        let (rendered, committed) = rendered_and_committed(name);
        if let Some((line, (r, c))) = rendered
            .lines()
            .zip(committed.lines())
            .enumerate()
            .find(|(_, (r, c))| r != c)
        {
            panic!(
                "docs/{name}.md differs from its rendering at line {}:\n  committed: {c}\n  rendered:  {r}\nrun `mcp-bench --render docs/{name}/results.json --out docs --name {name}`",
                line + 1
            );
        }
        assert_eq!(
            rendered.lines().count(),
            committed.lines().count(),
            "docs/{name}.md and its rendering differ in length"
        );
    }
}

#[test]
fn the_profile_splits_the_gateway_s_envoy_into_its_own_code_and_the_filter_s() {
    let (rendered, _) = rendered_and_committed("benchmarks-profile");
    assert!(rendered.contains("## Where the CPU goes, by object"));
    let row = rendered
        .lines()
        .find(|line| line.starts_with("| call-small | our gateway | envoy |"))
        .expect("a row for the gateway's Envoy on small calls");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | workload | system | process | envoy | wasm (JIT) | kernel | ...
    let envoy: f64 = cells[4].parse().expect("Envoy's own µs");
    let jit: f64 = cells[5].parse().expect("the filter's JIT µs");
    assert!(envoy > 0.0 && jit > 0.0, "{row}");
}
