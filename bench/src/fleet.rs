//! The upstream MCP servers of a run: `mcp-bench-upstream` processes, each
//! serving several upstreams (one per listening port).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::paths;
use e2e::process::{Proc, free_port};
use serde::Deserialize;

use crate::procstat::Tree;

/// One upstream: a name and its MCP endpoint.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub port: u16,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    pub fn stats_url(&self) -> String {
        format!("http://127.0.0.1:{}/stats", self.port)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The counters of one upstream (`GET /stats`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Stats {
    pub initializes: u64,
    pub tool_calls: u64,
    pub tool_lists: u64,
    pub sessions: u64,
}

/// A running `mcp-bench-upstream` process.
#[derive(Debug)]
pub struct Fleet {
    pub servers: Vec<Server>,
    /// Generated tools per server (each also has `echo`).
    pub tools: usize,
    proc: Proc,
}

/// How a fleet is started.
#[derive(Debug, Clone)]
pub struct FleetSpec<'a> {
    /// Log file name and process label.
    pub label: &'a str,
    /// Servers are named `{prefix}00`, `{prefix}01`, ...
    pub name_prefix: &'a str,
    pub servers: usize,
    pub tools: usize,
    pub sse: bool,
    pub cpu_list: Option<&'a str>,
}

impl Fleet {
    /// Starts the process and waits until every server listens.
    ///
    /// # Errors
    /// The binary is missing or does not come up.
    pub async fn start(spec: &FleetSpec<'_>, dir: &Path) -> anyhow::Result<Fleet> {
        let binary = paths::workspace_binary("mcp-bench-upstream");
        anyhow::ensure!(
            binary.exists(),
            "{} missing: `cargo build -p mcp-bench-upstream` (same profile as mcp-bench)",
            binary.display()
        );
        let servers: Vec<Server> = (0..spec.servers)
            .map(|i| Server {
                name: format!("{}{i:02}", spec.name_prefix),
                port: free_port(),
            })
            .collect();
        let mut command = match spec.cpu_list {
            Some(list) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(list).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        command
            .arg("--name-prefix")
            .arg(spec.name_prefix)
            .arg("--tools")
            .arg(spec.tools.to_string());
        if spec.sse {
            command.arg("--sse");
        }
        for server in &servers {
            command
                .arg("--listen")
                .arg(format!("127.0.0.1:{}", server.port));
        }
        let log = dir.join(format!("{}.log", spec.label));
        let mut proc = Proc::spawn(spec.label, command, &log)?;
        proc.wait_for_log("ready", Duration::from_secs(20)).await?;
        Ok(Fleet {
            servers,
            tools: spec.tools,
            proc,
        })
    }

    pub fn tree(&self) -> Tree {
        Tree::new(&self.proc.name, self.proc.pid())
    }

    /// The counters of server `index`.
    ///
    /// # Errors
    /// The server does not answer.
    pub async fn stats(&self, http: &reqwest::Client, index: usize) -> anyhow::Result<Stats> {
        Ok(http
            .get(self.servers[index].stats_url())
            .send()
            .await?
            .json()
            .await?)
    }

    /// Adds tool `name` to server `index`, which announces it with
    /// `notifications/tools/list_changed`.
    ///
    /// # Errors
    /// The server does not answer.
    pub async fn add_tool(
        &self,
        http: &reqwest::Client,
        index: usize,
        name: &str,
    ) -> anyhow::Result<()> {
        http.post(self.servers[index].admin_url(&format!("/admin/tools?add={name}")))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}
