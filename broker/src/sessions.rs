//! Gateway sessions: ended sessions, and the upstream session each gateway
//! session holds on each upstream.
//!
//! Kept in memory: one broker replica. Session ids themselves are signed
//! ([`crate::session_token`]), so any replica can verify them; ended
//! sessions and upstream mappings would need a shared store (Redis) to be
//! seen by other replicas.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::upstream::handshake::UpstreamSession;

type Key = (String, String);

/// The upstream sessions of gateway sessions, and ended gateway sessions.
#[derive(Debug, Default)]
pub struct SessionStore {
    /// (gateway session, server) → the slot its handshake fills once.
    upstream: Mutex<HashMap<Key, Arc<Slot>>>,
    /// Ended gateway sessions, until they would have expired anyway.
    ended: Mutex<HashMap<String, Instant>>,
}

#[derive(Debug)]
struct Slot {
    session: OnceCell<UpstreamSession>,
    created: Instant,
}

impl Slot {
    fn new() -> Arc<Self> {
        Arc::new(Slot {
            session: OnceCell::new(),
            created: Instant::now(),
        })
    }
}

impl SessionStore {
    /// The upstream session of `gateway` on `server`, opening it with
    /// `open` if there is none. Concurrent callers for the same pair share
    /// one `open` (one upstream handshake). With `stale`, a held session
    /// with that id is discarded first; a held session with another id is
    /// returned as is (someone else already replaced it).
    ///
    /// # Errors
    /// The error of `open`; nothing is stored then, so the next call tries
    /// again.
    pub async fn upstream_session<F, Fut, E>(
        &self,
        gateway: &str,
        server: &str,
        stale: Option<&str>,
        open: F,
    ) -> Result<UpstreamSession, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UpstreamSession, E>>,
    {
        let key = (gateway.to_owned(), server.to_owned());
        let slot = {
            let mut map = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
            let slot = map.entry(key).or_insert_with(Slot::new);
            let holds_stale = stale.is_some()
                && slot
                    .session
                    .get()
                    .is_some_and(|held| held.session_id.as_deref() == stale);
            if holds_stale {
                *slot = Slot::new();
            }
            slot.clone()
        };
        slot.session.get_or_try_init(open).await.cloned()
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
                let slot = map.remove(&key)?;
                let id = slot.session.get()?.session_id.clone()?;
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
                let keep = now.duration_since(slot.created) < max_age;
                if !keep && let Some(id) = slot.session.get().and_then(|s| s.session_id.clone()) {
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
                if let Some(id) = slot.session.get().and_then(|s| s.session_id.clone()) {
                    ids.push(id);
                }
                false
            });
        ids
    }

    /// Number of upstream sessions held.
    pub fn upstream_count(&self) -> usize {
        self.upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests;
