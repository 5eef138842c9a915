//! Faults under load: each test starts a bounded load (`e2e::load`),
//! injects one fault, lets the load run on, and checks every response:
//! nothing lost (every request answered within its deadline), failures only
//! among the requests in flight during the fault, each a JSON-RPC error,
//! and every client served again afterwards. Each prints its line of the
//! fault matrix (`FAULT | fault | sent | failed | lost`).

use std::time::{Duration, Instant};

use e2e::load::{Failure, Load, Report};
use e2e::redis::RedisServer;
use e2e::{Stack, UpstreamKind};
use serde_json::json;

const CLIENTS: usize = 8;
/// Each client stops by itself after this many requests.
const MAX_REQUESTS: usize = 2_000;
const WAIT: Duration = Duration::from_secs(30);
/// Requests every client gets right after the fault, to show recovery.
const RECOVERED: usize = 10;

/// One gateway in front of one `echo` upstream (with `settings`), its
/// catalogue whole.
async fn gateway(settings: &[(&str, serde_json::Value)]) -> Stack {
    let mut builder = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .quiet();
    for (key, value) in settings {
        builder = builder.setting(key, value.clone());
    }
    let stack = builder.start().await.expect("stack starts");
    ready(&stack).await;
    stack
}

/// The load on `gateways`, once every client has made a few requests.
async fn loaded(gateways: &[String]) -> Load {
    let load = Load::start(gateways, CLIENTS, MAX_REQUESTS).await;
    load.wait_for(CLIENTS * 10, WAIT).await;
    load
}

async fn ready(stack: &Stack) {
    stack
        .wait_for_status("echo's tools", WAIT, |s| {
            s["tools"].as_array().is_some_and(|t| !t.is_empty())
        })
        .await
        .expect("the catalogue fills");
}

/// Load until every client is served again by requests started after
/// `recovered` (bounded), then the report.
async fn finish(load: Load, recovered: Instant) -> Report {
    load.wait_until_recovered(recovered, RECOVERED, WAIT).await;
    load.finish().await
}

