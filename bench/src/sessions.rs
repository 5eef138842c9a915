//! Many live sessions on one gateway: 10,000 gateway sessions opened,
//! then each makes its first `tools/call` (the upstream handshake) and a
//! second (routed from the router's cache), 256 at a time, every answer
//! checked. Latency percentiles of both calls, errors, and the memory of
//! the broker, Envoy and (with the Redis store) Redis before and after:
//! bytes per live session. Run once with each session store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use e2e::Stack;
use futures::StreamExt;
use serde_json::json;

use crate::client::McpClient;
use crate::fleet::{Fleet, FleetSpec};
use crate::procstat::Tree;

/// Live sessions at once.
pub const SESSIONS: usize = 10_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 256;
const TOOL: &str = "u00_tool_0001";
/// The argument each call sends, and its answer's first text block.
const TEXT: &str = "sessions-bench";

/// What the run measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionsReport {
    /// `memory` or `redis`.
    pub store: String,
    pub sessions: usize,
    /// Requests (initialize and calls) that failed or answered wrongly.
    pub errors: usize,
    pub first_call_p50: Duration,
    pub first_call_p99: Duration,
    pub call_p50: Duration,
    pub call_p99: Duration,
    pub broker_rss_before: u64,
    pub broker_rss_after: u64,
    pub envoy_rss_before: u64,
    pub envoy_rss_after: u64,
    /// Upstream sessions the broker holds at the end (memory store).
    pub upstream_sessions: Option<u64>,
    /// Redis `used_memory` before and after (Redis store).
    pub redis_bytes: Option<(u64, u64)>,
}

impl SessionsReport {
    /// Growth per live session, bytes: broker, Envoy, Redis.
    pub fn per_session(&self) -> (f64, f64, Option<f64>) {
        let per = |before: u64, after: u64| {
            after.saturating_sub(before) as f64 / self.sessions.max(1) as f64
        };
        (
            per(self.broker_rss_before, self.broker_rss_after),
            per(self.envoy_rss_before, self.envoy_rss_after),
            self.redis_bytes.map(|(before, after)| per(before, after)),
        )
    }
}

/// Runs it.
///
/// # Errors
/// A process does not come up (wrong answers are counted, not errors).
pub async fn run(
    dir: &std::path::Path,
    cpus: Option<&str>,
    with_redis: bool,
) -> anyhow::Result<SessionsReport> {
    let redis = match with_redis {
        true => Some(
            e2e::redis::RedisServer::start()
                .await
                .context("redis-server")?,
        ),
        false => None,
    };
    let fleet = Fleet::start(
        &FleetSpec {
            label: "sessions-upstream",
            name_prefix: "u",
            servers: 1,
            tools: 10,
            sse: false,
            cpu_list: cpus,
        },
        dir,
    )
    .await?;
    let server = &fleet.servers[0];
    let mut builder = Stack::builder()
        .server(&server.name, &server.url(), &format!("{}_", server.name))
        .envoy_concurrency(1)
        .setting(
            "limits",
            json!({
                "maxUpstreamSessions": 4 * SESSIONS,
                "initializePerSecond": 1_000_000,
                "maxConnections": 4 * CONCURRENCY
            }),
        )
        .quiet();
    if let Some(cpus) = cpus {
        builder = builder.cpu_list(cpus);
    }
    if let Some(redis) = &redis {
        builder = builder.setting(
            "sessionStore",
            json!({ "redis": { "url": { "value": redis.url() } } }),
        );
    }
    let stack = builder
        .start()
        .await
        .context("gateway for 10,000 sessions")?;
    let client = Arc::new(McpClient::new(&stack.gateway_url(), Vec::new()));
    crate::systems::wait_for_tools(&client, 11, Duration::from_secs(30)).await?;
    let broker = Tree::new("broker", stack.broker_pid());
    let envoy = Tree::new("envoy", stack.envoy_pid());
    let (broker_rss_before, envoy_rss_before) = (broker.rss(), envoy.rss());
    let redis_before = match &redis {
        Some(redis) => Some(used_memory(&redis.url()).await?),
        None => None,
    };

    let opened: Vec<Option<String>> = futures::stream::iter(0..SESSIONS)
        .map(|_| {
            let client = client.clone();
            async move { client.initialize().await.ok().flatten() }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut errors = opened.iter().filter(|s| s.is_none()).count();
    let sessions: Arc<Vec<String>> = Arc::new(opened.into_iter().flatten().collect());
    let (first, failed) = calls(&client, &sessions).await;
    errors += failed;
    let (warm, failed) = calls(&client, &sessions).await;
    errors += failed;

    let status = stack.status().await.context("broker status")?;
    let redis_bytes = match (&redis, redis_before) {
        (Some(redis), Some(before)) => Some((before, used_memory(&redis.url()).await?)),
        _ => None,
    };
    Ok(SessionsReport {
        store: if with_redis { "redis" } else { "memory" }.to_owned(),
        sessions: SESSIONS,
        errors,
        first_call_p50: percentile(&first, 50),
        first_call_p99: percentile(&first, 99),
        call_p50: percentile(&warm, 50),
        call_p99: percentile(&warm, 99),
        broker_rss_before,
        broker_rss_after: broker.rss(),
        envoy_rss_before,
        envoy_rss_after: envoy.rss(),
        upstream_sessions: status["sessions"]["upstream"].as_u64(),
        redis_bytes,
    })
}

/// Redis's `used_memory` (`INFO memory`), bytes.
async fn used_memory(url: &str) -> anyhow::Result<u64> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await?;
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no used_memory in INFO memory")
}

/// One `tools/call` per session, `CONCURRENCY` at a time: the sorted
/// latencies of the right answers, and how many were wrong.
async fn calls(client: &Arc<McpClient>, sessions: &Arc<Vec<String>>) -> (Vec<Duration>, usize) {
    let results: Vec<Option<Duration>> = futures::stream::iter(0..sessions.len())
        .map(|index| {
            let (client, sessions) = (client.clone(), sessions.clone());
            async move {
                let start = Instant::now();
                let texts = client.call(Some(&sessions[index]), TOOL, TEXT).await.ok()?;
                (texts.first().map(String::as_str) == Some(TEXT)).then(|| start.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_none()).count();
    let mut times: Vec<Duration> = results.into_iter().flatten().collect();
    times.sort();
    (times, failed)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    crate::scale::percentile(sorted, p)
}
