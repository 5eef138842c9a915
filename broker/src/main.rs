//! `mcp-broker` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Parser)]
#[command(name = "mcp-broker", version, about = "The MCP gateway's broker")]
struct Cli {
    /// Gateway configuration file (YAML).
    #[arg(
        long,
        short,
        env = "MCP_GATEWAY_CONFIG",
        default_value = "gateway.yaml"
    )]
    config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker (the default).
    Run,
    /// Check the configuration file and exit.
    Check,
    /// Print the local Envoy's bootstrap for this configuration.
    EnvoyBootstrap {
        /// Write it to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Traces are set up from the file as it is at start (a reload does not
    // change where they go); a file that does not load fails below, with
    // its error, as it always did.
    let tracing_config = matches!(cli.command, None | Some(Command::Run))
        .then(|| mcp_broker::config::GatewayConfig::load(&cli.config).ok())
        .flatten()
        .and_then(|config| config.tracing);
    let (provider, otel) = match &tracing_config {
        Some(config) => {
            let (provider, layer) = mcp_broker::telemetry::layer(config)?;
            (Some(provider), Some(layer))
        }
        None => (None, None),
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match cli.log_format {
        LogFormat::Text => registry.with(fmt).init(),
        LogFormat::Json => registry.with(fmt.json()).init(),
    }
    let outcome = run(cli).await;
    if let Some(provider) = &provider {
        mcp_broker::telemetry::shutdown(provider);
    }
    outcome
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let shutdown = CancellationToken::new();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                signal.cancel();
            });
            mcp_broker::run(cli.config.clone(), shutdown)
                .await
                .with_context(|| format!("broker with {}", cli.config.display()))
        }
        Command::Check => {
            let config = mcp_broker::config::GatewayConfig::load(&cli.config)?;
            mcp_broker::supervisor::resolve(config.clone(), None)?;
            println!(
                "{}: ok ({} servers)",
                cli.config.display(),
                config.servers.len()
            );
            Ok(())
        }
        Command::EnvoyBootstrap { output } => {
            let config = mcp_broker::config::GatewayConfig::load(&cli.config)?;
            let bootstrap = mcp_broker::envoy::render_bootstrap(&config)?;
            match output {
                Some(path) => std::fs::write(&path, bootstrap)
                    .with_context(|| format!("writing {}", path.display())),
                None => {
                    print!("{bootstrap}");
                    Ok(())
                }
            }
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
