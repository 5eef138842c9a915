//! CPU time and peak memory of running processes, from `/proc` (Linux).
//!
//! A system is measured as the process trees of its own processes (Envoy,
//! broker, ContextForge, upstream), so helpers a process forks count too.

use std::collections::HashMap;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`): 100 on every
/// Linux architecture this runs on.
const TICKS_PER_SECOND: u64 = 100;

/// A process and everything it started.
#[derive(Debug, Clone)]
pub struct Tree {
    pub label: String,
    pub root: u32,
}

impl Tree {
    pub fn new(label: &str, root: u32) -> Self {
        Tree {
            label: label.to_owned(),
            root,
        }
    }

    /// The root and its descendants, now.
    pub fn pids(&self) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Some(ppid) =
                    stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
                {
                    children.entry(ppid).or_default().push(pid);
                }
            }
        }
        let mut all = vec![self.root];
        let mut next = 0;
        while next < all.len() {
            if let Some(kids) = children.get(&all[next]) {
                all.extend(kids);
            }
            next += 1;
        }
        all
    }

    /// User + system CPU time of the tree, microseconds.
    pub fn cpu_micros(&self) -> u64 {
        self.pids().into_iter().map(cpu_micros).sum()
    }

    /// Peak resident memory (`VmHWM`) summed over the tree, bytes.
    pub fn peak_rss(&self) -> u64 {
        self.pids()
            .into_iter()
            .map(|pid| status_kib(pid, "VmHWM:") * 1024)
            .sum()
    }

    /// Current resident memory (`VmRSS`) summed over the tree, bytes.
    pub fn rss(&self) -> u64 {
        self.pids()
            .into_iter()
            .map(|pid| status_kib(pid, "VmRSS:") * 1024)
            .sum()
    }

    /// Restarts the peak-memory watermark at the current RSS
    /// (`clear_refs` 5, Linux ≥ 4.0; needs to own the process or root).
    pub fn reset_peak(&self) {
        for pid in self.pids() {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }
}

/// Fields of `/proc/<pid>/stat` after the command name: index 0 is the
/// state, 1 the parent pid, 11 utime, 12 stime.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn cpu_micros(pid: u32) -> u64 {
    let Some(fields) = stat_fields(pid) else {
        return 0;
    };
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks * 1_000_000 / TICKS_PER_SECOND
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time and peak memory of a set of trees over one measured interval.
#[derive(Debug)]
pub struct Interval {
    trees: Vec<Tree>,
    cpu_start: Vec<u64>,
}

/// What an interval cost.
#[derive(Debug, Clone, Default)]
pub struct Cost {
    /// CPU microseconds per tree, in the order given.
    pub cpu_micros: Vec<(String, u64)>,
    /// Peak RSS bytes per tree during the interval.
    pub peak_rss: Vec<(String, u64)>,
}

impl Interval {
    /// Starts measuring: resets peak memory, reads CPU time.
    pub fn start(trees: &[Tree]) -> Self {
        for tree in trees {
            tree.reset_peak();
        }
        Interval {
            trees: trees.to_vec(),
            cpu_start: trees.iter().map(Tree::cpu_micros).collect(),
        }
    }

    pub fn finish(self) -> Cost {
        let cpu_micros = self
            .trees
            .iter()
            .zip(&self.cpu_start)
            .map(|(tree, start)| (tree.label.clone(), tree.cpu_micros().saturating_sub(*start)))
            .collect();
        let peak_rss = self
            .trees
            .iter()
            .map(|tree| (tree.label.clone(), tree.peak_rss()))
            .collect();
        Cost {
            cpu_micros,
            peak_rss,
        }
    }
}
