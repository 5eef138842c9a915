//! Session records in this process's memory: one broker replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;
use super::records::{Inserted, digest};
use crate::upstream::handshake::UpstreamSession;

/// (gateway session, server)
type Key = (String, String);

#[derive(Debug, Default)]
struct Maps {
    upstream: HashMap<Key, (UpstreamSession, Instant)>,
    ended: HashMap<[u8; 16], Instant>,
    log_levels: HashMap<String, (String, Instant)>,
}

/// The records, shared by the clones of one store.
#[derive(Debug, Clone, Default)]
pub struct MemoryRecords {
    maps: Arc<Mutex<Maps>>,
}

impl MemoryRecords {
    pub fn get(&self, gateway: &str, server: &str) -> Option<UpstreamSession> {
        let mut maps = lock(&self.maps);
        let (session, last_used) = maps
            .upstream
            .get_mut(&(gateway.to_owned(), server.to_owned()))?;
        *last_used = Instant::now();
        Some(session.clone())
    }

    pub fn insert(
        &self,
        gateway: &str,
        server: &str,
        session: &UpstreamSession,
        stale: Option<&str>,
    ) -> Inserted {
        let mut maps = lock(&self.maps);
        let key = (gateway.to_owned(), server.to_owned());
        let current = maps.upstream.get(&key).map(|(s, _)| s.clone());
        if let Some(held) = current.as_ref()
            && (stale.is_none() || held.session_id.as_deref() != stale)
        {
            return Inserted {
                held: held.clone(),
                replaced: None,
                lost: session.session_id.clone(),
            };
        }
        maps.upstream.insert(key, (session.clone(), Instant::now()));
        Inserted {
            held: session.clone(),
            replaced: current.and_then(|s| s.session_id),
            lost: None,
        }
    }

    pub fn remove_all(&self, gateway: &str) -> Vec<(String, String)> {
        let mut removed = Vec::new();
        lock(&self.maps)
            .upstream
            .retain(|(g, server), (session, _)| {
                if g != gateway {
                    return true;
                }
                if let Some(id) = session.session_id.clone() {
                    removed.push((server.clone(), id));
                }
                false
            });
        removed
    }

    pub fn all_of(&self, gateway: &str) -> Vec<(String, UpstreamSession)> {
        lock(&self.maps)
            .upstream
            .iter()
            .filter(|((g, _), _)| g == gateway)
            .map(|((_, server), (session, _))| (server.clone(), session.clone()))
            .collect()
    }

    pub fn end(&self, gateway: &str, remember_for: Duration) {
        let mut maps = lock(&self.maps);
        maps.ended
            .insert(digest(gateway), Instant::now() + remember_for);
        maps.log_levels.remove(gateway);
    }

    pub fn is_ended(&self, gateway: &str) -> bool {
        lock(&self.maps)
            .ended
            .get(&digest(gateway))
            .is_some_and(|until| *until > Instant::now())
    }

    pub fn set_log_level(&self, gateway: &str, level: &str, remember_for: Duration) {
        lock(&self.maps).log_levels.insert(
            gateway.to_owned(),
            (level.to_owned(), Instant::now() + remember_for),
        );
    }

    pub fn log_level(&self, gateway: &str) -> Option<String> {
        lock(&self.maps)
            .log_levels
            .get(gateway)
            .map(|(level, _)| level.clone())
    }

    pub fn sweep(&self, idle: Duration) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut maps = lock(&self.maps);
        maps.log_levels.retain(|_, (_, until)| *until > now);
        maps.ended.retain(|_, until| *until > now);
        let mut expired = Vec::new();
        maps.upstream.retain(|(_, server), (session, last_used)| {
            let keep = now.duration_since(*last_used) < idle;
            if !keep && let Some(id) = session.session_id.clone() {
                expired.push((server.clone(), id));
            }
            keep
        });
        expired
    }

    pub fn forget_server(&self, server: &str) -> Vec<String> {
        let mut ids = Vec::new();
        lock(&self.maps).upstream.retain(|(_, s), (session, _)| {
            if s != server {
                return true;
            }
            ids.extend(session.session_id.clone());
            false
        });
        ids
    }

    pub fn counts(&self) -> (usize, usize) {
        let maps = lock(&self.maps);
        (maps.upstream.len(), maps.ended.len())
    }
}
