//! Session records in Redis, shared by every broker replica
//! (`sessionStore: { redis: … }`), through the `redis` crate's
//! `ConnectionManager` (reconnects by itself after Redis restarts).
//!
//! Keys, `{prefix}` then (`{d}` = hex of [`super::records::digest`]):
//! - `up:{d}`: hash, server → the upstream session (JSON); expires after
//!   the idle timeout, renewed by every use of the gateway session;
//! - `ended:{d}`: exists while the ended session would still be valid;
//! - `log:{d}`: the logging level the client set, for the session's life.
//!
//! The insert is one Lua script (atomic): two replicas racing on one pair
//! end with one upstream session in the store.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::records::{Inserted, RecordsError, digest};
use crate::upstream::handshake::UpstreamSession;

/// How long one Redis command may take before the request fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Sets the pair unless a session other than the stale one is there;
/// returns {1, replaced or ""} when it set ours, {0, held} otherwise.
const INSERT: &str = r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local id = cjson.decode(current)['session_id']
  if ARGV[3] == '' or id ~= ARGV[3] then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return {0, current}
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, current or ''}
"#;

/// A Redis-backed record store.
#[derive(Clone)]
pub struct RedisRecords {
    connection: ConnectionManager,
    prefix: String,
    insert: redis::Script,
}

impl std::fmt::Debug for RedisRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRecords")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn failed(error: impl std::fmt::Display) -> RecordsError {
    RecordsError(format!("redis: {error}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn millis(duration: Duration) -> u64 {
    (duration.as_millis() as u64).max(1)
}

impl RedisRecords {
    /// A store at `url` (`redis://[user:password@]host:port[/db]`, or
    /// `rediss://` for TLS), its keys under `prefix`. Connects on first use
    /// and reconnects after failures; a command waits at most 2 s.
    ///
    /// # Errors
    /// `url` is not a Redis URL.
    pub fn new(url: &str, prefix: &str) -> Result<Self, RecordsError> {
        let client = redis::Client::open(url).map_err(failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(failed)?;
        Ok(RedisRecords {
            connection,
            prefix: prefix.to_owned(),
            insert: redis::Script::new(INSERT),
        })
    }

    fn key(&self, kind: &str, gateway: &str) -> String {
        format!("{}{kind}:{}", self.prefix, hex(&digest(gateway)))
    }

    pub async fn get(
        &self,
        gateway: &str,
        server: &str,
        idle: Duration,
    ) -> Result<Option<UpstreamSession>, RecordsError> {
        let key = self.key("up", gateway);
        let mut connection = self.connection.clone();
        let (value, _): (Option<String>, i64) = redis::pipe()
            .hget(&key, server)
            .pexpire(&key, millis(idle) as i64)
            .query_async(&mut connection)
            .await
            .map_err(failed)?;
        value
            .map(|json| serde_json::from_str(&json).map_err(failed))
            .transpose()
    }

    pub async fn insert(
        &self,
        gateway: &str,
        server: &str,
        session: &UpstreamSession,
        stale: Option<&str>,
        idle: Duration,
    ) -> Result<Inserted, RecordsError> {
        let json = serde_json::to_string(session).map_err(failed)?;
        let mut connection = self.connection.clone();
        let (set, other): (i64, String) = self
            .insert
            .key(self.key("up", gateway))
            .arg(server)
            .arg(&json)
            .arg(stale.unwrap_or_default())
            .arg(millis(idle))
            .invoke_async(&mut connection)
            .await
            .map_err(failed)?;
        let read = |json: &str| serde_json::from_str::<UpstreamSession>(json).map_err(failed);
        if set == 1 {
            let replaced = match other.as_str() {
                "" => None,
                held => read(held)?.session_id,
            };
            Ok(Inserted {
                held: session.clone(),
                replaced,
                lost: None,
            })
        } else {
            Ok(Inserted {
                held: read(&other)?,
                replaced: None,
                lost: session.session_id.clone(),
            })
        }
    }

    pub async fn all_of(
        &self,
        gateway: &str,
    ) -> Result<Vec<(String, UpstreamSession)>, RecordsError> {
        let mut connection = self.connection.clone();
        let held: Vec<(String, String)> = connection
            .hgetall(self.key("up", gateway))
            .await
            .map_err(failed)?;
        held.into_iter()
            .map(|(server, json)| Ok((server, serde_json::from_str(&json).map_err(failed)?)))
            .collect()
    }

    pub async fn remove_all(&self, gateway: &str) -> Result<Vec<(String, String)>, RecordsError> {
        let key = self.key("up", gateway);
        let mut connection = self.connection.clone();
        let (held, _): (Vec<(String, String)>, i64) = redis::pipe()
            .atomic()
            .hgetall(&key)
            .del(&key)
            .query_async(&mut connection)
            .await
            .map_err(failed)?;
        Ok(held
            .into_iter()
            .filter_map(|(server, json)| {
                let session: UpstreamSession = serde_json::from_str(&json).ok()?;
                Some((server, session.session_id?))
            })
            .collect())
    }

    pub async fn end(&self, gateway: &str, remember_for: Duration) -> Result<(), RecordsError> {
        let mut connection = self.connection.clone();
        let _: ((), i64) = redis::pipe()
            .pset_ex(self.key("ended", gateway), 1, millis(remember_for))
            .del(self.key("log", gateway))
            .query_async(&mut connection)
            .await
            .map_err(failed)?;
        Ok(())
    }

    pub async fn is_ended(&self, gateway: &str) -> Result<bool, RecordsError> {
        let mut connection = self.connection.clone();
        connection
            .exists(self.key("ended", gateway))
            .await
            .map_err(failed)
    }

    pub async fn set_log_level(
        &self,
        gateway: &str,
        level: &str,
        remember_for: Duration,
    ) -> Result<(), RecordsError> {
        let mut connection = self.connection.clone();
        connection
            .pset_ex(self.key("log", gateway), level, millis(remember_for))
            .await
            .map_err(failed)
    }

    pub async fn log_level(&self, gateway: &str) -> Result<Option<String>, RecordsError> {
        let mut connection = self.connection.clone();
        connection
            .get(self.key("log", gateway))
            .await
            .map_err(failed)
    }

    /// Every `up:` hash is scanned (a configuration change, rare) and the
    /// server's field taken out of each.
    pub async fn forget_server(&self, server: &str) -> Result<Vec<String>, RecordsError> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}up:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut ids = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(failed)?;
            for key in keys {
                let (json, _): (Option<String>, i64) = redis::pipe()
                    .atomic()
                    .hget(&key, server)
                    .hdel(&key, server)
                    .query_async(&mut connection)
                    .await
                    .map_err(failed)?;
                if let Some(session) =
                    json.and_then(|j| serde_json::from_str::<UpstreamSession>(&j).ok())
                {
                    ids.extend(session.session_id);
                }
            }
            if next == 0 {
                return Ok(ids);
            }
            cursor = next;
        }
    }
}
