//! What the machine is and was doing, and the versions measured, for the
//! report.

use std::process::Command;

use crate::suite::Options;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// `/proc/loadavg`: 1, 5, 15 minutes.
    pub load: String,
    pub envoy: String,
    pub wrk: String,
    pub contextforge: Option<String>,
}

impl Machine {
    pub fn now(options: &Options) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let load = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: first_line(Command::new("uname").arg("-r")),
            load,
            envoy: first_line(Command::new(e2e::paths::envoy()).arg("--version"))
                .split_whitespace()
                .nth(2)
                .and_then(|build| build.split('/').nth(1))
                .unwrap_or_default()
                .to_owned(),
            wrk: first_line(Command::new(&options.load.wrk).arg("--version"))
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            contextforge: options
                .env
                .contextforge
                .as_deref()
                .and_then(crate::contextforge::version),
        }
    }
}

fn first_line(command: &mut Command) -> String {
    command
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The 1-minute load average now.
pub fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// The machine's CPU time counters (`/proc/stat`, all CPUs, in ticks).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    total: u64,
    steal: u64,
}

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = text
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        CpuTimes {
            // user nice system idle iowait irq softirq steal (guest is in user).
            total: fields.iter().take(8).sum(),
            steal: fields.get(7).copied().unwrap_or(0),
        }
    }

    /// The share of CPU time stolen since `self`.
    pub fn share_until_now(&self) -> f64 {
        let now = CpuTimes::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            0.0
        } else {
            now.steal.saturating_sub(self.steal) as f64 / total as f64
        }
    }
}
