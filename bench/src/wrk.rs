//! The load generator: `wrk` (Debian package), pinned to its own CPU, one
//! thread, a Lua script per run. The script prints one `BENCH_JSON` line
//! with the totals and latency percentiles, which is all this reads.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::client::PROTOCOL_VERSION;

/// Where each request's session id comes from.
#[derive(Debug, Clone)]
pub enum Sessions {
    /// Every request carries this one (or none).
    One(Option<String>),
    /// Each request takes the next id of the file; the thread stops when
    /// they are used up (every session's first request).
    EachOnce(PathBuf),
    /// Requests cycle through the ids of the file (many live sessions).
    Cycle(PathBuf),
}

/// One run of the load generator.
#[derive(Debug, Clone)]
pub struct Run {
    pub url: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub sessions: Sessions,
    pub connections: u32,
    pub duration: Duration,
    /// `taskset -c` list for wrk itself.
    pub cpu_list: Option<String>,
}

/// What `done()` reports.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub duration_us: u64,
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub status: u64,
    pub timeout: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub mean_us: f64,
}

impl Totals {
    pub fn rps(&self) -> f64 {
        if self.duration_us == 0 {
            0.0
        } else {
            self.requests as f64 * 1e6 / self.duration_us as f64
        }
    }

    pub fn errors(&self) -> u64 {
        self.connect + self.read + self.write + self.status + self.timeout
    }
}

/// A started wrk: stop it early with [`Running::interrupt`], or wait.
#[derive(Debug)]
pub struct Running {
    child: tokio::process::Child,
    started: Instant,
}

impl Run {
    /// Writes the script into `dir` and starts wrk.
    ///
    /// # Errors
    /// wrk cannot be started.
    pub fn start(&self, wrk: &Path, dir: &Path) -> anyhow::Result<Running> {
        let script = dir.join("wrk-script.lua");
        std::fs::write(&script, self.script()?)?;
        let mut command = match &self.cpu_list {
            Some(list) => {
                let mut command = tokio::process::Command::new("taskset");
                command.arg("-c").arg(list).arg(wrk);
                command
            }
            None => tokio::process::Command::new(wrk),
        };
        command
            .args(["-t", "1", "--latency", "--timeout", "30s"])
            .arg("-c")
            .arg(self.connections.to_string())
            .arg("-d")
            .arg(format!("{}s", self.duration.as_secs().max(1)))
            .arg("-s")
            .arg(&script)
            .arg(&self.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| {
            format!(
                "starting {} (install it: `just setup-bench`)",
                wrk.display()
            )
        })?;
        Ok(Running {
            child,
            started: Instant::now(),
        })
    }

    fn script(&self) -> anyhow::Result<String> {
        if self.body.contains("]==]") {
            bail!("request body cannot be quoted in Lua");
        }
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            (
                "mcp-protocol-version".to_owned(),
                PROTOCOL_VERSION.to_owned(),
            ),
        ];
        headers.extend(self.headers.iter().cloned());
        let mut lua = String::new();
        lua.push_str("wrk.method = \"POST\"\n");
        lua.push_str(&format!("wrk.body = [==[{}]==]\n", self.body));
        for (name, value) in &headers {
            lua.push_str(&format!(
                "wrk.headers[{}] = {}\n",
                lua_string(name),
                lua_string(value)
            ));
        }
        match &self.sessions {
            Sessions::One(Some(id)) => {
                lua.push_str(&format!(
                    "wrk.headers[\"mcp-session-id\"] = {}\n",
                    lua_string(id)
                ));
            }
            Sessions::One(None) => {}
            Sessions::EachOnce(file) | Sessions::Cycle(file) => {
                let once = matches!(self.sessions, Sessions::EachOnce(_));
                lua.push_str(&format!(
                    r#"
local sessions = {{}}
local next_session = 0
local once = {once}
function init(args)
  for line in io.lines({file}) do sessions[#sessions + 1] = line end
end
function request()
  next_session = next_session + 1
  if next_session > #sessions then
    if once then wrk.thread:stop() end
    next_session = 1
  end
  wrk.headers["mcp-session-id"] = sessions[next_session]
  return wrk.format(nil, nil, wrk.headers, wrk.body)
end
"#,
                    file = lua_string(&file.display().to_string()),
                ));
            }
        }
        lua.push_str(
            r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"#,
        );
        Ok(lua)
    }
}

impl Running {
    /// Asks wrk to stop now and report (SIGINT, which it handles).
    pub fn interrupt(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for wrk and reads its report.
    ///
    /// # Errors
    /// wrk failed or printed no report.
    pub async fn finish(self) -> anyhow::Result<Totals> {
        let output = self.child.wait_with_output().await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("BENCH_JSON ")) else {
            bail!(
                "wrk printed no report ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        };
        Ok(serde_json::from_str(line)?)
    }
}

/// A Lua string literal.
fn lua_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