fn check(report: &Report, fault: &str, from: Instant, until: Instant) {
    println!("{}", report.line(fault));
    assert_eq!(report.lost(), 0, "{fault}: requests without an answer");
    let outside = report.failed_outside(from, until);
    assert!(
        outside.is_empty(),
        "{fault}: failures outside the fault's window: {:?}",
        outside.iter().take(5).collect::<Vec<_>>()
    );
    for failed in report.failed() {
        // Refusals are JSON-RPC errors; a connection cut in flight is the
        // one other outcome a client can meet.
        assert!(
            matches!(
                failed.result,
                Err(Failure::Refused { .. } | Failure::Transport(_))
            ),
            "{failed:?}"
        );
    }
    assert!(
        report.every_client_recovered(CLIENTS, RECOVERED),
        "{fault}: a client was not served again: {:?}",
        report.failed().iter().rev().take(5).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_broker_killed_under_load_loses_nothing_clients_carry_on_through_the_other() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let (mut a, b) = Stack::replicas(&redis.url()).await.expect("gateways start");
    ready(&a).await;
    ready(&b).await;
    let load = loaded(&[a.gateway_url(), b.gateway_url()]).await;

    let from = Instant::now();
    a.kill_broker();
    // Clients of a fail over to b as their requests reach the dead broker.
    load.wait_for(CLIENTS * 10, WAIT).await;
    let report = finish(load, from).await;
    // A client fails at most a few times: a request in flight, and the
    // ones its session sends to a before it moves (lists, cache misses).
    check(&report, "broker SIGKILL (2 replicas)", from, Instant::now());
    assert!(
        report.failed().len() <= CLIENTS,
        "each client fails over after one failure: {}",
        report.failed().len()
    );
}

#[tokio::test]
async fn sessions_survive_a_redis_restart_under_load() {
    let mut redis = RedisServer::start().await.expect("redis-server starts");
    let store = json!({ "redis": { "url": { "value": redis.url() } } });
    let stack = gateway(&[("sessionStore", store)]).await;
    let load = loaded(&[stack.gateway_url()]).await;

    let from = Instant::now();
    redis.restart().await.expect("redis-server comes back");
    let restarted = Instant::now();
    // The broker's connection reconnects on its next command.
    let until = restarted + Duration::from_secs(2);
    let report = finish(load, restarted).await;
    check(
        &report,
        "Redis SIGKILL + restart (AOF, fsync always)",
        from,
        until,
    );
}

#[tokio::test]
async fn an_upstream_killed_and_restarted_under_load_gets_errors_not_hangs_then_works() {
    let mut stack = gateway(&[]).await;
    let load = loaded(&[stack.gateway_url()]).await;

    let from = Instant::now();
    stack.upstream("echo").stop();
    load.wait_for(CLIENTS * 5, WAIT).await;
    let down = load.completed();
    stack.upstream("echo").start().await.expect("echo restarts");
    let restarted = Instant::now();
    // Each session's first call after the restart finds its upstream
    // session gone: answered "retry", the next call opens a new one.
    let until = restarted + Duration::from_secs(2);
    let report = finish(load, restarted).await;
    check(&report, "upstream SIGKILL + restart", from, until);
    assert!(
        report.failed().len() <= down,
        "the calls while it was down failed, as JSON-RPC errors"
    );
    assert!(
        !report.failed().is_empty(),
        "calls to a dead upstream cannot succeed"
    );
}

/// Envoy's count of filter configurations it took from ECDS.
async fn ecds_reloads(stack: &Stack) -> u64 {
    let text =
        reqwest::get(stack.admin_url("/stats?filter=extension_config_discovery.*config_reload$"))
            .await
            .expect("admin answers")
            .text()
            .await
            .unwrap_or_default();
    text.lines()
        .filter_map(|line| line.rsplit_once(": ")?.1.trim().parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_route_table_swap_reaches_envoy_under_load_without_a_failure() {
    let mut stack = gateway(&[]).await;
    let before = stack.status().await.expect("status")["routeTable"]["id"].clone();
    let reloads_before = ecds_reloads(&stack).await;
    let load = loaded(&[stack.gateway_url()]).await;

    // A new limit changes the route table: the broker writes it, Envoy
    // swaps the filter's configuration (ECDS) under load.
    let from = Instant::now();
    stack
        .change_config(|config| config["limits"] = json!({ "maxRequestBodyBytes": 3 << 20 }))
        .expect("config written");
    stack
        .wait_for_status("the new route table", WAIT, |s| {
            s["routeTable"]["id"] != before
        })
        .await
        .expect("a new table");
    // Until Envoy has swapped it in (bounded), under the same load.
    let deadline = Instant::now() + WAIT;
    while ecds_reloads(&stack).await <= reloads_before {
        assert!(Instant::now() < deadline, "Envoy never reloaded the filter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = finish(load, from).await;
    check(&report, "route table swapped (ECDS)", from, from);
    assert!(report.failed().is_empty());
}

#[tokio::test]
async fn a_broker_configuration_reload_under_load_fails_nothing() {
    let mut stack = gateway(&[]).await;
    let load = loaded(&[stack.gateway_url()]).await;

    let from = Instant::now();
    stack
        .change_config(|config| {
            config["discovery"]["refreshIntervalSeconds"] = json!(2);
            config["allowedOrigins"] = json!(["https://agents.example"]);
        })
        .expect("config written");
    load.wait_for(CLIENTS * 20, WAIT).await;
    let report = finish(load, from).await;
    check(&report, "broker configuration reloaded", from, from);
    assert!(report.failed().is_empty());
}

#[tokio::test]
async fn the_broker_shuts_down_in_bounded_time_with_event_streams_open() {
    let mut stack = gateway(&[]).await;
    // GET streams held open through Envoy: they never end by themselves.
    let http = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let mut session = e2e::client::RawSession::new(&stack.gateway_url());
        session.initialize().await.expect("initialize");
        let response = http
            .get(stack.gateway_url())
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header(
                "mcp-session-id",
                session.session_id.clone().unwrap_or_default(),
            )
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    let took = stack
        .terminate_broker(Duration::from_secs(10))
        .await
        .expect("the broker exits within 10 s of SIGTERM");
    println!("SHUTDOWN | broker with 4 event streams open | exited after {took:?}");
    // The broker drains for at most `server::DRAIN_TIMEOUT` (5 s).
    assert!(took < Duration::from_secs(7), "{took:?}");
    // And the clients' streams end rather than hang.
    for response in streams {
        let ended = tokio::time::timeout(Duration::from_secs(5), response.bytes()).await;
        assert!(ended.is_ok(), "a client stream still hangs after shutdown");
    }
}
