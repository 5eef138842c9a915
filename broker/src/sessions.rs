//! Gateway sessions: ended sessions, and the upstream session each gateway
//! session holds on each upstream, with the bounds that keep them from
//! growing without end.
//!
//! Kept in memory: one broker replica. Session ids themselves are signed
//! ([`crate::session_token`]), so any replica can verify them; ended
//! sessions and upstream mappings would need a shared store (Redis) to be
//! seen by other replicas.
//!
//! Bounds: at most [`StoreLimits::max_upstream_sessions`] upstream sessions
//! in all; at most [`StoreLimits::handshakes_per_minute`] handshakes per
//! (gateway session, server) and minute; an upstream session idle for
//! longer than the idle timeout is dropped by [`SessionStore::sweep`]
//! (routed calls keep theirs alive, since the router asks again at least
//! every revalidation period); an ended session is remembered as a 16-byte
//! digest until it would have expired anyway.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::upstream::handshake::UpstreamSession;

type Key = (String, String);

/// What the store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    pub max_upstream_sessions: usize,
    pub handshakes_per_minute: u32,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_upstream_sessions: 10_000,
            handshakes_per_minute: 6,
        }
    }
}

/// The upstream sessions of gateway sessions, and ended gateway sessions.
#[derive(Debug, Default)]
pub struct SessionStore {
    limits: Mutex<StoreLimits>,
    /// (gateway session, server) → its upstream session, or the handshake
    /// opening it.
    upstream: Mutex<HashMap<Key, Slot>>,
    /// Handshakes started per pair in the current minute: (window start,
    /// count).
    handshakes: Mutex<HashMap<Key, (Instant, u32)>>,
    /// Digests of ended gateway sessions, until they would have expired.
    ended: Mutex<HashMap<[u8; 16], Instant>>,
    /// Per gateway session that asked for one: the logging level its
    /// client set (`logging/setLevel`), applied to upstream sessions
    /// opened later too; kept until the session would expire.
    log_levels: Mutex<HashMap<String, (String, Instant)>>,
    /// Per gateway session with an open GET stream: where the GET streams
    /// of its new upstream sessions go, so it relays them too.
    listeners: Mutex<HashMap<String, mpsc::Sender<Listened>>>,
}

/// The open GET stream of one upstream session: its server, and the data
/// of its events.
pub type Listened = (String, futures::stream::BoxStream<'static, String>);

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

/// Why the store gave no upstream session.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The shared handshake failed.
    #[error("{0}")]
    Handshake(SharedError),
    #[error("the gateway holds {max} upstream sessions, its limit (limits.maxUpstreamSessions)")]
    AtCapacity { max: usize },
    #[error(
        "this gateway session made {per_minute} upstream handshakes with this server in the last minute, its limit (limits.handshakesPerSessionPerMinute)"
    )]
    TooManyHandshakes { per_minute: u32 },
}

/// An upstream session handed out, and the one it replaced (to be closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub session: UpstreamSession,
    pub replaced: Option<String>,
}

enum Slot {
    Opening {
        id: u64,
        handshake: Opening,
    },
    Open {
        session: UpstreamSession,
        last_used: Instant,
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The digest an ended session is remembered by: 16 bytes whatever the id.
fn digest(gateway: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&Sha256::digest(gateway.as_bytes())[..16]);
    out
}

impl SessionStore {
    /// An empty store with these limits.
    pub fn new(limits: StoreLimits) -> Self {
        SessionStore {
            limits: Mutex::new(limits),
            ..SessionStore::default()
        }
    }

    /// Changes the limits (configuration reload); held sessions stay.
    pub fn set_limits(&self, limits: StoreLimits) {
        *lock(&self.limits) = limits;
    }

