//! The whole comparison (every workload through every system, then the
//! broker at scale), and its smoke version (correctness only).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::machine::Machine;
use crate::procstat::Tree;
use crate::run::{self, LoadSettings, Outcome};
use crate::scale::{self, ScaleReport};
use crate::sessions::{self, SessionsReport};
use crate::systems::{Deployment, Environment, Kind, System, Target, Upstreams};
use crate::workload::{self, Workload};

/// What to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub systems: Vec<Kind>,
    pub workloads: Vec<Workload>,
    pub load: LoadSettings,
    pub env: Environment,
    pub scale: bool,
    /// Measurements of each cell, interleaved across the systems; the
    /// report shows the median round.
    pub rounds: usize,
    /// Warm `tools/list` requests and `list_changed` rounds at scale.
    pub scale_lists: usize,
    pub scale_repeats: usize,
    /// What else the machine was doing, for the report.
    pub note: Option<String>,
}

/// Everything a run found; saved as JSON beside the report, so the report
/// can be rendered again without measuring again (`mcp-bench --render`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Results {
    #[serde(with = "pairs")]
    pub cells: BTreeMap<(Workload, Kind), Outcome>,
    /// RSS of each system's own processes right after it started.
    #[serde(with = "pairs")]
    pub idle_rss: BTreeMap<(Kind, Deployment), u64>,
    /// Systems that could not run at all, and why.
    #[serde(with = "pairs")]
    pub unavailable: BTreeMap<Kind, String>,
    pub scale: Option<Result<ScaleReport, String>>,
    /// 10,000 live sessions on one gateway, with each session store
    /// (with the scale run).
    #[serde(default)]
    pub sessions: Vec<Result<SessionsReport, String>>,
    /// The highest 1-minute load average seen before a cell (the bench's
    /// own processes keep about 2 cores busy).
    pub max_load: f64,
    /// Per cell measured in several rounds: (highest − lowest) ÷ median
    /// throughput across the rounds.
    #[serde(with = "pairs")]
    pub spreads: BTreeMap<(Workload, Kind), f64>,
    /// Throughput of every measured round, in the order they ran (round
    /// `i` of every system ran within the same minute or so).
    #[serde(with = "pairs", default)]
    pub round_rps: BTreeMap<(Workload, Kind), Vec<f64>>,
    /// Share of CPU time the hypervisor took from this machine (`steal`)
    /// while the systems were measured.
    pub steal: f64,
    pub machine_before: Machine,
    pub machine_after: Machine,
    pub started: SystemTime,
    pub elapsed: Duration,
    pub options: Options,
}

