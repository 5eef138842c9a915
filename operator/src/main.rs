//! `mcp-operator` command line: in cluster (service account) or out of
//! cluster (`--kubeconfig`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig};
use mcp_operator::controller::{self, RunConfig};
use mcp_operator::discovery::HttpStatusSource;
use mcp_operator::plan::{FilterApi, Settings};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-operator",
    version,
    about = "The MCP gateway's Kubernetes operator"
)]
struct Cli {
    /// Kubeconfig to use instead of the in-cluster service account (or
    /// $KUBECONFIG, ~/.kube/config).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context; default its current context.
    #[arg(long)]
    context: Option<String>,
    /// The broker image deployed for each MCPGatewayExtension.
    #[arg(long, env = "MCP_BROKER_IMAGE", default_value_t = Settings::default().broker_image)]
    broker_image: String,
    /// The router filter's Wasm module: an `oci://` image or `https://` URL.
    #[arg(long, env = "MCP_ROUTER_URL", default_value_t = Settings::default().router_url)]
    router_url: String,
    /// SHA-256 of the router module (or OCI image digest), when pinned.
    #[arg(long, env = "MCP_ROUTER_SHA256")]
    router_sha256: Option<String>,
    /// Which Istio resource installs the router (see docs/kubernetes.md).
    #[arg(long, env = "MCP_FILTER_API", value_enum, default_value_t = FilterApi::EnvoyFilter)]
    filter_api: FilterApi,
    /// `WasmPlugin.spec.priority` with `--filter-api wasm-plugin`.
    #[arg(long, default_value_t = Settings::default().wasm_priority)]
    wasm_priority: i32,
    /// The cluster's DNS domain.
    #[arg(long, env = "MCP_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// The mesh's trust domain: the gateway's workload principal, the only
    /// caller the broker's policy admits, is `<trust domain>/ns/<ns>/sa/<gateway>-istio`.
    #[arg(long, default_value_t = Settings::default().trust_domain)]
    trust_domain: String,
    /// Seconds between reads of each broker's `/status`.
    #[arg(long, default_value_t = 15)]
    discovery_interval_seconds: u64,
    /// Read every broker's status from this URL instead of its Service
    /// (out of cluster, e.g. through `kubectl port-forward`).
    #[arg(long)]
    broker_status_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }

    let config = match &cli.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let options = KubeConfigOptions {
                context: cli.context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None => kube::Config::infer().await?,
    };
    let client = kube::Client::try_from(config)?;
    let run = RunConfig {
        settings: Settings {
            cluster_domain: cli.cluster_domain,
            broker_image: cli.broker_image,
            router_url: cli.router_url,
            router_sha256: cli.router_sha256,
            filter_api: cli.filter_api,
            wasm_priority: cli.wasm_priority,
            trust_domain: cli.trust_domain,
        },
        discovery_interval: Duration::from_secs(cli.discovery_interval_seconds.max(1)),
        status_source: Arc::new(HttpStatusSource::new(cli.broker_status_url)?),
    };
    controller::run(client, run).await?;
    Ok(())
}
