//! `mcp-bench`: runs the side-by-side benchmarks and writes the report.
//! `just bench` runs it with `--out docs` after building everything in
//! release mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use mcp_bench::run::{self, LoadSettings};
use mcp_bench::suite::{self, Options, Results};
use mcp_bench::systems::{Environment, Kind};
use mcp_bench::workload::Workload;
use mcp_bench::{plot, profile, report};

#[derive(Debug, Parser)]
#[command(
    about = "Benchmarks the gateway against plain Envoy, Envoy's native MCP filters and ContextForge"
)]
struct Cli {
    /// Short runs (2 s), fewer sessions, to try it out.
    #[arg(long)]
    quick: bool,
    /// Seconds of each throughput run.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Seconds of each one-connection latency run.
    #[arg(long, default_value_t = 2)]
    latency_duration: u64,
    /// Seconds of warm-up before each throughput run.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Rounds of every cell, interleaved across systems (the report shows
    /// the median round and the spread).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Systems to run: direct, floor, wasm-noop, wasm-floor, wasm-floor-map,
    /// wasm-router-calls, wasm-router-calls-gateway, gateway, native,
    /// contextforge (default all but wasm-floor-map, wasm-router-calls and
    /// wasm-router-calls-gateway).
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Workloads to run (default all), e.g. call-small,list-20x100.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// ContextForge's `mcpgateway` script (in its own venv).
    #[arg(long, env = "MCP_CONTEXTFORGE")]
    contextforge: Option<PathBuf>,
    /// The load generator.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Do not pin servers and load generator to separate CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Skip the broker-at-scale measurements.
    #[arg(long)]
    no_scale: bool,
    /// Only check correctness through every system (no load generator).
    #[arg(long)]
    smoke: bool,
    /// Directory to write `benchmarks.md` and `benchmarks/throughput.svg` into
    /// (e.g. `docs`); without it the report goes to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// What else the machine was doing, printed in the report.
    #[arg(long, env = "BENCH_NOTE")]
    note: Option<String>,
    /// Keep the working directory (configurations and logs of every process).
    #[arg(long)]
    keep: bool,
    /// Record where each system's CPU time goes, by object (Envoy, the wasm
    /// filter's JIT code, kernel, libraries), with `perf` over every loaded
    /// run; about 1 % of each process's CPU. Needs `perf`.
    #[arg(long)]
    profile: bool,
    /// The report's name in `--out`: `<name>.md`, its plot and saved
    /// results in `<name>/` (`benchmarks-profile` for `just bench-profile`).
    #[arg(long, default_value = "benchmarks")]
    name: String,
    /// Render the report again from a saved `results.json`, measuring nothing.
    #[arg(long)]
    render: Option<PathBuf>,
}

fn parse<T: Copy>(
    names: &[String],
    all: &[T],
    id: impl Fn(T) -> &'static str,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    if names.is_empty() {
        return Ok(all.to_vec());
    }
    names
        .iter()
        .map(|name| {
            all.iter()
                .copied()
                .find(|&item| id(item) == name)
                .with_context(|| {
                    format!(
                        "unknown {what} {name:?}; one of {}",
                        all.iter().map(|&i| id(i)).collect::<Vec<_>>().join(", ")
                    )
                })
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        !cli.name.is_empty() && !cli.name.contains(['/', '\\']),
        "--name is a file name without a directory: {:?}",
        cli.name
    );
    if let Some(saved) = &cli.render {
        let results: Results = serde_json::from_slice(&std::fs::read(saved)?)
            .with_context(|| format!("reading {}", saved.display()))?;
        return write_report(&results, cli.out.as_deref(), &cli.name, false);
    }
    let systems = if cli.systems.is_empty() {
        Kind::DEFAULT.to_vec()
    } else {
        parse(&cli.systems, &Kind::ALL, Kind::id, "system")?
    };
    let workloads = parse(&cli.workloads, &Workload::ALL, Workload::id, "workload")?;
    if cli.profile {
        profile::check()?;
    }
    let work = tempfile::Builder::new().prefix("mcp-bench-").tempdir()?;
    let (dir, work) = if cli.keep {
        (work.keep(), None)
    } else {
        (work.path().to_owned(), Some(work))
    };
    eprintln!(
        "working directory (logs, configurations): {}",
        dir.display()
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = !cli.no_pin && cores >= 2;
    // Absolute: ContextForge runs in its own working directory.
    let contextforge = cli.contextforge.and_then(|p| std::fs::canonicalize(p).ok());
    let env = Environment {
        dir: dir.clone(),
        server_cpus: pin.then(|| "0".to_owned()),
        contextforge,
    };
    let systems: Vec<Kind> = systems;

    if cli.smoke {
        let failures = suite::smoke(&systems, &env).await?;
        if failures.is_empty() {
            eprintln!("every workload answers correctly through every system");
            return Ok(());
        }
        bail!("wrong answers:\n{}", failures.join("\n"));
    }

    let seconds = |s: u64| Duration::from_secs(if cli.quick { s.min(2) } else { s });
    let options = Options {
        systems,
        workloads,
        load: LoadSettings {
            wrk: cli.wrk,
            wrk_cpus: pin.then(|| "1".to_owned()),
            warmup: if cli.quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(cli.warmup)
            },
            duration: seconds(cli.duration),
            latency_duration: seconds(cli.latency_duration),
            many_sessions: run::many_sessions(cli.quick),
            max_fresh_sessions: if cli.quick { 2_000 } else { 20_000 },
            profile: cli.profile,
        },
        env,
        scale: !cli.no_scale,
        rounds: if cli.quick { 1 } else { cli.rounds.max(1) },
        scale_lists: if cli.quick { 20 } else { 100 },
        scale_repeats: if cli.quick { 2 } else { 5 },
        note: cli.note,
    };
    let results = suite::run(options).await?;
    let written = match &cli.out {
        Some(out) => write_report(&results, Some(out), &cli.name, true),
        None => write_report(&results, None, &cli.name, true),
    };
    drop(work);
    written
}

/// Writes `<name>.md`, `<name>/throughput.svg` and (for a new run)
/// `<name>/results.json` into `out`; without `out`, prints the report.
fn write_report(
    results: &Results,
    out: Option<&Path>,
    name: &str,
    save: bool,
) -> anyhow::Result<()> {
    let plot = format!("{name}/throughput.svg");
    let Some(out) = out else {
        println!("{}", report::markdown(results, &plot));
        return Ok(());
    };
    let assets = out.join(name);
    std::fs::create_dir_all(&assets)?;
    plot::throughput(results, &assets.join("throughput.svg"))?;
    if save {
        std::fs::write(
            assets.join("results.json"),
            serde_json::to_vec_pretty(results)?,
        )?;
    }
    let markdown = report::markdown(results, &plot);
    let file = out.join(format!("{name}.md"));
    std::fs::write(&file, markdown)?;
    eprintln!("wrote {}", file.display());
    Ok(())
}
