//! Bounded request loops for the fault tests: `clients` concurrent MCP
//! clients, each on a session of its own, sending `tools/call` (and every
//! fourth request a `tools/list`) one after another until told to stop or
//! until `max_requests`, each request with a deadline. Every outcome is
//! recorded, with when it started and ended, so a test can say which
//! requests failed, that they were the ones in flight during the fault,
//! and that none was lost (no answer within the deadline).
//!
//! Clients fail over as a load balancer in front of several gateways
//! would: after a failed request, the next one goes to the next gateway,
//! with the same session (the gateways share their session store).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::RawSession;

/// How long one request may take before it counts as lost.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub client: usize,
    pub gateway: usize,
    pub started: Instant,
    pub finished: Instant,
    /// `Ok(())`: an HTTP 200 with a JSON-RPC result. `Err`: the status and
    /// JSON-RPC error, or the transport failure (`lost` when the deadline
    /// passed).
    pub result: Result<(), Failure>,
}

/// A request that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answered, with an error (HTTP status, JSON-RPC message).
    Refused { status: u16, message: String },
    /// The connection failed before an answer.
    Transport(String),
    /// No answer within [`DEADLINE`].
    Lost,
}

/// Per client: the outcome of each of its requests, as they complete.
type Outcomes = Arc<Mutex<Vec<Vec<Outcome>>>>;

/// A running load.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Outcomes,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a finished load did.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo_echo","arguments":{"text":"load"}}}"#;
const LIST: &[u8] = br#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#;

impl Load {
    /// Opens one session per client on `gateways[client % len]` and starts
    /// the loops.
    ///
    /// # Panics
    /// A session cannot be opened (the test fails before any fault).
    pub async fn start(gateways: &[String], clients: usize, max_requests: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes: Outcomes = Arc::new(Mutex::new(vec![Vec::new(); clients]));
        let mut tasks = Vec::new();
        for client in 0..clients {
            let home = client % gateways.len();
            let mut first = RawSession::new(&gateways[home]);
            let opened = first
                .initialize()
                .await
                .expect("initialize before the fault");
            assert_eq!(opened.status, 200, "{}", opened.message_text());
            let sessions: Vec<RawSession> = gateways
                .iter()
                .map(|url| {
                    let mut session = RawSession::new(url);
                    session.session_id = first.session_id.clone();
                    session
                })
                .collect();
            let (stop, outcomes) = (stop.clone(), outcomes.clone());
            tasks.push(tokio::spawn(async move {
                run(client, home, sessions, max_requests, stop, outcomes).await
            }));
        }
        Load {
            stop,
            outcomes,
            tasks,
        }
    }

    fn outcomes(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Outcome>>> {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests completed so far, by every client.
    pub fn completed(&self) -> usize {
        self.outcomes().iter().map(Vec::len).sum()
    }

    /// Until `more` further requests have completed (bounded by
    /// `timeout`; the load may also have run out).
    pub async fn wait_for(&self, more: usize, timeout: Duration) {
        let target = self.completed() + more;
        let start = Instant::now();
        while self.completed() < target && start.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Until every client has had `successes` in a row, all started after
    /// `since` (bounded by `timeout`); whether they all did.
    pub async fn wait_until_recovered(
        &self,
        since: Instant,
        successes: usize,
        timeout: Duration,
    ) -> bool {
        let start = Instant::now();
        loop {
            let recovered = self.outcomes().iter().all(|requests| {
                requests.len() >= successes
                    && requests[requests.len() - successes..]
                        .iter()
                        .all(|o| o.result.is_ok() && o.started >= since)
            });
            if recovered {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the loops (each finishes its request in flight) and collects
    /// every outcome.
    pub async fn finish(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
        let outcomes =
            std::mem::take(&mut *self.outcomes.lock().unwrap_or_else(|e| e.into_inner()));
        Report {
            outcomes: outcomes.into_iter().flatten().collect(),
        }
    }
}

async fn run(
    client: usize,
    mut gateway: usize,
    sessions: Vec<RawSession>,
    max_requests: usize,
    stop: Arc<AtomicBool>,
    outcomes: Outcomes,
) {
    for index in 0..max_requests {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body = if index % 4 == 3 { LIST } else { CALL };
        let started = Instant::now();
        let result = match tokio::time::timeout(DEADLINE, sessions[gateway].post(body)).await {
            Err(_) => Err(Failure::Lost),
            Ok(Err(error)) if error.is_timeout() => Err(Failure::Lost),
            Ok(Err(error)) => Err(Failure::Transport(error.to_string())),
            Ok(Ok(response)) => {
                let message = response.message();
                if response.status == 200 && message.get("result").is_some() {
                    Ok(())
                } else {
                    Err(Failure::Refused {
                        status: response.status,
                        message: error_message(&message, &response.message_text()),
                    })
                }
            }
        };
        let failed = result.is_err();
        outcomes.lock().unwrap_or_else(|e| e.into_inner())[client].push(Outcome {
            client,
            gateway,
            started,
            finished: Instant::now(),
            result,
        });
        if failed {
            gateway = (gateway + 1) % sessions.len();
        }
    }
}

fn error_message(message: &Value, text: &str) -> String {
    message["error"]["message"]
        .as_str()
        .map_or_else(|| text.chars().take(200).collect(), str::to_owned)
}

impl Report {
    pub fn sent(&self) -> usize {
        self.outcomes.len()
    }

    pub fn failed(&self) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| o.result.is_err()).collect()
    }

    pub fn lost(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.result == Err(Failure::Lost))
            .count()
    }

    /// Failures not in flight during `[from, until]`: ended before the
    /// fault, or started after it was over.
    pub fn failed_outside(&self, from: Instant, until: Instant) -> Vec<&Outcome> {
        self.failed()
            .into_iter()
            .filter(|o| o.finished < from || o.started > until)
            .collect()
    }

    /// Whether each client's last `last` requests succeeded.
    pub fn every_client_recovered(&self, clients: usize, last: usize) -> bool {
        (0..clients).all(|client| {
            let mine: Vec<&Outcome> = self
                .outcomes
                .iter()
                .filter(|o| o.client == client)
                .collect();
            mine.len() >= last && mine[mine.len() - last..].iter().all(|o| o.result.is_ok())
        })
    }

    /// One line for the fault matrix: sent, failed, lost.
    pub fn line(&self, fault: &str) -> String {
        format!(
            "FAULT | {fault} | sent {} | failed {} | lost {}",
            self.sent(),
            self.failed().len(),
            self.lost()
        )
    }
}
