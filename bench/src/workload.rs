//! The workloads: what is sent, to which endpoint, with which sessions,
//! and what a right answer is.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, ensure};
use futures::StreamExt;
use serde_json::json;

use crate::client::{McpClient, PROTOCOL_VERSION, call_body};
use crate::systems::{Deployment, System, Target, Upstreams};

/// One workload of the comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Workload {
    /// `tools/call` with a few bytes of arguments on an established session.
    CallSmall,
    /// `tools/call` with 64 KiB of arguments on an established session.
    Call64k,
    /// `tools/list`: 2 upstreams × 100 tools.
    ListTwo,
    /// `tools/list`: 20 upstreams × 100 tools.
    ListTwenty,
    /// `initialize` of a new session.
    OpenSession,
    /// The first `tools/call` of a new session (the upstream-handshake path).
    FirstCall,
    /// `tools/call` spread over many live sessions and connections.
    ManySessions,
    /// `tools/call`, small arguments, to upstreams that answer in SSE.
    CallSse,
}

/// The tool every call workload calls (on `u00`).
pub const TOOL: &str = "tool_0007";
/// Arguments of the small call.
pub const SMALL_TEXT: &str = "hello";
/// Live sessions of [`Workload::ManySessions`] (full run).
pub const MANY_SESSIONS: usize = 1000;

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::CallSmall,
        Workload::CallSse,
        Workload::Call64k,
        Workload::ListTwo,
        Workload::ListTwenty,
        Workload::OpenSession,
        Workload::FirstCall,
        Workload::ManySessions,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Workload::CallSmall => "call-small",
            Workload::Call64k => "call-64k",
            Workload::ListTwo => "list-2x100",
            Workload::ListTwenty => "list-20x100",
            Workload::OpenSession => "open-session",
            Workload::FirstCall => "first-call",
            Workload::ManySessions => "many-sessions",
            Workload::CallSse => "call-sse",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Workload::CallSmall => "`tools/call`, small arguments, established session",
            Workload::Call64k => "`tools/call`, 64 KiB arguments, established session",
            Workload::ListTwo => "`tools/list`, 2 upstreams × 100 tools",
            Workload::ListTwenty => "`tools/list`, 20 upstreams × 100 tools",
            Workload::OpenSession => "`initialize` (a new session)",
            Workload::FirstCall => "first `tools/call` of a new session (upstream handshake path)",
            Workload::ManySessions => "`tools/call` over 1000 live sessions, 256 connections",
            Workload::CallSse => "`tools/call`, small arguments, upstreams answering in SSE",
        }
    }

    pub fn deployment(self) -> Deployment {
        match self {
            Workload::ListTwenty => Deployment::Twenty,
            Workload::CallSse => Deployment::TwoSse,
            _ => Deployment::Two,
        }
    }

    pub fn target(self) -> Target {
        match self {
            Workload::ListTwo | Workload::ListTwenty => Target::List,
            _ => Target::Calls,
        }
    }

    /// Connections of the throughput run.
    pub fn connections(self) -> u32 {
        match self {
            Workload::ManySessions => 256,
            _ => 16,
        }
    }

    /// Whether each request reaches `u00` as one `tools/call`.
    pub fn calls_upstream(self) -> bool {
        matches!(
            self,
            Workload::CallSmall
                | Workload::CallSse
                | Workload::Call64k
                | Workload::FirstCall
                | Workload::ManySessions
        )
    }

    /// The request body, for `system`.
    pub fn body(self, system: &System, upstreams: &Upstreams) -> String {
        let u00 = &upstreams.fleet(system.deployment).servers[0];
        match self {
            Workload::Call64k => call_body(1, &system.tool(u00, TOOL), &large_text()).to_string(),
            Workload::ListTwo | Workload::ListTwenty => {
                json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string()
            }
            Workload::OpenSession => json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": { "name": "mcp-bench", "version": "0" }
                }
            })
            .to_string(),
            Workload::CallSmall
            | Workload::CallSse
            | Workload::FirstCall
            | Workload::ManySessions => {
                call_body(1, &system.tool(u00, TOOL), SMALL_TEXT).to_string()
            }
        }
    }
}

/// 64 KiB of text with multi-byte characters and JSON escapes in it.
pub fn large_text() -> String {
    let pattern = "MCP benchmark payload: é ☃ \"quoted\" back\\slash 0123456789 ";
    let mut text = String::with_capacity(64 * 1024 + pattern.len());
    while text.len() < 64 * 1024 {
        text.push_str(pattern);
    }
    let cut = text.floor_char_boundary(64 * 1024);
    text.truncate(cut);
    text
}

