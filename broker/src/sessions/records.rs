//! The session records every broker replica must see alike: the upstream
//! session each gateway session holds on each upstream, ended gateway
//! sessions, and the logging level a client set. In this process's memory
//! (one replica), or in Redis (any number, `sessionStore`).
//!
//! What stays per replica ([`super::SessionStore`]): handshakes in flight
//! (single-flight is local; two replicas racing on one pair both open one,
//! the store keeps the first and the loser closes its own), handshake
//! counters, and the GET-stream listeners (bound to a connection).
//!
//! Gateway session ids are bearer credentials: records are keyed by a
//! 16-byte digest of the id ([`digest`]), never by the id itself.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::memory::MemoryRecords;
use super::redis::RedisRecords;
use crate::upstream::handshake::UpstreamSession;

/// A record store failed (Redis unreachable, or an answer it could not
/// read). The request in flight fails with it; nothing is cached wrongly.
#[derive(Debug, Clone, thiserror::Error)]
#[error("session store: {0}")]
pub struct RecordsError(pub String);

impl From<RecordsError> for mcp_protocol::refusal::Refusal {
    fn from(error: RecordsError) -> Self {
        tracing::warn!(%error, "session store unavailable");
        mcp_protocol::refusal::Refusal::SessionStoreUnavailable { detail: error.0 }
    }
}

/// The outcome of [`Records::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The upstream session the store holds for the pair now.
    pub held: UpstreamSession,
    /// The stale session replaced, to be closed.
    pub replaced: Option<String>,
    /// Our own session, when another replica's was there first: to close.
    pub lost: Option<String>,
}

/// Where the records live.
#[derive(Debug, Clone)]
pub enum Records {
    Memory(MemoryRecords),
    Redis(RedisRecords),
}

impl Default for Records {
    fn default() -> Self {
        Records::Memory(MemoryRecords::default())
    }
}

/// The digest a gateway session's records are keyed by.
pub fn digest(gateway: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&Sha256::digest(gateway.as_bytes())[..16]);
    out
}

impl Records {
    /// The store `config` names.
    ///
    /// # Errors
    /// The Redis URL cannot be read, or is not a Redis URL.
    pub fn from_config(config: &gateway_config::SessionStoreConfig) -> Result<Self, RecordsError> {
        let Some(redis) = &config.redis else {
            return Ok(Records::default());
        };
        let url = redis
            .url
            .resolve()
            .map_err(|e| RecordsError(format!("sessionStore.redis.url: {e}")))?;
        Ok(Records::Redis(RedisRecords::new(&url, &redis.key_prefix)?))
    }

    /// The upstream session of (gateway, server), marked used now (it stays
    /// for another idle period).
    ///
    /// # Errors
    /// The store failed.
    pub async fn get(
        &self,
        gateway: &str,
        server: &str,
        idle: Duration,
    ) -> Result<Option<UpstreamSession>, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.get(gateway, server)),
            Records::Redis(r) => r.get(gateway, server, idle).await,
        }
    }

    /// Stores `session` for (gateway, server) unless the store holds one
    /// already that is not `stale` (then that one stays, and ours is
    /// [`Inserted::lost`]). Atomic across replicas.
    ///
    /// # Errors
    /// The store failed.
    pub async fn insert(
        &self,
        gateway: &str,
        server: &str,
        session: &UpstreamSession,
        stale: Option<&str>,
        idle: Duration,
    ) -> Result<Inserted, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.insert(gateway, server, session, stale)),
            Records::Redis(r) => r.insert(gateway, server, session, stale, idle).await,
        }
    }

    /// Removes every upstream session of `gateway`; returns them,
    /// `(server, session id)`, to be closed.
    ///
    /// # Errors
    /// The store failed.
    pub async fn remove_all(&self, gateway: &str) -> Result<Vec<(String, String)>, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.remove_all(gateway)),
            Records::Redis(r) => r.remove_all(gateway).await,
        }
    }

    /// The upstream sessions `gateway` holds, `(server, session)`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn all_of(
        &self,
        gateway: &str,
    ) -> Result<Vec<(String, UpstreamSession)>, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.all_of(gateway)),
            Records::Redis(r) => r.all_of(gateway).await,
        }
    }

    /// Remembers `gateway` as ended for `remember_for`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn end(&self, gateway: &str, remember_for: Duration) -> Result<(), RecordsError> {
        match self {
            Records::Memory(m) => {
                m.end(gateway, remember_for);
                Ok(())
            }
            Records::Redis(r) => r.end(gateway, remember_for).await,
        }
    }

    /// Whether `gateway` was ended.
    ///
    /// # Errors
    /// The store failed (the caller refuses: an ended session must not
    /// come back because the store is down).
    pub async fn is_ended(&self, gateway: &str) -> Result<bool, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.is_ended(gateway)),
            Records::Redis(r) => r.is_ended(gateway).await,
        }
    }

    /// Records the logging level `gateway`'s client set, for `remember_for`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn set_log_level(
        &self,
        gateway: &str,
        level: &str,
        remember_for: Duration,
    ) -> Result<(), RecordsError> {
        match self {
            Records::Memory(m) => {
                m.set_log_level(gateway, level, remember_for);
                Ok(())
            }
            Records::Redis(r) => r.set_log_level(gateway, level, remember_for).await,
        }
    }

    /// The logging level `gateway`'s client set, if any.
    ///
    /// # Errors
    /// The store failed.
    pub async fn log_level(&self, gateway: &str) -> Result<Option<String>, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.log_level(gateway)),
            Records::Redis(r) => r.log_level(gateway).await,
        }
    }

    /// Drops records past their time and upstream sessions unused for
    /// `idle`; returns the dropped sessions `(server, id)` to be closed.
    /// Redis expires its keys itself (an idle pair is not closed upstream:
    /// the upstream times it out).
    pub fn sweep(&self, idle: Duration) -> Vec<(String, String)> {
        match self {
            Records::Memory(m) => m.sweep(idle),
            Records::Redis(_) => Vec::new(),
        }
    }

    /// Forgets every upstream session on `server`; returns their ids.
    ///
    /// # Errors
    /// The store failed.
    pub async fn forget_server(&self, server: &str) -> Result<Vec<String>, RecordsError> {
        match self {
            Records::Memory(m) => Ok(m.forget_server(server)),
            Records::Redis(r) => r.forget_server(server).await,
        }
    }

    /// Upstream sessions held, and ended sessions remembered, where the
    /// store counts them cheaply (memory; `None` for Redis, whose own
    /// `maxmemory` bounds it).
    pub fn counts(&self) -> Option<(usize, usize)> {
        match self {
            Records::Memory(m) => Some(m.counts()),
            Records::Redis(_) => None,
        }
    }

    /// The store's name, for logs and `/status`.
    pub fn kind(&self) -> &'static str {
        match self {
            Records::Memory(_) => "memory",
            Records::Redis(_) => "redis",
        }
    }
}
