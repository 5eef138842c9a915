//! A real `redis-server` (Debian's `redis-server` package) on loopback, for
//! the session-store tests: started on a free port in a directory of its
//! own, restartable on the same port and data, stopped on drop.
//!
//! Persistence is what the gateway's docs recommend for a session store:
//! the append-only file with `appendfsync always`, so a session record a
//! broker wrote survives Redis being killed and started again.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{Proc, ProcError, free_port};

/// A running Redis.
#[derive(Debug)]
pub struct RedisServer {
    proc: Option<Proc>,
    port: u16,
    dir: tempfile::TempDir,
}

/// `redis-server`: `$MCP_REDIS_SERVER`, else from `PATH`.
pub fn program() -> PathBuf {
    std::env::var_os("MCP_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

impl RedisServer {
    /// Starts Redis with an append-only file fsynced on every write.
    ///
    /// # Errors
    /// It cannot be started or does not answer `PING` within 10 s.
    pub async fn start() -> Result<RedisServer, ProcError> {
        let dir = tempfile::tempdir().map_err(|source| ProcError::Spawn {
            name: "redis".to_owned(),
            program: program(),
            source,
        })?;
        let mut server = RedisServer {
            proc: None,
            port: free_port(),
            dir,
        };
        server.launch().await?;
        Ok(server)
    }

    async fn launch(&mut self) -> Result<(), ProcError> {
        let mut command = Command::new(program());
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir"])
            .arg(self.dir.path());
        let log = self.dir.path().join("redis.log");
        let mut proc = Proc::spawn("redis", command, &log)?;
        proc.wait_for_log("Ready to accept connections", Duration::from_secs(10))
            .await?;
        self.proc = Some(proc);
        wait_for_ping(self.port, Duration::from_secs(10)).await;
        Ok(())
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills Redis (SIGKILL: no chance to save) and starts it again on the
    /// same port and data directory.
    ///
    /// # Errors
    /// It does not come back.
    pub async fn restart(&mut self) -> Result<(), ProcError> {
        self.kill();
        self.launch().await
    }

    /// Kills Redis (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.stop();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }
}

/// Until Redis answers `PING` on `port`, or `timeout`.
async fn wait_for_ping(port: u16, timeout: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
            && stream.write_all(b"PING\r\n").await.is_ok()
        {
            let mut answer = [0u8; 7];
            if stream.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
