//! The broker at scale: 100 upstreams × 100 tools behind our gateway.
//! Start-up to ready, `tools/list` cold and warm, memory, route table size,
//! and how long a new tool takes from the upstream's `list_changed` to the
//! router routing it. Envoy's native MCP router over the same upstreams is
//! measured beside it for `tools/list` (it fans out on every request).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use e2e::Stack;

use crate::client::McpClient;
use crate::envoy::{self, Envoy};
use crate::fleet::{Fleet, FleetSpec};
use crate::procstat::Tree;

/// Upstreams and generated tools per upstream.
pub const SERVERS: usize = 100;
pub const TOOLS: usize = 100;
/// The upstream that announces new tools (unprefixed).
const CHANGING: usize = 37;

/// What the scale run measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ScaleReport {
    pub servers: usize,
    pub tools: usize,
    /// Broker start to the gateway listing every tool of every upstream
    /// (Envoy started with the route table on the way).
    pub ready: Duration,
    /// `cold` is the first `tools/list` after the catalogue was whole.
    pub gateway: ListTimes,
    pub native: Option<ListTimes>,
    pub broker_rss: u64,
    pub envoy_rss: u64,
    pub route_table_bytes: u64,
    /// `list_changed` sent → first successful routed call of the new tool.
    pub list_changed_to_routed: Vec<Duration>,
}

/// `tools/list` latencies and the answer's size.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ListTimes {
    pub cold: Duration,
    pub warm_p50: Duration,
    pub warm_p99: Duration,
    pub tools: usize,
    /// RSS of the proxy after listing (native only; the gateway's is split).
    pub rss: u64,
}

/// Runs the scale measurements.
///
/// # Errors
/// A process does not come up or a step gives wrong answers.
pub async fn run(
    dir: &Path,
    cpus: Option<&str>,
    warm_lists: usize,
    repeats: usize,
) -> anyhow::Result<ScaleReport> {
    let fleet = Fleet::start(
        &FleetSpec {
            label: "scale-upstreams",
            name_prefix: "s",
            servers: SERVERS,
            tools: TOOLS,
            sse: false,
            cpu_list: cpus,
        },
        dir,
    )
    .await?;
    let expected = SERVERS * (TOOLS + 1);

    let mut builder = Stack::builder()
        .refresh_seconds(30)
        .envoy_concurrency(1)
        .quiet();
    if let Some(cpus) = cpus {
        builder = builder.cpu_list(cpus);
    }
    for (index, server) in fleet.servers.iter().enumerate() {
        // The server that gets new tools has no prefix: a prefixed server's
        // new tool is routed by its prefix before the route table knows it,
        // which would not measure the table's update.
        let prefix = if index == CHANGING {
            String::new()
        } else {
            format!("{}_", server.name)
        };
        builder = builder.server(&server.name, &server.url(), &prefix);
    }
    let started = Instant::now();
    let stack = builder
        .start()
        .await
        .context("gateway with 100 upstreams")?;
    let client = McpClient::new(&stack.gateway_url(), Vec::new());
    // The broker is ready once every upstream was tried; the catalogue is
    // whole once each has been listed.
    crate::systems::wait_for_tools(&client, expected, Duration::from_secs(60)).await?;
    let ready = started.elapsed();

    let gateway = list_times(&client, expected, warm_lists).await?;
    let broker_rss = Tree::new("broker", stack.broker_pid()).rss();
    let envoy_rss = Tree::new("envoy", stack.envoy_pid()).rss();
    let route_table_bytes = std::fs::metadata(stack.dir().join("ecds/mcp-router.json"))
        .map(|m| m.len())
        .unwrap_or(0);

    let list_changed_to_routed = list_changed(&fleet, &client, repeats).await?;
    drop(stack);

    let ports = envoy::ports();
    let native = match Envoy::start(
        "envoy-native-scale",
        &envoy::native(ports, &fleet.servers),
        ports,
        dir,
        cpus,
    )
    .await
    {
        Ok(envoy) => {
            let client = McpClient::new(&envoy.url("/mcp"), Vec::new());
            // The tools added for `list_changed` are upstream tools now.
            let expected = expected + list_changed_to_routed.len();
            let mut times = list_times(&client, expected, warm_lists).await?;
            times.rss = envoy.tree().rss();
            Some(times)
        }
        Err(error) => {
            eprintln!("native Envoy at scale did not start: {error:#}");
            None
        }
    };

    Ok(ScaleReport {
        servers: SERVERS,
        tools: TOOLS,
        ready,
        gateway,
        native,
        broker_rss,
        envoy_rss,
        route_table_bytes,
        list_changed_to_routed,
    })
}

async fn list_times(
    client: &McpClient,
    expected: usize,
    warm_lists: usize,
) -> anyhow::Result<ListTimes> {
    let session = client.initialize().await?;
    let start = Instant::now();
    let names = client.list(session.as_deref()).await?;
    let cold = start.elapsed();
    ensure!(
        names.len() == expected,
        "tools/list gave {} tools, expected {expected}",
        names.len()
    );
    let mut warm = Vec::with_capacity(warm_lists);
    for _ in 0..warm_lists {
        let start = Instant::now();
        let names = client.list(session.as_deref()).await?;
        warm.push(start.elapsed());
        ensure!(
            names.len() == expected,
            "tools/list gave {} tools",
            names.len()
        );
    }
    warm.sort();
    Ok(ListTimes {
        cold,
        warm_p50: percentile(&warm, 50),
        warm_p99: percentile(&warm, 99),
        tools: names.len(),
        rss: 0,
    })
}

/// Adds a tool to one upstream `repeats` times; each time, how long until
/// a call to it through the gateway is routed and answered.
async fn list_changed(
    fleet: &Fleet,
    client: &McpClient,
    repeats: usize,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let index = CHANGING.min(fleet.servers.len() - 1);
    let server = &fleet.servers[index];
    let session = client.initialize().await?;
    // The session's upstream handshake is not part of what is measured.
    let warm = client.call(session.as_deref(), "tool_0000", "warm").await?;
    ensure!(
        warm.get(1).is_some_and(|t| t.contains(&server.name)),
        "the unprefixed server does not serve tool_0000: {warm:?}"
    );
    let mut times = Vec::with_capacity(repeats);
    for round in 0..repeats {
        let tool = format!("late_{round}");
        let exposed = tool.clone();
        let expected = format!("served-by {} {tool}", server.name);
        let start = Instant::now();
        fleet.add_tool(&http, index, &tool).await?;
        loop {
            if let Ok(texts) = client.call(session.as_deref(), &exposed, "late").await
                && texts.get(1) == Some(&expected)
            {
                times.push(start.elapsed());
                break;
            }
            ensure!(
                start.elapsed() < Duration::from_secs(60),
                "{exposed} was not routed 60 s after list_changed"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    Ok(times)
}

pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted.len() * p)
        .div_ceil(100)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[index]
}
