//! Where a system's CPU time goes, by the object the time was spent in
//! (`mcp-bench --profile`): `perf record` over the measured interval, one
//! recording per process tree, then `perf report --sort dso`.
//!
//! | object | holds |
//! |---|---|
//! | `envoy` | Envoy's own code, and V8's runtime (linked into the binary): the host calls, the wasm ABI, routing, codecs, access log |
//! | `wasm (JIT)` | code V8 compiled at run time: the wasm filter itself (perf's `[JIT] tid N`) |
//! | `kernel` | system calls, TCP, scheduling |
//! | `libraries` | libc and the other shared objects (`[vdso]` included) |
//! | anything else | its own name (the broker's binary, an upstream's runtime) |
//!
//! perf samples the software clock (`cpu-clock`), the event that works
//! in VMs without hardware counters. A share times the process's CPU time
//! per request is the object's µs per request. The PyPI Envoy is
//! stripped, so perf cannot name Envoy's functions: objects are as far as
//! this goes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procstat::Tree;

/// Sampling frequency, Hz: enough samples in a 5 s run for shares to
/// 0.5 %, little enough that perf itself costs the measured processes
/// about 1 %.
pub const FREQUENCY_HZ: &str = "499";

/// Fails unless `perf` can sample this machine's processes: before a
/// run, so `--profile` does not fail in its first cell.
///
/// # Errors
/// `perf` is missing, or cannot record (`perf_event_paranoid` above 2
/// for a user other than root).
pub fn check() -> anyhow::Result<()> {
    let status = Command::new("perf")
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-o",
            "/dev/null",
            "--",
            "true",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| anyhow::anyhow!("--profile needs `perf` (Debian: linux-perf): {e}"))?;
    anyhow::ensure!(
        status.success(),
        "--profile: `perf record` fails here ({status}); check /proc/sys/kernel/perf_event_paranoid"
    );
    Ok(())
}

/// `perf record` running over one tree per entry.
#[derive(Debug)]
pub struct Recording {
    runs: Vec<(String, Child, PathBuf)>,
}

impl Recording {
    /// Starts one `perf record` per tree, writing `<dir>/<tag>.<label>.perf.data`.
    ///
    /// # Errors
    /// `perf` cannot be started.
    pub fn start(trees: &[Tree], dir: &Path, tag: &str) -> anyhow::Result<Self> {
        let mut runs = Vec::new();
        for tree in trees {
            let pids: Vec<String> = tree.pids().iter().map(u32::to_string).collect();
            let file = dir.join(format!("{tag}.{}.perf.data", tree.label));
            let child = Command::new("perf")
                .args(["record", "-q", "-e", "cpu-clock", "-F", FREQUENCY_HZ, "-p"])
                .arg(pids.join(","))
                .arg("-o")
                .arg(&file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| anyhow::anyhow!("perf record: {e} (is `perf` installed?)"))?;
            runs.push((tree.label.clone(), child, file));
        }
        Ok(Recording { runs })
    }

    /// Stops every recording (SIGINT, which makes perf write its file) and
    /// reads each: shares (0–1) by object, per tree label. A recording
    /// that gives nothing (perf failed, no samples) is left out.
    pub fn finish(self) -> Vec<(String, Vec<(String, f64)>)> {
        let mut out = Vec::new();
        for (label, mut child, file) in self.runs {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            let report = Command::new("perf")
                .args(["report", "--stdio", "-q", "--sort", "dso", "-i"])
                .arg(&file)
                .stderr(Stdio::null())
                .output();
            if let Ok(report) = report {
                let shares = by_object(&String::from_utf8_lossy(&report.stdout));
                if !shares.is_empty() {
                    out.push((label, shares));
                }
            }
            let _ = std::fs::remove_file(&file);
        }
        out
    }
}

/// Shares (0–1) by object from `perf report --sort dso --stdio -q`
/// output, whose lines read `    67.75%  envoy`; lines that do not are
/// skipped. Objects are named by [`object`] and merged, largest first.
pub fn by_object(report: &str) -> Vec<(String, f64)> {
    let mut shares: Vec<(String, f64)> = Vec::new();
    for line in report.lines() {
        let Some((percent, dso)) = line.trim().split_once('%') else {
            continue;
        };
        let Ok(percent) = percent.trim().parse::<f64>() else {
            continue;
        };
        if !percent.is_finite() {
            continue;
        }
        let name = object(dso.trim());
        match shares.iter_mut().find(|(n, _)| *n == name) {
            Some((_, share)) => *share += percent / 100.0,
            None => shares.push((name, percent / 100.0)),
        }
    }
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares
}

/// The report's name for perf's object `dso` (see the module's table).
pub fn object(dso: &str) -> String {
    if dso.starts_with("[JIT]") {
        JIT.to_owned()
    } else if dso.starts_with("[kernel") {
        "kernel".to_owned()
    } else if dso == "[vdso]" || dso.contains(".so") {
        "libraries".to_owned()
    } else {
        dso.to_owned()
    }
}

/// The object holding JIT-compiled code: in Envoy, the wasm filter.
pub const JIT: &str = "wasm (JIT)";

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "
    66.65%  envoy            
    22.23%  [kernel.kallsyms]
     7.82%  [JIT] tid 23118  
     2.89%  libc.so.6        
     0.40%  [vdso]           
";

    #[test]
    fn objects_are_named_and_merged_largest_first() {
        let shares = by_object(REPORT);
        let names: Vec<&str> = shares.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["envoy", "kernel", JIT, "libraries"]);
        let libraries = shares[3].1;
        assert!((libraries - 0.0329).abs() < 1e-9, "{libraries}");
        let total: f64 = shares.iter().map(|(_, s)| s).sum();
        assert!((total - 0.9999).abs() < 1e-9, "{total}");
    }

    #[test]
    fn lines_that_are_not_shares_are_skipped() {
        let shares =
            by_object("# header\n\nerror: no samples\n   nan%  envoy\n  12.5%  mcp-broker\n");
        assert_eq!(shares, [("mcp-broker".to_owned(), 0.125)]);
    }

    #[test]
    fn other_objects_keep_their_names() {
        assert_eq!(object("ld-linux-x86-64.so.2"), "libraries");
        assert_eq!(object("[kernel.vmlinux]"), "kernel");
        assert_eq!(object("node"), "node");
    }
}