/// Runs the comparison.
///
/// # Errors
/// The upstreams do not start (every other failure is recorded as FAIL).
pub async fn run(options: Options) -> anyhow::Result<Results> {
    let started = SystemTime::now();
    let clock = std::time::Instant::now();
    let machine_before = Machine::now(&options);
    let env = &options.env;
    let upstreams = Upstreams::start(&env.dir, env.server_cpus.as_deref(), 20).await?;
    let mut cells = BTreeMap::new();
    let mut idle_rss = BTreeMap::new();
    let mut unavailable = BTreeMap::new();
    let mut max_load = 0.0f64;
    let mut spreads = BTreeMap::new();
    let mut round_rps = BTreeMap::new();
    let steal_start = crate::machine::CpuTimes::now();
    for deployment in Deployment::ALL {
        let workloads: Vec<Workload> = options
            .workloads
            .iter()
            .copied()
            .filter(|w| w.deployment() == deployment)
            .collect();
        if workloads.is_empty() {
            continue;
        }
        // Every system of the deployment runs at once (idle unless loaded),
        // and each workload goes through them one after the other: the
        // ratios compare measurements minutes apart, not a whole run apart.
        let mut running = Vec::new();
        for &kind in &options.systems {
            if !workloads.iter().any(|&w| kind.runs(w)) {
                continue;
            }
            eprintln!(
                "== starting {} over {} upstreams",
                kind.label(),
                deployment.servers()
            );
            match System::start(kind, deployment, &upstreams, env).await {
                Ok(system) => {
                    idle_rss.insert(
                        (kind, deployment),
                        system.own(Target::Calls).iter().map(|t| t.rss()).sum(),
                    );
                    running.push(system);
                }
                Err(error) => {
                    let reason = format!("{error:#}");
                    eprintln!("   did not start: {reason}");
                    unavailable.entry(kind).or_insert_with(|| reason.clone());
                    for &workload in workloads.iter().filter(|&&w| kind.runs(w)) {
                        cells.insert(
                            (workload, kind),
                            Outcome::Failed(format!("did not start: {reason}")),
                        );
                    }
                }
            }
        }
        let quiet: Vec<Tree> = running
            .iter()
            .flat_map(|s| s.own(Target::Calls))
            .chain(upstreams.trees())
            .collect();
        for &workload in &workloads {
            eprintln!("== {}: {}", workload.id(), workload.title());
            let mut rounds: BTreeMap<Kind, Vec<Outcome>> = BTreeMap::new();
            for round in 0..options.rounds {
                for system in running.iter().filter(|s| s.kind.runs(workload)) {
                    let kind = system.kind;
                    // ContextForge is orders of magnitude away: one round
                    // tells all there is, and more would take minutes.
                    if round > 0 && kind == Kind::ContextForge {
                        continue;
                    }
                    // A slow system still works through what the load
                    // generator left queued: wait for every process to idle.
                    settle(&quiet).await;
                    max_load = max_load.max(crate::machine::load_1min());
                    let dir = env
                        .dir
                        .join(format!("{}-{}-{round}", kind.id(), workload.id()));
                    std::fs::create_dir_all(&dir)?;
                    let call_rps = cells.get(&(Workload::CallSmall, kind)).and_then(run::rps);
                    let outcome =
                        run::cell(workload, system, &upstreams, &options.load, &dir, call_rps)
                            .await;
                    log(kind, &outcome);
                    rounds.entry(kind).or_default().push(outcome);
                }
            }
            for (kind, outcomes) in rounds {
                round_rps.insert(
                    (workload, kind),
                    outcomes.iter().filter_map(run::rps).collect::<Vec<_>>(),
                );
                let (outcome, spread) = median_round(outcomes);
                if let Some(spread) = spread {
                    spreads.insert((workload, kind), spread);
                }
                cells.insert((workload, kind), outcome);
            }
        }
        drop(running);
    }
    drop(upstreams);
    let steal = steal_start.share_until_now();

    let scale = if options.scale {
        eprintln!(
            "== broker at scale: {} upstreams × {} tools",
            scale::SERVERS,
            scale::TOOLS
        );
        let dir = env.dir.join("scale");
        std::fs::create_dir_all(&dir)?;
        Some(
            scale::run(
                &dir,
                env.server_cpus.as_deref(),
                options.scale_lists,
                options.scale_repeats,
            )
            .await
            .map_err(|e| format!("{e:#}")),
        )
    } else {
        None
    };
    let mut sessions = Vec::new();
    for with_redis in [false, true].into_iter().filter(|_| options.scale) {
        eprintln!(
            "== {} live sessions on one gateway (Redis store: {with_redis})",
            sessions::SESSIONS
        );
        let dir = env.dir.join(format!("sessions-{with_redis}"));
        std::fs::create_dir_all(&dir)?;
        sessions.push(
            sessions::run(&dir, env.server_cpus.as_deref(), with_redis)
                .await
                .map_err(|e| format!("{e:#}")),
        );
    }
    let machine_after = Machine::now(&options);
    Ok(Results {
        cells,
        idle_rss,
        unavailable,
        scale,
        sessions,
        machine_before,
        machine_after,
        started,
        elapsed: clock.elapsed(),
        max_load,
        spreads,
        round_rps,
        steal,
        options,
    })
}

