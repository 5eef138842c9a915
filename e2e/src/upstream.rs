//! One upstream MCP server process of a test stack: which real server it
//! runs, on which port, and its log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::paths;
use crate::process::Proc;
use crate::stack::StackError;

/// Which real MCP server an upstream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// `@modelcontextprotocol/server-everything` (TypeScript SDK), Streamable HTTP.
    Everything,
    /// `mcp-test-server` (Rust SDK, rmcp): echo, add, whoami, late.
    TestServer,
    /// `testdata/upstreams/conformance-server.mjs` (TypeScript SDK): every
    /// server scenario of the official conformance suite.
    Conformance,
    /// `testdata/upstreams/modern_server.py` (Python SDK 2.x): a server of
    /// the stateless era (2026-07-28; the SDK also serves the handshake era).
    Modern,
}

/// One upstream MCP server process.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub kind: UpstreamKind,
    pub prefix: String,
    pub port: u16,
    pub credential: Option<String>,
    /// `era` of its configuration entry (`auto` when absent).
    pub era: Option<String>,
    pub(crate) proc: Option<Proc>,
    pub(crate) log: PathBuf,
}

impl Upstream {
    /// The upstream's MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The test server's own HTTP API (`/stats`, `/admin/...`).
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Starts (or restarts) the process on its port and waits until it listens.
    ///
    /// # Errors
    /// The process cannot start or does not come up.
    pub async fn start(&mut self) -> Result<(), StackError> {
        self.stop();
        let (command, ready) = match self.kind {
            UpstreamKind::Everything => {
                let script = paths::node_peers()
                    .join("@modelcontextprotocol/server-everything/dist/index.js");
                require(&script, "server-everything", "run `just setup` (npm peers)")?;
                let mut command = Command::new("node");
                command
                    .arg(script)
                    .arg("streamableHttp")
                    .env("PORT", self.port.to_string());
                (command, "listening on port")
            }
            UpstreamKind::Conformance => {
                let script = paths::node_peers()
                    .parent()
                    .map(|p| p.join("conformance-server.mjs"))
                    .unwrap_or_default();
                require(
                    &script,
                    "conformance-server.mjs",
                    "the repository is incomplete",
                )?;
                let mut command = Command::new("node");
                command.arg(script).env("PORT", self.port.to_string());
                (command, "listening on port")
            }
            UpstreamKind::Modern => {
                let script = paths::node_peers()
                    .parent()
                    .map(|p| p.join("modern_server.py"))
                    .unwrap_or_default();
                require(&script, "modern_server.py", "the repository is incomplete")?;
                let python = paths::python();
                require(&python, "Python with the mcp SDK", "run `just setup`")?;
                let mut command = Command::new(python);
                command.arg(script).arg(self.port.to_string());
                (command, "listening on port")
            }
            UpstreamKind::TestServer => {
                let binary = paths::test_server();
                require(
                    &binary,
                    "mcp-test-server",
                    "build the workspace (`cargo build`)",
                )?;
                let mut command = Command::new(binary);
                command
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{}", self.port))
                    .arg("--name")
                    .arg(&self.name);
                (command, "listening on")
            }
        };
        // A restart must not find the previous run's ready line.
        let _ = std::fs::remove_file(&self.log);
        let mut proc = Proc::spawn(&self.name, command, &self.log)?;
        proc.wait_for_log(ready, Duration::from_secs(20)).await?;
        self.proc = Some(proc);
        Ok(())
    }

    /// Stops the process (the port is free again).
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.stop();
        }
    }
}

fn require(path: &Path, what: &'static str, hint: &'static str) -> Result<(), StackError> {
    if path.exists() {
        Ok(())
    } else {
        Err(StackError::Missing {
            what,
            path: path.to_owned(),
            hint,
        })
    }
}
