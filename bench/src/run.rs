//! One measured cell (a workload through a system): check, prepare,
//! warm up, measure throughput with CPU and memory, measure unloaded
//! latency, check again.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::fleet::Stats;
use crate::procstat::{Interval, Tree};
use crate::profile;
use crate::systems::{Deployment, Kind, System, Target, Upstreams};
use crate::workload::{self, MANY_SESSIONS, Workload};
use crate::wrk::{self, Sessions, Totals};

/// How long and where the load generator runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LoadSettings {
    pub wrk: std::path::PathBuf,
    pub wrk_cpus: Option<String>,
    pub warmup: Duration,
    pub duration: Duration,
    pub latency_duration: Duration,
    /// Sessions for [`Workload::ManySessions`].
    pub many_sessions: usize,
    /// Upper bound of fresh sessions prepared for [`Workload::FirstCall`].
    pub max_fresh_sessions: usize,
    /// Record where each own process's CPU time goes (`perf`, [`profile`]).
    #[serde(default)]
    pub profile: bool,
}

/// What one cell measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Measure {
    /// The throughput run (the workload's connections).
    pub load: Totals,
    /// One connection: unloaded latency.
    pub unloaded: Option<Totals>,
    /// CPU time of the system's own processes per request, µs.
    pub own_cpu_us: f64,
    /// CPU time of everything serving the request (own + upstreams), µs.
    pub total_cpu_us: f64,
    /// Peak RSS of the system's own processes during the run, bytes.
    pub own_peak_rss: u64,
    /// CPU time per request of each of the system's own processes, µs.
    pub cpu_by_process: Vec<(String, f64)>,
    /// With `--profile`: CPU time per request of each own process by the
    /// object it was spent in ([`profile`]): (process, object, µs).
    #[serde(default)]
    pub cpu_by_object: Vec<(String, String, f64)>,
    /// Something the reader should know about this cell.
    pub note: Option<String>,
}

/// The outcome of one cell.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Measured(Box<Measure>),
    /// Right answers, but not one completed under load within the run.
    TooSlow(String),
    Failed(String),
}

/// A system answered correctly but too slowly to measure.
#[derive(Debug)]
struct TooSlow(String);

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TooSlow {}

/// Runs `workload` through `system`. `call_rps` is the system's small-call
/// throughput, if measured, to size the fresh-session pool.
pub async fn cell(
    workload: Workload,
    system: &System,
    upstreams: &Upstreams,
    settings: &LoadSettings,
    dir: &Path,
    call_rps: Option<f64>,
) -> Outcome {
    match measure(workload, system, upstreams, settings, dir, call_rps).await {
        Ok(measure) => Outcome::Measured(Box::new(measure)),
        Err(error) => match error.downcast_ref::<TooSlow>() {
            Some(slow) => Outcome::TooSlow(slow.0.clone()),
            None => Outcome::Failed(format!("{error:#}")),
        },
    }
}

