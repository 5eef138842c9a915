//! `docs/benchmarks.md`: the hand-written method and findings
//! (`report/*.md`) around tables generated from a run.

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use crate::run::{Measure, Outcome};
use crate::suite::Results;
use crate::systems::{Deployment, Kind};
use crate::workload::Workload;

mod tables;
mod targets;

const INTRO: &str = include_str!("report/intro.md");
const METHOD: &str = include_str!("report/method.md");
const FINDINGS: &str = include_str!("report/findings.md");

/// The whole document; `plot` is the plot's path relative to it.
pub fn markdown(results: &Results, plot: &str) -> String {
    let mut out = String::new();
    out.push_str(INTRO);
    out.push('\n');
    machine(&mut out, results);
    summary(&mut out, results, plot);
    targets::targets(&mut out, results);
    losses(&mut out, results);
    out.push_str(FINDINGS);
    out.push('\n');
    tables::details(&mut out, results);
    tables::new_session(&mut out, results);
    tables::objects(&mut out, results);
    tables::footprint(&mut out, results);
    tables::scale(&mut out, results);
    tables::sessions(&mut out, results);
    out.push_str(METHOD);
    out
}

fn measured(results: &Results, workload: Workload, kind: Kind) -> Option<&Measure> {
    match results.cells.get(&(workload, kind)) {
        Some(Outcome::Measured(measure)) => Some(measure),
        _ => None,
    }
}

fn machine(out: &mut String, results: &Results) {
    let before = &results.machine_before;
    let after = &results.machine_after;
    let date = results
        .started
        .duration_since(UNIX_EPOCH)
        .map(|d| civil_date(d.as_secs()))
        .unwrap_or_default();
    let _ = writeln!(out, "## This run\n");
    let _ = writeln!(
        out,
        "- **When**: {date} UTC, {:.0} s in all.",
        results.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "- **Machine**: {} × {}, {:.1} GiB, Linux {}.",
        before.cores, before.cpu, before.memory_gib, before.kernel
    );
    let _ = writeln!(
        out,
        "- **Load average** (1/5/15 min): {} before, {} after; at most {:.2} (1 min) between cells, where the benchmark itself keeps about 2 busy.{}",
        before.load,
        after.load,
        results.max_load,
        results
            .options
            .note
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default()
    );
    let load = &results.options.load;
    let _ = writeln!(
        out,
        "- **Pinning**: servers (Envoy, broker, ContextForge, upstreams) on CPU {}, `wrk` on CPU {}; Envoy `--concurrency 1`.",
        results.options.env.server_cpus.as_deref().unwrap_or("any"),
        load.wrk_cpus.as_deref().unwrap_or("any")
    );
    let _ = writeln!(
        out,
        "- **Load**: {} (one thread), {:.0} s per throughput run after {:.0} s of warm-up, {:.0} s per one-connection latency run; {} round(s) per cell, each workload going through the systems in turn (ContextForge: one round); the tables show the median round.",
        before.wrk,
        load.duration.as_secs_f64(),
        load.warmup.as_secs_f64(),
        load.latency_duration.as_secs_f64(),
        results.options.rounds
    );
    let _ = writeln!(
        out,
        "- **CPU steal** (time the hypervisor gave to other guests) while measuring: {:.1} % of this machine's CPU time.",
        results.steal * 100.0
    );
    let _ = writeln!(
        out,
        "- **Versions**: Envoy {}, ContextForge {}.",
        before.envoy,
        before.contextforge.as_deref().unwrap_or("not installed")
    );
    for (kind, reason) in &results.unavailable {
        let _ = writeln!(out, "- **{} could not run**: {reason}", kind.label());
    }
    out.push('\n');
}

