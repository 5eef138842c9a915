//! Starts the real binary and drives it with rmcp's own client: the behaviour
//! the gateway's end-to-end tests and benchmarks rely on.

use std::{collections::HashMap, process::Stdio, sync::Arc, time::Duration};

use anyhow::{Context, bail, ensure};
use http::{HeaderName, HeaderValue};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
    },
    service::{NotificationContext, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Notify,
};

const PATIENCE: Duration = Duration::from_secs(10);

/// The binary, started on a free port; killed when dropped.
struct Upstream {
    child: Child,
    mcp_url: String,
}

impl Upstream {
    async fn start(args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-test-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            // Quiet unless the caller asks for logs.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning mcp-test-server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        tokio::time::timeout(PATIENCE, BufReader::new(stdout).read_line(&mut line))
            .await
            .context("no listening line in time")??;
        let mcp_url = line
            .trim_end()
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line {line:?}"))?
            .to_owned();
        Ok(Self { child, mcp_url })
    }

    fn url(&self, path: &str) -> String {
        let base = self.mcp_url.trim_end_matches("/mcp");
        format!("{base}{path}")
    }

    async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        Ok(reqwest::get(self.url("/stats")).await?.json().await?)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A client that reports `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct Watcher {
    tools_changed: Arc<Notify>,
}

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        // rmcp's client would otherwise offer 2026-07-28, which has no
        // handshake and no sessions; the gateway speaks the session era.
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcp-test-server-tests", "0"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }
}

async fn connect(
    upstream: &Upstream,
    watcher: Watcher,
) -> anyhow::Result<RunningService<RoleClient, Watcher>> {
    let headers = HashMap::from([
        (
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer upstream-secret"),
        ),
        // Reported back by `whoami` (the end-to-end tests use it to check
        // that the gateway strips what clients send).
        (
            HeaderName::from_static("x-mcp-servername"),
            HeaderValue::from_static("sent-by-client"),
        ),
    ]);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(upstream.mcp_url.as_str())
            .custom_headers(headers),
    );
    Ok(watcher.serve(transport).await?)
}

async fn call_text(
    client: &RunningService<RoleClient, Watcher>,
    tool: &'static str,
    arguments: serde_json::Value,
) -> anyhow::Result<String> {
    let serde_json::Value::Object(arguments) = arguments else {
        bail!("arguments must be an object");
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await?;
    ensure!(result.is_error != Some(true), "{tool} failed: {result:?}");
    let text = result
        .content
        .first()
        .and_then(|content| content.as_text())
        .with_context(|| format!("{tool} returned no text: {result:?}"))?;
    Ok(text.text.clone())
}

async fn tool_names(client: &RunningService<RoleClient, Watcher>) -> anyhow::Result<Vec<String>> {
    let tools = client.list_all_tools().await?;
    Ok(tools
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect())
}

#[tokio::test]
async fn serves_tools_counts_the_handshake_and_announces_the_late_tool() -> anyhow::Result<()> {
    let upstream = Upstream::start(&["--name", "alpha"]).await?;
    let watcher = Watcher::default();
    let client = connect(&upstream, watcher.clone()).await?;

    let server = client.peer_info().context("no server info")?;
    assert_eq!(
        server.server_info.as_ref().map(|info| info.name.as_str()),
        Some("alpha")
    );
    assert_eq!(server.protocol_version, ProtocolVersion::V_2025_11_25);
    assert_eq!(tool_names(&client).await?, ["add", "echo", "whoami"]);

    assert_eq!(
        call_text(&client, "echo", serde_json::json!({"text": "hello"})).await?,
        "hello"
    );
    assert_eq!(
        upstream.stats().await?,
        serde_json::json!({"sessions_initialized": 1, "tool_calls": 1})
    );

    assert_eq!(
        call_text(&client, "add", serde_json::json!({"a": 2, "b": 3.5})).await?,
        "5.5"
    );
    let whoami: serde_json::Value =
        serde_json::from_str(&call_text(&client, "whoami", serde_json::json!({})).await?)?;
    assert_eq!(whoami["server"], "alpha");
    assert_eq!(whoami["authorization"], "Bearer upstream-secret");
    assert_eq!(
        whoami["routingHeaders"],
        serde_json::json!({"x-mcp-servername": "sent-by-client"})
    );
    assert_eq!(whoami["headers"]["x-mcp-servername"], "sent-by-client");
    assert_eq!(whoami["headers"]["authorization"], "Bearer upstream-secret");

    let enabled = reqwest::Client::new()
        .post(upstream.url("/admin/enable-late"))
        .send()
        .await?;
    assert_eq!(enabled.status(), reqwest::StatusCode::NO_CONTENT);
    tokio::time::timeout(PATIENCE, watcher.tools_changed.notified())
        .await
        .context("no notifications/tools/list_changed")?;
    assert_eq!(
        tool_names(&client).await?,
        ["add", "echo", "late", "whoami"]
    );
    assert_eq!(
        call_text(&client, "late", serde_json::json!({})).await?,
        "late"
    );

    client.cancel().await?;
    upstream.stop().await
}

#[tokio::test]
async fn generated_tools_are_listed_and_echo() -> anyhow::Result<()> {
    let upstream = Upstream::start(&["--tools", "100"]).await?;
    let client = connect(&upstream, Watcher::default()).await?;

    let names = tool_names(&client).await?;
    assert_eq!(names.len(), 103, "3 fixed + 100 generated: {names:?}");
    assert!(names.contains(&"tool_0000".to_owned()) && names.contains(&"tool_0099".to_owned()));
    assert_eq!(
        call_text(&client, "tool_0099", serde_json::json!({"text": "gen"})).await?,
        "gen"
    );

    client.cancel().await?;
    upstream.stop().await
}
