//! The router's cost targets (docs/benchmarks.md, "Targets"), each checked
//! against this run's figures: met, missed, or not measured.

use std::fmt::Write;

use super::{measured, percent};
use crate::suite::Results;
use crate::systems::Kind;
use crate::workload::Workload;

/// Bytes of arguments the large call carries beyond the small one.
const LARGE_EXTRA_KIB: f64 = 64.0;

pub(super) fn targets(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## Targets (computed from this run)\n");
    let _ = writeln!(
        out,
        "CPU per request of the system's own processes, ours against the other systems of the same run.\n"
    );
    let _ = writeln!(out, "| target | figure | verdict |\n|---|---|---|");
    let cpu = |w: Workload, k: Kind| measured(results, w, k).map(|m| m.own_cpu_us);
    let rps = |w: Workload, k: Kind| measured(results, w, k).map(|m| m.load.rps());
    let mut row = |target: &str, figure: Option<(String, bool)>| {
        let (figure, verdict) = match figure {
            Some((figure, true)) => (figure, "met"),
            Some((figure, false)) => (figure, "**missed**"),
            None => ("not measured in this run".to_owned(), "–"),
        };
        let _ = writeln!(out, "| {target} | {figure} | {verdict} |");
    };
    let ours = cpu(Workload::CallSmall, Kind::Gateway);
    row(
        "routed `tools/call` ≤ 1.1× the wasm floor",
        ours.zip(cpu(Workload::CallSmall, Kind::WasmFloor))
            .map(|(o, f)| {
                (
                    format!("{o:.1} µs against {f:.1} µs: ×{:.2}", o / f),
                    o <= 1.1 * f,
                )
            }),
    );
    row(
        "routed `tools/call` ≤ 70 % of the native router's CPU",
        ours.zip(cpu(Workload::CallSmall, Kind::Native))
            .map(|(o, n)| {
                (
                    format!("{o:.1} µs against {n:.1} µs: {}", percent(o / n)),
                    o <= 0.7 * n,
                )
            }),
    );
    row(
        "warm `tools/list`, 2 upstreams, ≤ 1.5× plain Envoy",
        cpu(Workload::ListTwo, Kind::Gateway)
            .zip(cpu(Workload::ListTwo, Kind::Floor))
            .map(|(o, f)| {
                (
                    format!("{o:.1} µs against {f:.1} µs: ×{:.2}", o / f),
                    o <= 1.5 * f,
                )
            }),
    );
    row(
        "first call of a session ≥ the native router's throughput",
        rps(Workload::FirstCall, Kind::Gateway)
            .zip(rps(Workload::FirstCall, Kind::Native))
            .map(|(o, n)| {
                (
                    format!("{o:.0} req/s against {n:.0}: {}", percent(o / n)),
                    o >= n,
                )
            }),
    );
    // Per extra KiB of arguments: ours against the wasm floor, which
    // reads the same body once (the least a router can do with it).
    let per_kib = |k: Kind| {
        cpu(Workload::Call64k, k)
            .zip(cpu(Workload::CallSmall, k))
            .map(|(large, small)| (large - small) / LARGE_EXTRA_KIB)
    };
    row(
        "64 KiB arguments: cost per extra KiB no worse than the wasm floor's ×1.5",
        per_kib(Kind::Gateway)
            .zip(per_kib(Kind::WasmFloor))
            .map(|(o, f)| {
                let native = per_kib(Kind::Native)
                    .map(|n| format!("; native {n:.2}"))
                    .unwrap_or_default();
                (
                    format!("{o:.2} µs/KiB against the floor's {f:.2}{native}"),
                    o <= 1.5 * f.max(0.01),
                )
            }),
    );
    out.push('\n');
}
