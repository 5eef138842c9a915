//! IBM ContextForge (`mcp-contextforge-gateway` from PyPI) as a peer: one
//! uvicorn process with a fresh SQLite database, every upstream registered
//! as a federated gateway through its admin API, its `/mcp/` endpoint
//! called with a JWT minted by its own tool.
//!
//! Settings are its defaults except what running offline on loopback
//! needs (the admin UI off, loopback allowed past its SSRF guard, strong
//! development secrets: it refuses weak ones), warnings-only logging, and
//! its rate limiter off (100 MCP requests per minute by default).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use e2e::process::{Proc, free_port};
use serde_json::json;

use crate::client::McpClient;
use crate::fleet::Server;
use crate::procstat::Tree;

const ADMIN_EMAIL: &str = "admin@example.com";
// Benchmark-only secrets for a throwaway loopback instance.
const JWT_SECRET: &str = "bench-only-9f2c7d4e1a6b3c8d5e0f7a2b4c6d8e1f3a5b7c9d";
const ENCRYPTION_SECRET: &str = "bench-only-encryption-4e7a1c9b2d6f3e8a5c0b7d1f";

/// A running ContextForge.
#[derive(Debug)]
pub struct ContextForge {
    pub port: u16,
    pub token: String,
    proc: Proc,
}

impl ContextForge {
    /// Starts `mcpgateway` (the console script of the venv) and registers
    /// `servers`; waits until their tools are listed.
    ///
    /// # Errors
    /// It does not start, refuses a registration, or never lists the tools.
    pub async fn start(
        mcpgateway: &Path,
        servers: &[Server],
        expected_tools: usize,
        dir: &Path,
        cpu_list: Option<&str>,
    ) -> anyhow::Result<ContextForge> {
        anyhow::ensure!(
            mcpgateway.exists(),
            "{} missing: `just setup-contextforge`",
            mcpgateway.display()
        );
        // A fresh database per start: registrations must not carry over.
        let port = free_port();
        let home = dir.join(format!("contextforge-{port}"));
        std::fs::create_dir_all(&home)?;
        let mut command = match cpu_list {
            Some(list) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(list).arg(mcpgateway);
                command
            }
            None => Command::new(mcpgateway),
        };
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(&home);
        environment(&mut command, &home);
        let mut proc = Proc::spawn("contextforge", command, &home.join("contextforge.log"))?;
        proc.wait_for_http(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(180),
        )
        .await?;
        let token = mint_token(mcpgateway, &home)?;
        let forge = ContextForge { port, token, proc };
        forge.register(servers).await?;
        let client = McpClient::new(&forge.mcp_url(), vec![forge.auth_header()]);
        crate::systems::wait_for_tools(&client, expected_tools, Duration::from_secs(120)).await?;
        Ok(forge)
    }

    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp/", self.port)
    }

    pub fn auth_header(&self) -> (String, String) {
        ("authorization".to_owned(), format!("Bearer {}", self.token))
    }

    pub fn tree(&self) -> Tree {
        Tree::new("contextforge", self.proc.pid())
    }

    async fn register(&self, servers: &[Server]) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        for server in servers {
            let response = http
                .post(format!("http://127.0.0.1:{}/gateways", self.port))
                .bearer_auth(&self.token)
                .json(&json!({ "name": server.name, "url": server.url(), "transport": "STREAMABLEHTTP" }))
                .timeout(Duration::from_secs(60))
                .send()
                .await?;
            let status = response.status();
            if !status.is_success() {
                bail!(
                    "registering {} answered {status}: {}",
                    server.name,
                    response.text().await.unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

/// The exposed name of `tool` of `server`: ContextForge joins the gateway
/// slug and the tool's slug with `-` (`u00-tool-0007`).
pub fn tool_name(server: &str, tool: &str) -> String {
    format!("{server}-{}", tool.replace('_', "-"))
}

fn environment(command: &mut Command, home: &Path) {
    let database = home.join("mcp.db");
    command
        .env("ENVIRONMENT", "development")
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .env("AUTH_ENCRYPTION_SECRET", ENCRYPTION_SECRET)
        .env("DATABASE_URL", format!("sqlite:///{}", database.display()))
        .env("MCPGATEWAY_UI_ENABLED", "false")
        .env("MCPGATEWAY_ADMIN_API_ENABLED", "true")
        .env("SSRF_ALLOW_LOCALHOST", "true")
        .env("SSRF_ALLOW_PRIVATE_NETWORKS", "true")
        .env("PLATFORM_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("PLATFORM_ADMIN_PASSWORD", "Bench-Admin-Pass-9x!")
        .env("BASIC_AUTH_PASSWORD", "Bench-Basic-Pass-9x!")
        .env("LOG_LEVEL", "WARNING")
        // On by default at 100 MCP requests per minute per user: a
        // benchmark would only measure the limiter.
        .env("RATE_LIMITING_ENABLED", "false")
        .env("CACHE_TYPE", "memory")
        .env("REDIS_URL", "");
}

/// A JWT for the platform admin, from ContextForge's own token tool.
fn mint_token(mcpgateway: &Path, home: &Path) -> anyhow::Result<String> {
    let python: PathBuf = mcpgateway.with_file_name("python");
    let mut command = Command::new(&python);
    command
        .args([
            "-m",
            "mcpgateway.utils.create_jwt_token",
            "--username",
            ADMIN_EMAIL,
        ])
        .args(["--exp", "10080", "--secret", JWT_SECRET])
        .current_dir(home);
    environment(&mut command, home);
    let output = command
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let token = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with("eyJ"))
        .map(str::to_owned);
    match token {
        Some(token) => Ok(token),
        None => bail!(
            "no token from create_jwt_token: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The installed ContextForge version (`pip show`), for the report.
pub fn version(mcpgateway: &Path) -> Option<String> {
    let output = Command::new(mcpgateway.with_file_name("pip"))
        .args([
            "show",
            "--disable-pip-version-check",
            "mcp-contextforge-gateway",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version: ").map(str::to_owned))
}
