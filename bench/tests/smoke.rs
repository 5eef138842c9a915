//! The smoke version of `just bench`, run by `just test`: every workload's
//! request answered correctly through every system (upstream direct, plain
//! Envoy, our gateway, Envoy's native MCP filters, ContextForge), with no
//! load generator and no timing.

use std::path::PathBuf;

use e2e::paths;
use mcp_bench::suite;
use mcp_bench::systems::{Environment, Kind};

/// ContextForge's `mcpgateway`: `MCP_CONTEXTFORGE` when set (`just test`
/// sets it and installs ContextForge first; then it must be there), else
/// the default venv if present.
fn contextforge() -> (Option<PathBuf>, bool) {
    match std::env::var_os("MCP_CONTEXTFORGE") {
        Some(path) => (Some(PathBuf::from(path)), true),
        None => {
            let default = paths::repo_root().join(".venv/contextforge/bin/mcpgateway");
            (default.exists().then_some(default), false)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_answers_correctly_through_every_system() {
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-smoke-")
        .tempdir()
        .expect("temporary directory");
    let (contextforge, required) = contextforge();
    let mut systems = Kind::ALL.to_vec();
    if contextforge.is_none() && !required {
        eprintln!(
            "ContextForge not installed (`just setup-contextforge`): checking the other systems only"
        );
        systems.retain(|&k| k != Kind::ContextForge);
    }
    let env = Environment {
        dir: dir.path().to_owned(),
        server_cpus: None,
        contextforge,
    };
    let failures = suite::smoke(&systems, &env).await.expect("upstreams start");
    assert!(
        failures.is_empty(),
        "wrong answers (logs in {}):\n{}",
        dir.keep().display(),
        failures.join("\n")
    );
}
