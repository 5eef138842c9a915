//! The report's detailed tables: every figure per workload, a new session
//! whole, memory at rest, the broker at scale.

use std::fmt::Write;

use super::{count, measured, median, mib, one_line, ratio};
use crate::profile::{ENVOY, ENVOY_FOR_FILTER, JIT, KERNEL, LIBRARIES};
use crate::run::{Measure, Outcome};
use crate::suite::Results;
use crate::systems::{Deployment, Kind};
use crate::workload::Workload;

pub(super) fn details(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## Every figure, per workload\n");
    let _ = writeln!(
        out,
        "Ratios in parentheses are to plain Envoy in the same run. Each row is the median of the rounds by throughput; *rounds' spread* is (highest − lowest) ÷ median throughput over the rounds, a measure of the machine's noise. Throughput, p50 and p99 come from the loaded run (the workload's connections); \"1 conn\" latencies from a single connection. *System CPU* is the CPU time of the system's own processes (Envoy; Envoy + broker; ContextForge; for *upstream direct*, the upstream) per request; *all CPU* adds the upstream processes. *Peak RSS* is the system's own processes during the loaded run.\n"
    );
    for &workload in &results.options.workloads {
        let _ = writeln!(out, "### {} — {}\n", workload.id(), workload.title());
        let _ = writeln!(
            out,
            "| system | req/s | rounds' spread | p50 ms | p99 ms | p50 ms, 1 conn | p99 ms, 1 conn | system CPU µs/req | all CPU µs/req | peak RSS MiB |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let floor = measured(results, workload, Kind::Floor);
        let mut notes = Vec::new();
        for &kind in &results.options.systems {
            match results.cells.get(&(workload, kind)) {
                Some(Outcome::Measured(m)) => {
                    let f =
                        |get: &dyn Fn(&Measure) -> Option<f64>| ratio(get(m), floor.and_then(get));
                    let ms = |us: u64| us as f64 / 1000.0;
                    let _ = writeln!(
                        out,
                        "| {} | {} ({}) | {} | {:.3} ({}) | {:.3} ({}) | {} | {} | {:.1} ({}) | {:.1} ({}) | {:.1} ({}) |",
                        kind.label(),
                        count(m.load.rps()),
                        f(&|m| Some(m.load.rps())),
                        results
                            .spreads
                            .get(&(workload, kind))
                            .map_or("–".to_owned(), |s| format!("{:.0} %", s * 100.0)),
                        ms(m.load.p50_us),
                        f(&|m| Some(m.load.p50_us as f64)),
                        ms(m.load.p99_us),
                        f(&|m| Some(m.load.p99_us as f64)),
                        m.unloaded
                            .map(|u| format!(
                                "{:.3} ({})",
                                ms(u.p50_us),
                                f(&|m| m.unloaded.map(|u| u.p50_us as f64))
                            ))
                            .unwrap_or_else(|| "–".to_owned()),
                        m.unloaded
                            .map(|u| format!(
                                "{:.3} ({})",
                                ms(u.p99_us),
                                f(&|m| m.unloaded.map(|u| u.p99_us as f64))
                            ))
                            .unwrap_or_else(|| "–".to_owned()),
                        m.own_cpu_us,
                        f(&|m| Some(m.own_cpu_us)),
                        m.total_cpu_us,
                        f(&|m| Some(m.total_cpu_us)),
                        m.own_peak_rss as f64 / 1048576.0,
                        f(&|m| Some(m.own_peak_rss as f64)),
                    );
                    if let Some(note) = &m.note {
                        notes.push(format!("{}: {note}", kind.label()));
                    }
                    if m.cpu_by_process.len() > 1 {
                        let split: Vec<String> = m
                            .cpu_by_process
                            .iter()
                            .map(|(label, us)| format!("{label} {us:.1} µs"))
                            .collect();
                        notes.push(format!(
                            "{} system CPU per request: {}",
                            kind.label(),
                            split.join(", ")
                        ));
                    }
                }
                Some(Outcome::TooSlow(reason)) => {
                    let _ = writeln!(out, "| {} | too slow | | | | | | | | |", kind.label());
                    notes.push(format!("{}: right answers, but {reason}", kind.label()));
                }
                Some(Outcome::Failed(reason)) => {
                    let _ = writeln!(out, "| {} | **FAIL** | | | | | | | | |", kind.label());
                    notes.push(format!("{} FAILED: {}", kind.label(), one_line(reason)));
                }
                None => {}
            }
        }
        for note in notes {
            let _ = writeln!(out, "\n- {note}");
        }
        out.push('\n');
    }
}

pub(super) fn new_session(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## A new session, whole\n");
    let _ = writeln!(
        out,
        "Where the upstream handshake happens differs: Envoy's native router opens every upstream session during the client's `initialize`; our broker mints the gateway session at once and the router opens the upstream session on the first call. Summing the two workloads compares like with like (CPU per new session; unloaded p50 of `initialize` + first call).\n"
    );
    let _ = writeln!(
        out,
        "| system | system CPU µs per new session | all CPU µs per new session | unloaded p50 ms, initialize + first call |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let floor = sums(results, Kind::Floor);
    for &kind in &results.options.systems {
        if let Some((own, all, p50)) = sums(results, kind) {
            let _ = writeln!(
                out,
                "| {} | {own:.1} ({}) | {all:.1} ({}) | {p50:.3} ({}) |",
                kind.label(),
                ratio(Some(own), floor.map(|f| f.0)),
                ratio(Some(all), floor.map(|f| f.1)),
                ratio(Some(p50), floor.map(|f| f.2)),
            );
        }
    }
    out.push('\n');
}

pub(super) fn sums(results: &Results, kind: Kind) -> Option<(f64, f64, f64)> {
    let open = measured(results, Workload::OpenSession, kind)?;
    let first = measured(results, Workload::FirstCall, kind)?;
    let p50 = (open.unloaded?.p50_us + first.unloaded?.p50_us) as f64 / 1000.0;
    Some((
        open.own_cpu_us + first.own_cpu_us,
        open.total_cpu_us + first.total_cpu_us,
        p50,
    ))
}

pub(super) fn footprint(out: &mut String, results: &Results) {
    if results.idle_rss.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Memory at rest\n");
    let _ = writeln!(
        out,
        "RSS of each system's own processes right after start, MiB (ratio to plain Envoy).\n"
    );
    let _ = writeln!(out, "| system | 2 upstreams | 20 upstreams |");
    let _ = writeln!(out, "|---|---:|---:|");
    // The upstream process is shared and keeps every session it was given:
    // not a footprint at rest.
    for &kind in results
        .options
        .systems
        .iter()
        .filter(|&&k| k != Kind::Direct)
    {
        let cell = |d| {
            let floor = results.idle_rss.get(&(Kind::Floor, d)).map(|&b| b as f64);
            results
                .idle_rss
                .get(&(kind, d))
                .map(|&b| {
                    format!(
                        "{:.1} ({})",
                        b as f64 / 1048576.0,
                        ratio(Some(b as f64), floor)
                    )
                })
                .unwrap_or_else(|| "–".to_owned())
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            kind.label(),
            cell(Deployment::Two),
            cell(Deployment::Twenty)
        );
    }
    out.push('\n');
}

pub(super) fn sessions(out: &mut String, results: &Results) {
    if results.sessions.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## {} live sessions on one gateway\n\n\
         Every session opened (`initialize`), then each makes its first `tools/call` (upstream handshake) and a second (routed from the router's cache), 256 requests in flight, every answer checked; one Envoy worker. Once with the session records in the broker's memory, once in Redis (a real `redis-server`, append-only file).\n",
        crate::sessions::SESSIONS
    );
    let ms = |d: std::time::Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
    let _ = writeln!(
        out,
        "| session store | errors | first call p50 / p99, ms | later call p50 / p99, ms | broker RSS (B/session) | Envoy RSS (B/session) | Redis used memory (B/session) |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for report in &results.sessions {
        let report = match report {
            Ok(report) => report,
            Err(reason) => {
                let _ = writeln!(out, "| **FAIL**: {} | | | | | | |", one_line(reason));
                continue;
            }
        };
        let (broker, envoy, redis) = report.per_session();
        let redis = match (report.redis_bytes, redis) {
            (Some((before, after)), Some(per)) => {
                format!("{} → {} ({per:.0})", mib(before), mib(after))
            }
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} / {} | {} → {} ({broker:.0}) | {} → {} ({envoy:.0}) | {redis} |",
            report.store,
            report.errors,
            ms(report.first_call_p50),
            ms(report.first_call_p99),
            ms(report.call_p50),
            ms(report.call_p99),
            mib(report.broker_rss_before),
            mib(report.broker_rss_after),
            mib(report.envoy_rss_before),
            mib(report.envoy_rss_after),
        );
    }
    out.push('\n');
}

pub(super) fn scale(out: &mut String, results: &Results) {
    let Some(scale) = &results.scale else {
        return;
    };
    let _ = writeln!(
        out,
        "## The broker at scale: {} upstreams × {} tools\n",
        crate::scale::SERVERS,
        crate::scale::TOOLS
    );
    let scale = match scale {
        Ok(scale) => scale,
        Err(reason) => {
            let _ = writeln!(out, "**FAIL**: {}\n", one_line(reason));
            return;
        }
    };
    let ms = |d: std::time::Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let _ = writeln!(out, "| what | our gateway | Envoy native MCP |");
    let _ = writeln!(out, "|---|---:|---:|");
    let native = scale.native.as_ref();
    let _ = writeln!(
        out,
        "| start to every tool listed through the gateway (broker lists every upstream, writes the route table; Envoy starts with it), ms | {} | – |",
        ms(scale.ready)
    );
    let _ = writeln!(
        out,
        "| tools in `tools/list` | {} | {} |",
        scale.gateway.tools,
        native.map_or("–".to_owned(), |n| n.tools.to_string())
    );
    let _ = writeln!(
        out,
        "| `tools/list` cold (first after the catalogue is whole; native: first after start), ms | {} | {} |",
        ms(scale.gateway.cold),
        native.map_or("–".to_owned(), |n| ms(n.cold))
    );
    let _ = writeln!(
        out,
        "| `tools/list` warm p50, ms | {} | {} |",
        ms(scale.gateway.warm_p50),
        native.map_or("–".to_owned(), |n| ms(n.warm_p50))
    );
    let _ = writeln!(
        out,
        "| `tools/list` warm p99, ms | {} | {} |",
        ms(scale.gateway.warm_p99),
        native.map_or("–".to_owned(), |n| ms(n.warm_p99))
    );
    let _ = writeln!(
        out,
        "| RSS, MiB | broker {} + Envoy {} | Envoy {} |",
        mib(scale.broker_rss),
        mib(scale.envoy_rss),
        native.map_or("–".to_owned(), |n| mib(n.rss))
    );
    let _ = writeln!(
        out,
        "| route table (ECDS file), KiB | {:.0} | – |",
        scale.route_table_bytes as f64 / 1024.0
    );
    let times: Vec<String> = scale
        .list_changed_to_routed
        .iter()
        .map(|d| ms(*d))
        .collect();
    let _ = writeln!(
        out,
        "| upstream `list_changed` → new tool routed (upstream without prefix), ms: median (all rounds) | {} ({}) | at once: routed by prefix |",
        median(&scale.list_changed_to_routed).map_or("–".to_owned(), ms),
        times.join(", ")
    );
    out.push('\n');
}

/// With `--profile`: each system's CPU time per request by the object it
/// was spent in (`crate::profile`), per own process. Results saved before
/// call chains were recorded have no [`ENVOY_FOR_FILTER`] split: their
/// table has no such column, and its Envoy column holds the host calls.
pub(super) fn objects(out: &mut String, results: &Results) {
    let split = results.cells.values().any(|outcome| {
        matches!(outcome, Outcome::Measured(m)
            if m.cpu_by_object.iter().any(|(_, object, _)| object == ENVOY_FOR_FILTER))
    });
    let named: &[&str] = if split {
        &[ENVOY, ENVOY_FOR_FILTER, JIT, KERNEL, LIBRARIES]
    } else {
        &[ENVOY, JIT, KERNEL, LIBRARIES]
    };
    let mut rows = Vec::new();
    for &workload in &results.options.workloads {
        for &kind in &results.options.systems {
            let Some(m) = measured(results, workload, kind) else {
                continue;
            };
            for (process, _) in &m.cpu_by_process {
                let of = |object: Option<&str>| -> f64 {
                    m.cpu_by_object
                        .iter()
                        .filter(|(p, o, _)| {
                            p == process
                                && object.map_or(!named.contains(&o.as_str()), |name| o == name)
                        })
                        .map(|(_, _, us)| us)
                        .sum()
                };
                if !m.cpu_by_object.iter().any(|(p, _, _)| p == process) {
                    continue;
                }
                // No sample in an object reads "–", not 0.0 (or the -0.0
                // an empty f64 sum gives).
                let us = |value: f64| {
                    if value < 0.05 {
                        "–".to_owned()
                    } else {
                        format!("{value:.1}")
                    }
                };
                let cells: Vec<String> = named.iter().map(|name| us(of(Some(name)))).collect();
                rows.push(format!(
                    "| {} | {} | {process} | {} | {} |",
                    workload.id(),
                    kind.label(),
                    cells.join(" | "),
                    us(of(None))
                ));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Where the CPU goes, by object (`--profile`)\n");
    let envoy = if split {
        format!(
            "*{ENVOY}* is Envoy's own code and V8's runtime (linked into the binary: routing, codecs, the access log, entering the wasm VM); *{ENVOY_FOR_FILTER}* is that code running below a frame of the filter's, as perf's call chains show it (the host calls the filter makes, V8's runtime it calls)"
        )
    } else {
        format!(
            "*{ENVOY}* is Envoy's own code and V8's runtime (linked into the binary: host calls, the wasm ABI, routing, codecs, the access log)"
        )
    };
    let _ = writeln!(
        out,
        "CPU time per request, µs, of each own process by the object `perf` sampled it in (software clock, {} Hz, over the loaded run, each sample counted for its innermost frame): {envoy}; *{JIT}* is code V8 compiled at run time, the wasm filter itself; *{LIBRARIES}* is libc and the other shared objects; *other* anything else (the broker's own binary). The PyPI Envoy is stripped, so this cannot name Envoy's functions. perf costs each process about 1 %, so read these against each other, not against the tables above.\n",
        crate::profile::FREQUENCY_HZ
    );
    let _ = writeln!(
        out,
        "| workload | system | process | {} | other |",
        named.join(" | ")
    );
    let _ = writeln!(out, "|---|---|---|{}---:|", "---:|".repeat(named.len()));
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}