fn log(kind: Kind, outcome: &Outcome) {
    match outcome {
        Outcome::Measured(m) => eprintln!(
            "   {:<20} {:>9.0} req/s  p50 {:.3} ms  own CPU {:.1} µs/req",
            kind.label(),
            m.load.rps(),
            m.load.p50_us as f64 / 1000.0,
            m.own_cpu_us
        ),
        Outcome::TooSlow(reason) => eprintln!("   {:<20} too slow: {reason}", kind.label()),
        Outcome::Failed(reason) => eprintln!("   {:<20} FAIL: {reason}", kind.label()),
    }
}

/// The round to report: a failure if any round failed (a wrong answer once
/// is wrong), else the round with the median throughput; and the spread of
/// the throughputs when several rounds were measured.
fn median_round(mut outcomes: Vec<Outcome>) -> (Outcome, Option<f64>) {
    if let Some(failed) = outcomes.iter().find(|o| matches!(o, Outcome::Failed(_))) {
        return (failed.clone(), None);
    }
    let slow = outcomes
        .iter()
        .find(|o| matches!(o, Outcome::TooSlow(_)))
        .cloned();
    outcomes.retain(|o| matches!(o, Outcome::Measured(_)));
    outcomes.sort_by(|a, b| {
        run::rps(a)
            .unwrap_or(0.0)
            .total_cmp(&run::rps(b).unwrap_or(0.0))
    });
    let rates: Vec<f64> = outcomes.iter().filter_map(run::rps).collect();
    let Some(median) = outcomes.get(outcomes.len() / 2).cloned() else {
        return (
            slow.unwrap_or_else(|| Outcome::TooSlow("no round ran".to_owned())),
            None,
        );
    };
    let spread = match (rates.first(), rates.last(), run::rps(&median)) {
        (Some(low), Some(high), Some(mid)) if rates.len() > 1 && mid > 0.0 => {
            Some((high - low) / mid)
        }
        _ => None,
    };
    (median, spread)
}

/// Waits (up to 30 s) until `trees` use under 2 % of a CPU.
async fn settle(trees: &[Tree]) {
    let cpu = || trees.iter().map(Tree::cpu_micros).sum::<u64>();
    let start = std::time::Instant::now();
    let mut before = cpu();
    while start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu();
        if now.saturating_sub(before) < 10_000 {
            return;
        }
        before = now;
    }
}

/// The smoke version: every workload's correctness check through every
/// system, plus the session paths the load would take; no load generator.
/// Returns one line per check that failed.
///
/// # Errors
/// The upstreams do not start.
pub async fn smoke(systems: &[Kind], env: &Environment) -> anyhow::Result<Vec<String>> {
    let upstreams = Upstreams::start(&env.dir, None, 20).await?;
    let mut failures = Vec::new();
    for deployment in Deployment::ALL {
        for &kind in systems {
            let workloads: Vec<Workload> = Workload::ALL
                .into_iter()
                .filter(|w| w.deployment() == deployment && kind.runs(*w))
                .collect();
            if workloads.is_empty() {
                continue;
            }
            let system = match System::start(kind, deployment, &upstreams, env).await {
                Ok(system) => system,
                Err(error) => {
                    failures.push(format!("{} did not start: {error:#}", kind.label()));
                    continue;
                }
            };
            for workload in workloads {
                let result = async {
                    workload::check(workload, &system, &upstreams).await?;
                    if matches!(workload, Workload::FirstCall | Workload::ManySessions)
                        && system.kind != Kind::ContextForge
                    {
                        // The ids the load generator would use, each working.
                        let ids = workload::sessions(&system, &upstreams, 4, false).await?;
                        let client = system.client(Target::Calls);
                        for id in &ids {
                            workload::check_call(
                                &system,
                                &upstreams,
                                &client,
                                Some(id),
                                0,
                                workload::TOOL,
                                "once",
                            )
                            .await?;
                        }
                    }
                    anyhow::Ok(())
                }
                .await;
                if let Err(error) = result {
                    failures.push(format!("{} / {}: {error:#}", kind.label(), workload.id()));
                }
            }
        }
    }
    Ok(failures)
}

/// A map as a JSON list of `[key, value]` pairs (its keys are tuples).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<
        'de,
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    >(
        deserializer: D,
    ) -> Result<BTreeMap<K, V>, D::Error> {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}