    /// The upstream session of `gateway` on `server`, opening it with
    /// `open` if there is none. Concurrent callers for the same pair share
    /// one `open` (one upstream handshake) and its outcome: a failure
    /// reaches every waiter at once and is not kept, so the next call tries
    /// again. With `stale`, a held session with that id is discarded first
    /// and reported in [`Opened::replaced`], to be closed; a held session
    /// with another id is returned as is (someone else already replaced it).
    ///
    /// # Errors
    /// [`StoreError::Handshake`] with the error of the shared `open`;
    /// [`StoreError::AtCapacity`] or [`StoreError::TooManyHandshakes`] when
    /// a new handshake would break a limit.
    pub async fn upstream_session<F, Fut, E>(
        &self,
        gateway: &str,
        server: &str,
        stale: Option<&str>,
        open: F,
    ) -> Result<Opened, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UpstreamSession, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let key = (gateway.to_owned(), server.to_owned());
        let limits = *lock(&self.limits);
        let mut replaced = None;
        let (id, handshake) = {
            let mut map = lock(&self.upstream);
            match map.get_mut(&key) {
                Some(Slot::Open { session, last_used })
                    if stale.is_none() || session.session_id.as_deref() != stale =>
                {
                    *last_used = Instant::now();
                    return Ok(Opened {
                        session: session.clone(),
                        replaced: None,
                    });
                }
                Some(Slot::Opening { id, handshake }) => (*id, handshake.clone()),
                held => {
                    if let Some(slot) = held {
                        replaced = slot.session_id();
                    } else {
                        let open_sessions = map.len();
                        if open_sessions >= limits.max_upstream_sessions {
                            return Err(StoreError::AtCapacity {
                                max: limits.max_upstream_sessions,
                            });
                        }
                    }
                    self.count_handshake(&key, limits.handshakes_per_minute)?;
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
        let mut map = lock(&self.upstream);
        // Only the first waiter to get here settles the slot, and only if it
        // still holds this handshake (the session may have ended meanwhile).
        if matches!(map.get(&key), Some(Slot::Opening { id: current, .. }) if *current == id) {
            match &result {
                Ok(session) => {
                    map.insert(
                        key,
                        Slot::Open {
                            session: session.clone(),
                            last_used: Instant::now(),
                        },
                    );
                }
                Err(_) => {
                    map.remove(&key);
                }
            }
        }
        result
            .map(|session| Opened { session, replaced })
            .map_err(StoreError::Handshake)
    }

    /// Counts one handshake of `key` in its current minute.
    fn count_handshake(&self, key: &Key, per_minute: u32) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut handshakes = lock(&self.handshakes);
        let (start, count) = handshakes.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(60) {
            *start = now;
            *count = 0;
        }
        if *count >= per_minute {
            return Err(StoreError::TooManyHandshakes { per_minute });
        }
        *count += 1;
        Ok(())
    }

    /// Ends a gateway session: remembers it as ended for `remember_for` and
    /// returns the upstream sessions it held, `(server, session id)`, to be
    /// closed.
    pub fn end(&self, gateway: &str, remember_for: Duration) -> Vec<(String, String)> {
        lock(&self.ended).insert(digest(gateway), Instant::now() + remember_for);
        lock(&self.log_levels).remove(gateway);
        lock(&self.listeners).remove(gateway);
        let mut map = lock(&self.upstream);
        let keys: Vec<Key> = map.keys().filter(|(g, _)| g == gateway).cloned().collect();
        keys.into_iter()
            .filter_map(|key| {
                let id = map.remove(&key)?.session_id()?;
                Some((key.1, id))
            })
            .collect()
    }

    /// The upstream sessions `gateway` holds, `(server, session)`.
    pub fn upstream_sessions_of(&self, gateway: &str) -> Vec<(String, UpstreamSession)> {
        lock(&self.upstream)
            .iter()
            .filter(|((g, _), _)| g == gateway)
            .filter_map(|((_, server), slot)| match slot {
                Slot::Open { session, .. } => Some((server.clone(), session.clone())),
                Slot::Opening { .. } => None,
            })
            .collect()
    }

    /// Records the logging level `gateway`'s client set, kept for
    /// `remember_for` (the session's remaining lifetime).
    pub fn set_log_level(&self, gateway: &str, level: &str, remember_for: Duration) {
        lock(&self.log_levels).insert(
            gateway.to_owned(),
            (level.to_owned(), Instant::now() + remember_for),
        );
    }

    /// The logging level `gateway`'s client set, if it set one.
    pub fn log_level(&self, gateway: &str) -> Option<String> {
        lock(&self.log_levels)
            .get(gateway)
            .map(|(level, _)| level.clone())
    }

    /// Where the GET streams of upstream sessions `gateway` opens from now
    /// on go: the receiver of the gateway session's own GET stream, which
    /// replaces any earlier one.
    pub fn listen(&self, gateway: &str) -> mpsc::Receiver<Listened> {
        let (sender, receiver) = mpsc::channel(16);
        lock(&self.listeners).insert(gateway.to_owned(), sender);
        receiver
    }

    /// The GET stream listener of `gateway`, while its client listens.
    pub fn listener(&self, gateway: &str) -> Option<mpsc::Sender<Listened>> {
        lock(&self.listeners)
            .get(gateway)
            .filter(|sender| !sender.is_closed())
            .cloned()
    }

    /// Whether a gateway session was ended.
    pub fn is_ended(&self, gateway: &str) -> bool {
        lock(&self.ended)
            .get(&digest(gateway))
            .is_some_and(|until| *until > Instant::now())
    }

    /// Drops ended-session records past their time, handshake counters of
    /// past minutes, and upstream sessions unused for `idle`; returns the
    /// dropped upstream sessions `(server, session id)` to be closed.
    pub fn sweep(&self, idle: Duration) -> Vec<(String, String)> {
        let now = Instant::now();
        lock(&self.listeners).retain(|_, sender| !sender.is_closed());
        lock(&self.log_levels).retain(|_, (_, until)| *until > now);
        lock(&self.ended).retain(|_, until| *until > now);
        lock(&self.handshakes)
            .retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        let mut expired = Vec::new();
        lock(&self.upstream).retain(|(_, server), slot| {
            let Slot::Open { session, last_used } = slot else {
                return true;
            };
            let keep = now.duration_since(*last_used) < idle;
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
        lock(&self.upstream).retain(|(_, s), slot| {
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
        lock(&self.upstream)
            .values()
            .filter(|slot| matches!(slot, Slot::Open { .. }))
            .count()
    }

    /// Number of ended sessions remembered.
    pub fn ended_count(&self) -> usize {
        lock(&self.ended).len()
    }
}

#[cfg(test)]
mod tests;
