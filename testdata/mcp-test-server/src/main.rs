//! A real upstream MCP server, built on the official Rust SDK (rmcp) and served
//! over Streamable HTTP, for the gateway's end-to-end tests and benchmarks.
//!
//! Tools: `echo`, `add`, `whoami` (reports the `Authorization` header it got),
//! `--tools N` generated `tool_NNNN`, and `late`, hidden until
//! `POST /admin/enable-late` (which sends `notifications/tools/list_changed`).
//! `GET /stats` counts handshakes and tool calls.
//!
//! On startup it prints one line to stdout, `listening on http://ADDR/mcp`;
//! logs go to stderr.

mod app;
mod catalog;
mod tools;

use axum::serve::ListenerExt;
use std::{io::Write, net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// How long in-flight requests may take to finish once a shutdown signal came.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(version, about = "An upstream MCP server for tests and benchmarks")]
struct Cli {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The `serverInfo.name` this server reports (and `whoami` returns).
    #[arg(long, default_value = "mcp-test-server")]
    name: String,
    /// Number of generated tools `tool_0000`.. to register besides the fixed ones.
    #[arg(long, default_value_t = 0)]
    tools: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();

    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr()?;

    let shutdown = CancellationToken::new();
    let upstream = tools::Upstream::new(cli.name, cli.tools);
    tracing::info!(?upstream, "serving");
    let app = app::app(upstream, &shutdown);

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}/mcp")?;
    stdout.flush()?;
    drop(stdout);

    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let server = axum::serve(
        listener.tap_io(|tcp| {
            // SSE answers go out in several small writes; Nagle's
            // algorithm would hold each for the peer's delayed ACK (~40 ms).
            let _ = tcp.set_nodelay(true);
        }),
        app,
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let drain_deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    tokio::select! {
        served = server => served.context("serving")?,
        () = drain_deadline => {
            tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; exiting anyway");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
