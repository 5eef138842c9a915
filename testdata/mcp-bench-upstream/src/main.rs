//! A fast upstream MCP server for benchmarks, so that what is measured is
//! the proxy in front of it, not the server.
//!
//! Streamable HTTP (MCP 2025-06-18 / 2025-11-25) at `/mcp`: `initialize`
//! mints a session id, `tools/list` answers `echo` plus `--tools N`
//! generated `tool_NNNN` from bytes prepared once, `tools/call` echoes
//! `arguments.text` back without re-encoding it and names the server and
//! tool that answered. Replies are JSON, or SSE with `--sse`. `GET /mcp`
//! opens the session's notification stream, `DELETE /mcp` ends a session.
//!
//! One process serves many upstreams: every `--listen` address is its own
//! server, named `{name-prefix}NN` in order (`u00`, `u01`, ...), with its own
//! sessions and tools. Beside `/mcp` each has `GET /stats` (counters) and
//! `POST /admin/tools?add=NAME` (adds an echo tool and sends
//! `notifications/tools/list_changed` on every open stream).
//!
//! On start it prints `listening NAME http://ADDR/mcp` per server, then
//! `ready`, on stdout.

mod catalog;
mod server;

use axum::serve::ListenerExt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(version, about = "A fast upstream MCP server for benchmarks")]
struct Cli {
    /// Address of one server; repeat for several servers in this process.
    #[arg(long, required = true)]
    listen: Vec<SocketAddr>,
    /// Servers are named this prefix plus their two-digit index.
    #[arg(long, default_value = "u")]
    name_prefix: String,
    /// Generated tools per server, `tool_0000`.. (besides `echo`).
    #[arg(long, default_value_t = 100)]
    tools: usize,
    /// Answer POSTs as `text/event-stream` (one event) instead of JSON.
    #[arg(long)]
    sse: bool,
    /// Tokio worker threads shared by all servers.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .context("building the runtime")?
        .block_on(serve(cli))
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let mut servers = tokio::task::JoinSet::new();
    let mut stdout = std::io::stdout().lock();
    for (index, addr) in cli.listen.iter().enumerate() {
        let name = format!("{}{index:02}", cli.name_prefix);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        let upstream = Arc::new(catalog::Upstream::new(name.clone(), cli.tools));
        let app = server::app(upstream, cli.sse);
        writeln!(stdout, "listening {name} http://{local}/mcp")?;
        servers.spawn(async move {
            axum::serve(
                listener.tap_io(|tcp| {
                    // SSE answers go out in several small writes; Nagle's
                    // algorithm would hold each for the peer's delayed ACK (~40 ms).
                    let _ = tcp.set_nodelay(true);
                }),
                app,
            )
            .await
        });
    }
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    tokio::select! {
        finished = servers.join_next() => {
            if let Some(result) = finished {
                result.context("server task")?.context("serving")?;
            }
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