async fn measure(
    workload: Workload,
    system: &System,
    upstreams: &Upstreams,
    settings: &LoadSettings,
    dir: &Path,
    call_rps: Option<f64>,
) -> anyhow::Result<Measure> {
    workload::check(workload, system, upstreams)
        .await
        .context("correctness check")?;
    let http = reqwest::Client::new();
    let body = workload.body(system, upstreams);
    let base = wrk::Run {
        url: system.url(workload.target()).to_owned(),
        body,
        headers: system.headers().to_vec(),
        sessions: Sessions::One(None),
        connections: workload.connections(),
        duration: settings.duration,
        cpu_list: settings.wrk_cpus.clone(),
    };
    let mut note = None;
    let (load_sessions, unloaded_sessions) = match workload {
        Workload::OpenSession => (Sessions::One(None), Sessions::One(None)),
        Workload::FirstCall => {
            let planned =
                call_rps.map_or(2000.0, |rps| rps * settings.duration.as_secs_f64() / 4.0);
            let count = (planned as usize).clamp(200, settings.max_fresh_sessions);
            let load = fresh_sessions(system, upstreams, count, dir, "fresh-load").await?;
            let unloaded = fresh_sessions(
                system,
                upstreams,
                (count / 10).clamp(50, 500),
                dir,
                "fresh-unloaded",
            )
            .await?;
            (load, unloaded)
        }
        Workload::ManySessions => {
            match workload::sessions(system, upstreams, settings.many_sessions, true).await {
                Ok(ids) => {
                    let file = dir.join("many-sessions.txt");
                    std::fs::write(&file, ids.join("\n") + "\n")?;
                    (Sessions::Cycle(file.clone()), Sessions::Cycle(file))
                }
                // Stateless: the connections are all there is to it.
                Err(_) if system.kind == Kind::ContextForge => {
                    (Sessions::One(None), Sessions::One(None))
                }
                Err(error) => return Err(error),
            }
        }
        _ => {
            let client = system.client(workload.target());
            let warm = workload.target() == Target::Calls;
            let id = workload::session(system, upstreams, &client, warm).await?;
            (Sessions::One(id.clone()), Sessions::One(id))
        }
    };
    if system.kind == Kind::ContextForge
        && matches!(load_sessions, Sessions::One(None))
        && workload != Workload::OpenSession
    {
        note = Some("ContextForge gives no session id: no session state to look up".to_owned());
    }

    // Warm-up: connections open, caches filled, JIT-compiled paths hot.
    if workload != Workload::FirstCall && !settings.warmup.is_zero() {
        let warmup = wrk::Run {
            sessions: load_sessions.clone(),
            duration: settings.warmup,
            ..base.clone()
        };
        warmup.start(&settings.wrk, dir)?.finish().await?;
    }

    let trees = measured_trees(system, upstreams, workload.target());
    let before = u00_stats(&http, upstreams, system.deployment).await;
    let interval = Interval::start(&trees);
    let recording = if settings.profile {
        let own: Vec<Tree> = system.own(workload.target());
        let tag = format!("{}-{}", system.kind.id(), workload.id());
        Some(profile::Recording::start(&own, dir, &tag)?)
    } else {
        None
    };
    let load_run = wrk::Run {
        sessions: load_sessions.clone(),
        ..base.clone()
    };
    let load = run_to_end(
        &load_run,
        settings,
        dir,
        upstreams,
        system.deployment,
        &http,
        before.tool_calls,
    )
    .await?;
    let cost = interval.finish();
    let shares = recording
        .map(profile::Recording::finish)
        .unwrap_or_default();
    let after = u00_stats(&http, upstreams, system.deployment).await;

    if load.requests == 0 {
        bail!(TooSlow(format!(
            "no request completed within {} s at {} connections",
            settings.duration.as_secs(),
            workload.connections()
        )));
    }
    if load.errors() * 1000 > load.requests {
        bail!(
            "{} of {} requests failed (status {}, timeout {}, socket {})",
            load.errors(),
            load.requests,
            load.status,
            load.timeout,
            load.connect + load.read + load.write
        );
    }
    if workload.calls_upstream() {
        let reached = after.tool_calls.saturating_sub(before.tool_calls);
        if (reached as f64) < load.requests as f64 * 0.98 {
            bail!(
                "{} requests answered but only {reached} tools/call reached the upstream",
                load.requests
            );
        }
    }

    let unloaded = if workload == Workload::ManySessions {
        None
    } else {
        let run = wrk::Run {
            sessions: unloaded_sessions,
            connections: 1,
            duration: settings.latency_duration,
            ..base.clone()
        };
        let before = u00_stats(&http, upstreams, system.deployment).await;
        Some(
            run_to_end(
                &run,
                settings,
                dir,
                upstreams,
                system.deployment,
                &http,
                before.tool_calls,
            )
            .await?,
        )
    };

    workload::check(workload, system, upstreams)
        .await
        .context("correctness check after the run")?;

    let own: Vec<u32> = system
        .own(workload.target())
        .iter()
        .map(|t| t.root)
        .collect();
    let requests = load.requests as f64;
    let mut own_cpu = 0u64;
    let mut total_cpu = 0u64;
    let mut cpu_by_process = Vec::new();
    for ((label, micros), tree) in cost.cpu_micros.iter().zip(&trees) {
        total_cpu += micros;
        if own.contains(&tree.root) {
            own_cpu += micros;
            cpu_by_process.push((label.clone(), *micros as f64 / requests));
        }
    }
    let cpu_by_object = shares
        .into_iter()
        .filter_map(|(label, objects)| {
            let (_, micros) = cpu_by_process.iter().find(|(l, _)| *l == label)?;
            Some(
                objects
                    .into_iter()
                    .map(move |(object, share)| (label.clone(), object, share * micros)),
            )
        })
        .flatten()
        .collect();
    let own_peak_rss = cost
        .peak_rss
        .iter()
        .zip(&trees)
        .filter(|(_, tree)| own.contains(&tree.root))
        .map(|((_, bytes), _)| bytes)
        .sum();
    Ok(Measure {
        load,
        unloaded,
        own_cpu_us: own_cpu as f64 / requests,
        total_cpu_us: total_cpu as f64 / requests,
        own_peak_rss,
        cpu_by_process,
        cpu_by_object,
        note,
    })
}

