//! Gateway sessions: the upstream session each gateway session holds on
//! each upstream, ended sessions, and the bounds that keep them from
//! growing without end.
//!
//! The records every replica must see alike are in [`records`]: in memory
//! (one broker) or in Redis (any number, `sessionStore`). Session ids
//! themselves are signed ([`crate::session_token`]), so any replica can
//! verify them. What stays per replica is here: handshakes in flight, one
//! per (gateway session, server) however many calls ask at once; their
//! per-minute counters; the GET-stream listeners.
//!
//! Bounds: at most [`StoreLimits::max_upstream_sessions`] upstream sessions
//! in memory (Redis: its `maxmemory`); at most
//! [`StoreLimits::handshakes_per_minute`] handshakes per (gateway session,
//! server) and minute on each replica; an upstream session idle for longer
//! than the idle timeout is dropped ([`SessionStore::sweep`] in memory, the
//! key's expiry in Redis; routed calls keep theirs alive, since the router
//! asks again at least every revalidation period); an ended session is
//! remembered by a 16-byte digest until it would have expired anyway.

pub mod memory;
pub mod records;
pub mod redis;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::mpsc;

use crate::upstream::handshake::UpstreamSession;
use records::{Inserted, Records, RecordsError};

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
#[derive(Debug)]
pub struct SessionStore {
    limits: Mutex<StoreLimits>,
    /// How long an unused upstream session is kept.
    idle: Mutex<Duration>,
    records: Records,
    /// (gateway session, server) → the handshake opening its upstream
    /// session on this replica.
    opening: Mutex<HashMap<Key, (u64, Opening)>>,
    /// Handshakes started per pair in the current minute: (window start,
    /// count).
    handshakes: Mutex<HashMap<Key, (Instant, u32)>>,
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

/// A handshake in flight and the store's answer to it, shared by every
/// caller waiting for it; its outcome, success or failure, reaches all.
type Opening = Shared<BoxFuture<'static, Result<Inserted, SharedError>>>;

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
    /// The shared records could not be read or written.
    #[error(transparent)]
    Records(#[from] RecordsError),
}

/// An upstream session handed out, and upstream sessions to close: the
/// stale one it replaced, or the one this replica opened when another
/// replica's reached the store first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub session: UpstreamSession,
    pub to_close: Vec<String>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for SessionStore {
    /// In memory, default limits, an hour's idle timeout.
    fn default() -> Self {
        SessionStore::new(
            StoreLimits::default(),
            Duration::from_secs(3600),
            Records::default(),
        )
    }
}

impl SessionStore {
    /// An empty store with these limits, its records in `records`.
    pub fn new(limits: StoreLimits, idle: Duration, records: Records) -> Self {
        SessionStore {
            limits: Mutex::new(limits),
            idle: Mutex::new(idle),
            records,
            opening: Mutex::default(),
            handshakes: Mutex::default(),
            listeners: Mutex::default(),
        }
    }

    /// Changes the limits and idle timeout (configuration reload); held
    /// sessions stay.
    pub fn set_limits(&self, limits: StoreLimits, idle: Duration) {
        *lock(&self.limits) = limits;
        *lock(&self.idle) = idle;
    }

    /// Where the records live (`memory` or `redis`).
    pub fn kind(&self) -> &'static str {
        self.records.kind()
    }

    fn idle(&self) -> Duration {
        *lock(&self.idle)
    }