fn summary(out: &mut String, results: &Results, plot: &str) {
    let systems = &results.options.systems;
    let _ = writeln!(out, "## Throughput, side by side\n");
    let _ = writeln!(
        out,
        "Requests per second, and in parentheses as a ratio to plain Envoy in the same run (higher is better).\n"
    );
    let _ = write!(out, "| workload |");
    for kind in systems {
        let _ = write!(out, " {} |", kind.label());
    }
    let _ = write!(out, "\n|---|");
    for _ in systems {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    for &workload in &results.options.workloads {
        let floor = measured(results, workload, Kind::Floor).map(|m| m.load.rps());
        let _ = write!(out, "| {} |", workload.id());
        for &kind in systems {
            let cell = match results.cells.get(&(workload, kind)) {
                Some(Outcome::Measured(m)) => {
                    format!(
                        "{} ({})",
                        count(m.load.rps()),
                        ratio(Some(m.load.rps()), floor)
                    )
                }
                Some(Outcome::TooSlow(_)) => "too slow".to_owned(),
                Some(Outcome::Failed(_)) => "**FAIL**".to_owned(),
                None => "–".to_owned(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n![Throughput relative to plain Envoy]({plot})\n");
    let _ = writeln!(
        out,
        "Workloads: {}.\n",
        results
            .options
            .workloads
            .iter()
            .map(|w| format!("**{}** {}", w.id(), w.title()))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

fn losses(out: &mut String, results: &Results) {
    let _ = writeln!(out, "## Where we lose (computed from this run)\n");
    let mut lines = Vec::new();
    for &workload in &results.options.workloads {
        let Some(ours) = measured(results, workload, Kind::Gateway) else {
            if let Some(Outcome::Failed(reason)) = results.cells.get(&(workload, Kind::Gateway)) {
                lines.push(format!(
                    "- **{}**: our gateway FAILED: {reason}",
                    workload.id()
                ));
            }
            continue;
        };
        for peer in [Kind::Native, Kind::ContextForge] {
            if let Some(theirs) = measured(results, workload, peer) {
                if theirs.load.rps() > ours.load.rps() {
                    // Round i of every system ran close in time: when the
                    // rounds disagree on who is ahead, the gap is noise.
                    let within = match (
                        results.round_rps.get(&(workload, Kind::Gateway)),
                        results.round_rps.get(&(workload, peer)),
                    ) {
                        (Some(o), Some(t)) if o.len() > 1 && o.len() == t.len() => {
                            let ahead = o.iter().zip(t).filter(|(o, t)| o > t).count();
                            if ahead > 0 {
                                format!(
                                    "; but we were ahead in {ahead} of {} rounds: noise",
                                    o.len()
                                )
                            } else {
                                format!("; behind in each of {} rounds", o.len())
                            }
                        }
                        _ => String::new(),
                    };
                    lines.push(format!(
                        "- **{}**: {} serves {} req/s, we serve {} ({} of theirs{within}).",
                        workload.id(),
                        peer.label(),
                        count(theirs.load.rps()),
                        count(ours.load.rps()),
                        percent(ours.load.rps() / theirs.load.rps())
                    ));
                }
                if theirs.own_cpu_us < ours.own_cpu_us {
                    lines.push(format!(
                        "- **{}**: {} spends {:.1} µs of CPU per request, we spend {:.1}.",
                        workload.id(),
                        peer.label(),
                        theirs.own_cpu_us,
                        ours.own_cpu_us
                    ));
                }
                if let (Some(t), Some(o)) = (theirs.unloaded, ours.unloaded)
                    && t.p50_us < o.p50_us
                {
                    lines.push(format!(
                        "- **{}**: unloaded p50 is {:.3} ms through {}, {:.3} ms through us.",
                        workload.id(),
                        t.p50_us as f64 / 1000.0,
                        peer.label(),
                        o.p50_us as f64 / 1000.0
                    ));
                }
            }
        }
        if let Some(floor) = measured(results, workload, Kind::Floor) {
            let share = ours.load.rps() / floor.load.rps();
            if share < 0.75 {
                lines.push(format!(
                    "- **{}**: we keep {} of plain Envoy's throughput.",
                    workload.id(),
                    percent(share)
                ));
            }
        }
    }
    for deployment in [Deployment::Two, Deployment::Twenty] {
        if let (Some(ours), Some(native)) = (
            results.idle_rss.get(&(Kind::Gateway, deployment)),
            results.idle_rss.get(&(Kind::Native, deployment)),
        ) && ours > native
        {
            lines.push(format!(
                "- **memory, {} upstreams**: we start at {} (Envoy with the Wasm VM + broker), Envoy native at {}.",
                deployment.servers(),
                mib(*ours),
                mib(*native)
            ));
        }
    }
    if let Some(Ok(scale)) = &results.scale
        && let Some(median) = median(&scale.list_changed_to_routed)
    {
        lines.push(format!(
            "- **freshness**: a new tool of an upstream without a prefix is routable {:.0} ms (median) after its `list_changed` (broker re-lists, rewrites the route table, Envoy reloads the filter configuration); Envoy's native router routes by its `server__` prefix and lists by asking every upstream, so it has no such delay (and pays for it on every `tools/list`). Our prefixed upstreams' new tools are routed by prefix at once too.",
            median.as_secs_f64() * 1000.0
        ));
    }
    if lines.is_empty() {
        lines.push("- Nowhere in this run.".to_owned());
    }
    out.push_str(&lines.join("\n"));
    out.push_str("\n\n");
}

fn median(values: &[std::time::Duration]) -> Option<std::time::Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

fn count(value: f64) -> String {
    let rounded = value.round() as u64;
    let digits = rounded.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        out
    }
}

fn ratio(value: Option<f64>, floor: Option<f64>) -> String {
    match (value, floor) {
        (Some(v), Some(f)) if f > 0.0 => format!("×{:.2}", v / f),
        _ => "×–".to_owned(),
    }
}

fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.len() > 300 {
        format!("{}…", &line[..line.floor_char_boundary(300)])
    } else {
        line.to_owned()
    }
}

/// `YYYY-MM-DD HH:MM` from Unix seconds (UTC).
fn civil_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let (hour, minute) = ((seconds % 86_400) / 3600, (seconds % 3600) / 60);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}
