//! Memory stays flat however many sessions come and go: 10,000 sessions
//! opened, used (one routed call each, so each gets an upstream session and
//! a record in the router's cache) and ended, on real Envoy and the broker.
//! The router's cache is a fixed table of slots in shared data; the broker
//! closes and forgets each ended session's upstream sessions.

use std::time::Duration;

use e2e::client::RawSession;
use e2e::{Stack, UpstreamKind};
use serde_json::{Value, json};

const SESSIONS: usize = 10_000;
const CLIENTS: usize = 16;
const SLOTS: u64 = 1024;

const CALL: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"x"}}}"#;

/// Opens, uses and ends `count` sessions on `clients` concurrent clients.
async fn churn(stack: &Stack, count: usize, clients: usize) {
    let url = stack.gateway_url();
    let per_client = count / clients;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let url = url.clone();
            let http = reqwest::Client::new();
            tokio::spawn(async move {
                for _ in 0..per_client {
                    let mut session = RawSession::with_client(http.clone(), &url);
                    let opened = session.initialize().await.expect("initialize answered");
                    assert_eq!(opened.status, 200);
                    let called = session.post(CALL).await.expect("call answered");
                    assert_eq!(
                        called.status,
                        200,
                        "{}",
                        String::from_utf8_lossy(&called.body)
                    );
                    assert_eq!(session.delete().await.expect("delete answered"), 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no client panics");
    }
}

/// Envoy's heap in use, bytes (admin `/memory`).
async fn envoy_allocated(stack: &Stack) -> u64 {
    let memory: Value = reqwest::get(stack.admin_url("/memory"))
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    memory["allocated"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("allocated bytes")
}

/// A process's resident memory, bytes (Linux `/proc`).
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn ten_thousand_sessions_opened_and_ended_leave_memory_flat() {
    let stack = Stack::builder()
        .upstream("echo", UpstreamKind::TestServer, "echo_")
        .setting(
            "limits",
            json!({ "sessionCacheSlots": SLOTS, "initializePerSecond": 100_000 }),
        )
        .quiet()
        .start()
        .await
        .expect("stack starts");
    // Warm up: every worker's VM, connection pools and slots in use.
    churn(&stack, 2 * SLOTS as usize, CLIENTS).await;
    let envoy_before = envoy_allocated(&stack).await;
    let broker_before = rss(stack.broker_pid());

    churn(&stack, SESSIONS, CLIENTS).await;

    let status = stack.status().await.expect("status");
    assert_eq!(
        status["sessions"]["upstream"], 0,
        "every upstream session was closed"
    );
    let ended = status["sessions"]["ended"].as_u64().unwrap_or_default();
    assert!(ended >= SESSIONS as u64, "{status}");
    // Closing upstream sessions runs in the background: give it a moment
    // before reading memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let envoy_after = envoy_allocated(&stack).await;
    let broker_after = rss(stack.broker_pid());
    let per_session =
        |before: u64, after: u64| after.saturating_sub(before) as f64 / SESSIONS as f64;
    let envoy_growth = per_session(envoy_before, envoy_after);
    let broker_growth = per_session(broker_before, broker_after);
    println!(
        "after {SESSIONS} more sessions: Envoy heap {envoy_before} -> {envoy_after} bytes ({envoy_growth:.1} B/session), broker RSS {broker_before} -> {broker_after} bytes ({broker_growth:.1} B/session), {ended} ended sessions remembered"
    );
    // Before the slot table, each session left about 1 KB in Envoy's shared
    // data for good. Now the cache's slots are all in use after warm-up and
    // only overwritten; what remains is allocator noise.
    assert!(
        envoy_growth < 100.0,
        "Envoy grew {envoy_growth:.1} bytes per session"
    );
    // The broker keeps a 16-byte digest per ended session until it would
    // have expired (plus map overhead); nothing per upstream session.
    assert!(
        broker_growth < 1024.0,
        "the broker grew {broker_growth:.1} bytes per session"
    );
}