    /// The upstream session of `gateway` on `server`, opening it with
    /// `open` if the store holds none. Concurrent callers on this replica
    /// for the same pair share one `open` (one upstream handshake) and its
    /// outcome: a failure reaches every waiter at once and is not kept, so
    /// the next call tries again. With `stale`, a held session with that id
    /// is replaced and reported in [`Opened::to_close`]; a held session with
    /// another id is returned as is (someone else already replaced it).
    /// When another replica stored one first, it is returned and ours is
    /// in [`Opened::to_close`].
    ///
    /// # Errors
    /// [`StoreError::Handshake`] with the error of the shared `open` (or of
    /// storing its session); [`StoreError::AtCapacity`] or
    /// [`StoreError::TooManyHandshakes`] when a new handshake would break a
    /// limit; [`StoreError::Records`] when the records cannot be read.
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
        let idle = self.idle();
        let held = self.records.get(gateway, server, idle).await?;
        if let Some(session) = &held
            && (stale.is_none() || session.session_id.as_deref() != stale)
        {
            return Ok(Opened {
                session: session.clone(),
                to_close: Vec::new(),
            });
        }
        let key = (gateway.to_owned(), server.to_owned());
        let (id, handshake, ours) = {
            let mut opening = lock(&self.opening);
            match opening.get(&key) {
                Some((id, handshake)) => (*id, handshake.clone(), false),
                None => {
                    let limits = *lock(&self.limits);
                    if held.is_none()
                        && let Some((open_sessions, _)) = self.records.counts()
                        && open_sessions >= limits.max_upstream_sessions
                    {
                        return Err(StoreError::AtCapacity {
                            max: limits.max_upstream_sessions,
                        });
                    }
                    self.count_handshake(&key, limits.handshakes_per_minute)?;
                    let id = next_id();
                    let handshake = self.opening_of(&key, stale, open, idle);
                    opening.insert(key.clone(), (id, handshake.clone()));
                    (id, handshake, true)
                }
            }
        };
        let result = handshake.await;
        {
            let mut opening = lock(&self.opening);
            if matches!(opening.get(&key), Some((current, _)) if *current == id) {
                opening.remove(&key);
            }
        }
        let inserted = result.map_err(StoreError::Handshake)?;
        // Only the caller that started the handshake closes what it left.
        let to_close = if ours {
            inserted.replaced.into_iter().chain(inserted.lost).collect()
        } else {
            Vec::new()
        };
        Ok(Opened {
            session: inserted.held,
            to_close,
        })
    }

    /// The shared future of one handshake: `open`, then the session stored.
    fn opening_of<F, Fut, E>(
        &self,
        key: &Key,
        stale: Option<&str>,
        open: F,
        idle: Duration,
    ) -> Opening
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UpstreamSession, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let records = self.records.clone();
        let (gateway, server) = key.clone();
        let stale = stale.map(str::to_owned);
        let opened = open();
        let handshake = async move {
            let session = opened
                .await
                .map_err(|e| SharedError::from(Box::new(e) as BoxedError))?;
            records
                .insert(&gateway, &server, &session, stale.as_deref(), idle)
                .await
                .map_err(|e| SharedError::from(Box::new(e) as BoxedError))
        };
        // A panicking handshake must not poison the shared future for every
        // later caller of this pair: it becomes an error for its waiters.
        std::panic::AssertUnwindSafe(handshake)
            .catch_unwind()
            .map(|outcome| {
                outcome.unwrap_or_else(|_| {
                    Err(SharedError::from(Box::new(std::io::Error::other(
                        "the upstream handshake panicked",
                    )) as BoxedError))
                })
            })
            .boxed()
            .shared()
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
    ///
    /// # Errors
    /// The records cannot be written (the session is not ended).
    pub async fn end(
        &self,
        gateway: &str,
        remember_for: Duration,
    ) -> Result<Vec<(String, String)>, RecordsError> {
        self.records.end(gateway, remember_for).await?;
        lock(&self.listeners).remove(gateway);
        self.records.remove_all(gateway).await
    }

    /// The upstream sessions `gateway` holds, `(server, session)`.
    ///
    /// # Errors
    /// The records cannot be read.
    pub async fn upstream_sessions_of(
        &self,
        gateway: &str,
    ) -> Result<Vec<(String, UpstreamSession)>, RecordsError> {
        self.records.all_of(gateway).await
    }

    /// Records the logging level `gateway`'s client set, kept for
    /// `remember_for` (the session's remaining lifetime).
    ///
    /// # Errors
    /// The records cannot be written.
    pub async fn set_log_level(
        &self,
        gateway: &str,
        level: &str,
        remember_for: Duration,
    ) -> Result<(), RecordsError> {
        self.records
            .set_log_level(gateway, level, remember_for)
            .await
    }

    /// The logging level `gateway`'s client set, if it set one.
    ///
    /// # Errors
    /// The records cannot be read.
    pub async fn log_level(&self, gateway: &str) -> Result<Option<String>, RecordsError> {
        self.records.log_level(gateway).await
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
    ///
    /// # Errors
    /// The records cannot be read: callers refuse the request, since an
    /// ended session must not come back while the store is down.
    pub async fn is_ended(&self, gateway: &str) -> Result<bool, RecordsError> {
        self.records.is_ended(gateway).await
    }

    /// Drops records past their time, handshake counters of past minutes,
    /// and upstream sessions unused for the idle timeout; returns the
    /// dropped upstream sessions `(server, session id)` to be closed.
    pub fn sweep(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        lock(&self.listeners).retain(|_, sender| !sender.is_closed());
        lock(&self.handshakes)
            .retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        self.records.sweep(self.idle())
    }

    /// Forgets every upstream session on `server` (it was reconfigured or
    /// removed); returns their ids to be closed.
    ///
    /// # Errors
    /// The records cannot be read or written.
    pub async fn forget_server(&self, server: &str) -> Result<Vec<String>, RecordsError> {
        self.records.forget_server(server).await
    }

    /// Upstream sessions held and ended sessions remembered, where the
    /// store counts them (memory; `None` for Redis).
    pub fn counts(&self) -> Option<(usize, usize)> {
        self.records.counts()
    }
}

#[cfg(test)]
mod tests;