/// The system's processes, then the upstream processes it does not own.
fn measured_trees(system: &System, upstreams: &Upstreams, target: Target) -> Vec<Tree> {
    let mut trees = system.own(target);
    for tree in upstreams.trees() {
        if !trees.iter().any(|t| t.root == tree.root) {
            trees.push(tree);
        }
    }
    trees
}

async fn u00_stats(http: &reqwest::Client, upstreams: &Upstreams, deployment: Deployment) -> Stats {
    upstreams
        .fleet(deployment)
        .stats(http, 0)
        .await
        .unwrap_or_default()
}

/// Prepares `count` sessions that have never called anything, in a file.
async fn fresh_sessions(
    system: &System,
    upstreams: &Upstreams,
    count: usize,
    dir: &Path,
    name: &str,
) -> anyhow::Result<Sessions> {
    let ids = workload::sessions(system, upstreams, count, false).await;
    match ids {
        Ok(ids) => {
            let file = dir.join(format!("{name}.txt"));
            std::fs::write(&file, ids.join("\n") + "\n")?;
            Ok(Sessions::EachOnce(file))
        }
        Err(_) if system.kind == Kind::ContextForge => Ok(Sessions::One(None)),
        Err(error) => Err(error),
    }
}

/// Runs wrk for its duration; with single-use sessions, stops it as soon as
/// every session has made its call (the upstream counted them).
async fn run_to_end(
    run: &wrk::Run,
    settings: &LoadSettings,
    dir: &Path,
    upstreams: &Upstreams,
    deployment: Deployment,
    http: &reqwest::Client,
    calls_before: u64,
) -> anyhow::Result<Totals> {
    let Sessions::EachOnce(file) = &run.sessions else {
        return run.start(&settings.wrk, dir)?.finish().await;
    };
    let sessions = std::fs::read_to_string(file)?.lines().count() as u64;
    // Long enough for slow systems; interrupted when done.
    let bounded = wrk::Run {
        duration: settings.duration * 6,
        ..run.clone()
    };
    let running = bounded.start(&settings.wrk, dir)?;
    while running.elapsed() < bounded.duration {
        let calls = u00_stats(http, upstreams, deployment).await.tool_calls;
        if calls.saturating_sub(calls_before) >= sessions {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.interrupt();
    running.finish().await
}

/// The small-call throughput of a measured cell, for sizing later cells.
pub fn rps(outcome: &Outcome) -> Option<f64> {
    match outcome {
        Outcome::Measured(measure) => Some(measure.load.rps()),
        Outcome::TooSlow(_) | Outcome::Failed(_) => None,
    }
}

/// `MANY_SESSIONS` for full runs, fewer for quick ones.
pub fn many_sessions(quick: bool) -> usize {
    if quick { 100 } else { MANY_SESSIONS }
}
