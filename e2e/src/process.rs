//! A child process whose output goes to a log file, stopped on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child process.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

/// A process could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        name: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited before it was ready; log {log}:\n{tail}")]
    Exited {
        name: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} was not ready after {waited:?}; log {log}:\n{tail}")]
    NotReady {
        name: String,
        waited: Duration,
        log: PathBuf,
        tail: String,
    },
}

impl Proc {
    /// Starts `command`, its stdout and stderr appended to `log`.
    ///
    /// # Errors
    /// [`ProcError::Spawn`] when the program cannot be started.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Proc, ProcError> {
        let spawn_error = |source| ProcError::Spawn {
            name: name.to_owned(),
            program: PathBuf::from(command.get_program()),
            source,
        };
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(spawn_error)?;
        let err = out.try_clone().map_err(spawn_error)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| ProcError::Spawn {
                name: name.to_owned(),
                program: PathBuf::from(command.get_program()),
                source,
            })?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits until the log contains `needle`; returns the first line with it.
    ///
    /// # Errors
    /// [`ProcError::Exited`] or [`ProcError::NotReady`], with the log's tail.
    pub async fn wait_for_log(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, ProcError> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Ok(line.to_owned());
            }
            self.check_alive()?;
            if start.elapsed() > timeout {
                return Err(self.not_ready(timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `url` answers 2xx.
    ///
    /// # Errors
    /// [`ProcError::Exited`] or [`ProcError::NotReady`], with the log's tail.
    pub async fn wait_for_http(&mut self, url: &str, timeout: Duration) -> Result<(), ProcError> {
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(response) = client.get(url).timeout(Duration::from_secs(2)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            self.check_alive()?;
            if start.elapsed() > timeout {
                return Err(self.not_ready(timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn check_alive(&mut self) -> Result<(), ProcError> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Err(ProcError::Exited {
                name: self.name.clone(),
                log: self.log.clone(),
                tail: self.log_tail(30),
            });
        }
        Ok(())
    }

    fn not_ready(&self, waited: Duration) -> ProcError {
        ProcError::NotReady {
            name: self.name.clone(),
            waited,
            log: self.log.clone(),
            tail: self.log_tail(30),
        }
    }

    /// Stops the process (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (with `kill`) and waits up to `timeout` for the
    /// process to exit; how long it took, `None` if it is still running.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago on 127.0.0.1, below the kernel's
/// ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`) when it can
/// be: a port from that range can be taken as the source port of any
/// outbound connection (Envoy's, the broker's) between this check and the
/// server's bind, and the server then fails to start. 0 when none is free.
pub fn free_port() -> u16 {
    // The kernel may hand the same ephemeral port to two binds in a row once
    // the first listener is dropped; a test asking for several ports before
    // starting anything would then start two servers on one port. Remember
    // every port handed out by this process and never repeat one.
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bindable = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let below = ephemeral_low().saturating_sub(FIXED_PORTS_FROM);
    if below > 0 {
        // Test binaries run one after another, and tests within one in
        // parallel: start each process at its own place in the range.
        let start = (std::process::id() as u16).wrapping_mul(7919) % below;
        for step in 0..below.min(4096) {
            let port = FIXED_PORTS_FROM + (start + step) % below;
            if !handed_out.contains(&port) && bindable(port) {
                handed_out.push(port);
                return port;
            }
        }
    }
    for _ in 0..64 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .unwrap_or(0);
        if port != 0 && !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
    0
}

/// The lowest port [`free_port`] hands out below the ephemeral range: above
/// the well-known and most registered services' ports.
const FIXED_PORTS_FROM: u16 = 20_000;

/// The first port of the kernel's ephemeral range (Linux's default 32768
/// when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}
