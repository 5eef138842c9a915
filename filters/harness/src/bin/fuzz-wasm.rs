//! `fuzz-wasm`: the mutation run of the real `mcp_router.wasm`
//! (`proxy_wasm_harness::fuzz`). `just fuzz` runs it with 10⁶ inputs.
//!
//! ```text
//! fuzz-wasm [--runs N] [--seed S] [--report FILE] [--seeds DIR] [--libfuzzer-log FILE]
//! ```
//!
//! `--report` writes the figures as markdown (`docs/fuzzing.md`), with the
//! final figures of the `cargo fuzz` run logged to `--libfuzzer-log`;
//! `--seeds` writes the fixture seeds in the byte format of the `cargo
//! fuzz` target (`fuzz/seeds/core`). Exits 1 on any finding.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use proxy_wasm_harness::fuzz::{self, Report};
use proxy_wasm_harness::{Host, locate};

struct Options {
    runs: u64,
    seed: u64,
    report: Option<PathBuf>,
    seeds: Option<PathBuf>,
    libfuzzer_log: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        runs: 10_000,
        seed: 1,
        report: None,
        seeds: None,
        libfuzzer_log: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => options.runs = value.parse().map_err(|e| format!("--runs: {e}"))?,
            "--seed" => options.seed = value.parse().map_err(|e| format!("--seed: {e}"))?,
            "--report" => options.report = Some(value.into()),
            "--seeds" => options.seeds = Some(value.into()),
            "--libfuzzer-log" => options.libfuzzer_log = Some(value.into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn write_seeds(dir: &PathBuf) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let seeds = fuzz::seeds()?;
    for (index, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("fixture-{index:03}"));
        std::fs::write(&path, seed.encode()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(seeds.len())
}

/// libFuzzer's closing lines (`#N DONE cov: … corp: …`, `Done N runs in
/// S second(s)`), or why there are none.
fn libfuzzer_summary(log: Option<&PathBuf>) -> String {
    let Some(path) = log else {
        return "not run with this report".to_owned();
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.contains("DONE ")
                        || l.starts_with("Done ")
                        || l.starts_with("stat::number_of_executed_units")
                        || l.starts_with("stat::peak_rss_mb")
                        || l.contains("==ERROR")
                })
                .collect();
            if lines.is_empty() {
                format!("no summary in {}", path.display())
            } else {
                lines.join("\n")
            }
        }
        Err(error) => format!("{}: {error}", path.display()),
    }
}

fn markdown(report: &Report, seed: u64, libfuzzer: &str) -> String {
    let mut out = String::from(
        "# Hostile input: the mutation run of the real `.wasm`\n\n\
         Written by `just fuzz` (`fuzz-wasm`, `proxy_wasm_harness::fuzz`): the \
         fixture requests of `testdata/router/cases.json`, mutated (JSON types, \
         nesting, sizes, escapes and encodings, truncations, batches, MCP \
         headers, spoofed router headers, methods and paths), sent one after \
         another to one long-lived `mcp_router.wasm` VM. Every answer is \
         checked: no trap, a well-formed JSON-RPC error or a forwarded request, \
         nothing spoofed or left hanging, and the pure core's decision where \
         it can see the same request. The `cargo fuzz` target on the core is \
         in `fuzz/` (its last run is below).\n\n",
    );
    let _ = writeln!(out, "| figure | value |\n|---|---:|");
    let _ = writeln!(out, "| inputs | {} |", report.inputs);
    let _ = writeln!(out, "| compared with the core | {} |", report.compared);
    let _ = writeln!(
        out,
        "| findings (traps, panics, malformed answers, disagreements) | {} |",
        report.violations
    );
    let _ = writeln!(out, "| seconds | {:.1} |", report.elapsed.as_secs_f64());
    let _ = writeln!(out, "| seed | {seed} |\n");
    let _ = writeln!(out, "| outcome | inputs |\n|---|---:|");
    for (label, count) in &report.outcomes {
        let _ = writeln!(out, "| {label} | {count} |");
    }
    for finding in &report.findings {
        let _ = writeln!(out, "\n```text\n{finding}\n```");
    }
    let _ = writeln!(
        out,
        "\n## The `cargo fuzz` target on the core\n\n`fuzz/fuzz_targets/core.rs`, seeded with \
         `fuzz/seeds/core`; libFuzzer's closing figures:\n\n```text\n{libfuzzer}\n```"
    );
    out
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("fuzz-wasm: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &options.seeds {
        match write_seeds(dir) {
            Ok(count) => println!("wrote {count} seeds to {}", dir.display()),
            Err(error) => {
                eprintln!("fuzz-wasm: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let report = locate::router_wasm()
        .and_then(|path| Host::load(&path))
        .and_then(|host| fuzz::run(&host, options.runs, options.seed));
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("fuzz-wasm: {error}");
            return ExitCode::from(2);
        }
    };
    let text = markdown(
        &report,
        options.seed,
        &libfuzzer_summary(options.libfuzzer_log.as_ref()),
    );
    // A closed pipe (`| head`) is not an error of the run.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    if let Some(path) = &options.report
        && let Err(error) = std::fs::write(path, &text)
    {
        eprintln!("fuzz-wasm: {}: {error}", path.display());
        return ExitCode::from(2);
    }
    if report.violations > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