/// Calls `tool` of `server` (index into the fleet) with `text` and checks
/// the echo and who served it.
///
/// # Errors
/// Any difference from what the upstream itself answers.
pub async fn check_call(
    system: &System,
    upstreams: &Upstreams,
    client: &McpClient,
    session: Option<&str>,
    server: usize,
    tool: &str,
    text: &str,
) -> anyhow::Result<()> {
    let server = &upstreams.fleet(system.deployment).servers[server];
    let name = system.tool(server, tool);
    let texts = client.call(session, &name, text).await?;
    let served_by = format!("served-by {} {tool}", server.name);
    ensure!(
        texts.first().map(String::as_str) == Some(text),
        "tools/call {name}: the echo differs from the arguments ({} bytes sent, {} back)",
        text.len(),
        texts.first().map_or(0, String::len)
    );
    ensure!(
        texts.get(1) == Some(&served_by),
        "tools/call {name}: expected \"{served_by}\", got {:?}",
        texts.get(1)
    );
    Ok(())
}

/// A new session on `client`, warmed by one call to `u00` when `warm`.
///
/// # Errors
/// The handshake or the warming call fails.
pub async fn session(
    system: &System,
    upstreams: &Upstreams,
    client: &McpClient,
    warm: bool,
) -> anyhow::Result<Option<String>> {
    let session = client.initialize().await?;
    if warm {
        check_call(
            system,
            upstreams,
            client,
            session.as_deref(),
            0,
            TOOL,
            SMALL_TEXT,
        )
        .await?;
    }
    Ok(session)
}

/// `count` new sessions, `concurrency` at a time; their ids.
///
/// # Errors
/// A session fails, or the system gives no session ids.
pub async fn sessions(
    system: &System,
    upstreams: &Upstreams,
    count: usize,
    warm: bool,
) -> anyhow::Result<Vec<String>> {
    let client = system.client(Target::Calls);
    let results: Vec<anyhow::Result<Option<String>>> = futures::stream::iter(0..count)
        .map(|_| session(system, upstreams, &client, warm))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ids = Vec::with_capacity(count);
    for result in results {
        ids.push(result?.ok_or_else(|| anyhow!("{} gives no session ids", system.kind.label()))?);
    }
    Ok(ids)
}

/// Checks that `workload` gets right answers through `system`.
///
/// # Errors
/// The first wrong answer.
pub async fn check(
    workload: Workload,
    system: &System,
    upstreams: &Upstreams,
) -> anyhow::Result<()> {
    let client = system.client(workload.target());
    match workload {
        Workload::CallSmall | Workload::CallSse | Workload::FirstCall | Workload::ManySessions => {
            let session = session(system, upstreams, &client, false).await?;
            check_call(
                system,
                upstreams,
                &client,
                session.as_deref(),
                0,
                TOOL,
                SMALL_TEXT,
            )
            .await?;
            if system.kind.is_gateway() {
                // Routed by name to the right upstream, not just to the first.
                check_call(
                    system,
                    upstreams,
                    &client,
                    session.as_deref(),
                    1,
                    "tool_0042",
                    "routed",
                )
                .await?;
            }
            Ok(())
        }
        Workload::Call64k => {
            let session = session(system, upstreams, &client, false).await?;
            check_call(
                system,
                upstreams,
                &client,
                session.as_deref(),
                0,
                TOOL,
                &large_text(),
            )
            .await
        }
        Workload::ListTwo | Workload::ListTwenty => {
            let session = client.initialize().await?;
            let listed = client.list(session.as_deref()).await?;
            let expected = system.expected_tools(upstreams);
            let listed_set: BTreeSet<&String> = listed.iter().collect();
            let expected_set: BTreeSet<&String> = expected.iter().collect();
            if listed_set != expected_set || listed.len() != expected.len() {
                let missing = expected_set
                    .difference(&listed_set)
                    .take(3)
                    .collect::<Vec<_>>();
                let extra = listed_set
                    .difference(&expected_set)
                    .take(3)
                    .collect::<Vec<_>>();
                bail!(
                    "tools/list: {} tools, expected {}; missing e.g. {missing:?}, unexpected e.g. {extra:?}",
                    listed.len(),
                    expected.len()
                );
            }
            Ok(())
        }
        Workload::OpenSession => {
            let session = client.initialize().await?;
            ensure!(
                session.is_some() || system.kind == crate::systems::Kind::ContextForge,
                "initialize gave no Mcp-Session-Id"
            );
            Ok(())
        }
    }
}
