//! Gateway sessions: ended sessions, and the upstream session each gateway
//! session holds on each upstream.
//!
//! Kept in memory: one broker replica. Session ids themselves are signed
//! ([`crate::session_token`]), so any replica can verify them; ended
//! sessions and upstream mappings would need a shared store (Redis) to be
//! seen by other replicas.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::upstream::handshake::UpstreamSession;

type Key = (String, String);

/// The upstream sessions of gateway sessions, and ended gateway sessions.
#[derive(Debug, Default)]
pub struct SessionStore {
    /// (gateway session, server) → its upstream session, or the handshake
    /// opening it.
    upstream: Mutex<HashMap<Key, Slot>>,
    /// Ended gateway sessions, until they would have expired anyway.
    ended: Mutex<HashMap<String, Instant>>,
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A handshake in flight, shared by every caller waiting for it; its
/// outcome, success or failure, reaches all of them.
type Opening = Shared<BoxFuture<'static, Result<UpstreamSession, SharedError>>>;

/// A handshake error, cloneable so that every waiter gets it.
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync>;

type BoxedError = Box<dyn std::error::Error + Send + Sync>;

enum Slot {
    Opening {
        id: u64,
        handshake: Opening,
    },
    Open {
        session: UpstreamSession,
        created: Instant,
    },
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Opening { id, .. } => f.debug_struct("Opening").field("id", id).finish(),
            Slot::Open { session, .. } => f.debug_struct("Open").field("session", session).finish(),
        }
    }
}

impl Slot {
    fn session_id(&self) -> Option<String> {
        match self {
            Slot::Open { session, .. } => session.session_id.clone(),
            Slot::Opening { .. } => None,
        }
    }
}

impl SessionStore {
    /// The upstream session of `gateway` on `server`, opening it with
    /// `open` if there is none. Concurrent callers for the same pair share
    /// one `open` (one upstream handshake) and its outcome: a failure
    /// reaches every waiter at once and is not kept, so the next call tries
    /// again. With `stale`, a held session with that id is discarded first;
    /// a held session with another id is returned as is (someone else
    /// already replaced it).
    ///
    /// # Errors
    /// The error of the shared `open`.
    pub async fn upstream_session<F, Fut, E>(
        &self,
        gateway: &str,
        server: &str,
        stale: Option<&str>,
        open: F,
    ) -> Result<UpstreamSession, SharedError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UpstreamSession, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let key = (gateway.to_owned(), server.to_owned());
        let (id, handshake) = {
            let mut map = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&key) {
                Some(Slot::Open { session, .. })
                    if stale.is_none() || session.session_id.as_deref() != stale =>
                {
                    return Ok(session.clone());
                }
                Some(Slot::Opening { id, handshake }) => (*id, handshake.clone()),
                _ => {
                    let id = next_id();
                    let handshake = std::panic::AssertUnwindSafe(open())
                        .catch_unwind()
                        .map(|outcome| match outcome {
                            Ok(result) => {
                                result.map_err(|e| SharedError::from(Box::new(e) as BoxedError))
                            }
                            // A panicking handshake must not poison the shared
                            // future for every later caller of this pair.
                            Err(_) => Err(SharedError::from(Box::new(std::io::Error::other(
                                "the upstream handshake panicked",
                            ))
                                as BoxedError)),
                        })
                        .boxed()
                        .shared();
                    map.insert(
                        key.clone(),
                        Slot::Opening {
                            id,
                            handshake: handshake.clone(),
                        },
                    );
                    (id, handshake)
                }
            }
        };
        let result = handshake.await;
        let mut map = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
        // Only the first waiter to get here settles the slot, and only if it
        // still holds this handshake (the session may have ended meanwhile).
        if matches!(map.get(&key), Some(Slot::Opening { id: current, .. }) if *current == id) {
            match &result {
                Ok(session) => {
                    map.insert(
                        key,
                        Slot::Open {
                            session: session.clone(),
                            created: Instant::now(),
                        },
                    );
                }
                Err(_) => {
                    map.remove(&key);
                }
            }
        }
        result
    }

    /// Ends a gateway session: remembers it as ended and returns the
    /// upstream sessions it held, `(server, session id)`, to be closed.
    pub fn end(&self, gateway: &str, remember_for: Duration) -> Vec<(String, String)> {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(gateway.to_owned(), Instant::now() + remember_for);
        let mut map = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<Key> = map.keys().filter(|(g, _)| g == gateway).cloned().collect();
        keys.into_iter()
            .filter_map(|key| {
                let id = map.remove(&key)?.session_id()?;
                Some((key.1, id))
            })
            .collect()
    }

    /// Whether a gateway session was ended.
    pub fn is_ended(&self, gateway: &str) -> bool {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(gateway)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Drops ended-session records past their time and upstream sessions
    /// older than `max_age`; returns the dropped upstream sessions
    /// `(server, session id)` to be closed.
    pub fn sweep(&self, max_age: Duration) -> Vec<(String, String)> {
        let now = Instant::now();
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
        let mut expired = Vec::new();
        self.upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, server), slot| {
                let Slot::Open { session, created } = slot else {
                    return true;
                };
                let keep = now.duration_since(*created) < max_age;
                if !keep && let Some(id) = session.session_id.clone() {
                    expired.push((server.clone(), id));
                }
                keep
            });
        expired
    }

    /// Forgets every upstream session on `server` (it was reconfigured or
    /// removed); returns their ids to be closed.
    pub fn forget_server(&self, server: &str) -> Vec<String> {
        let mut ids = Vec::new();
        self.upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, s), slot| {
                if s != server {
                    return true;
                }
                if let Some(id) = slot.session_id() {
                    ids.push(id);
                }
                false
            });
        ids
    }

    /// Number of upstream sessions held (handshakes still under way, or
    /// failed and awaiting a retry, are not sessions).
    pub fn upstream_count(&self) -> usize {
        self.upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|slot| matches!(slot, Slot::Open { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests;
