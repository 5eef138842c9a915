//! One server's state: its tools (and the `tools/list` result prepared
//! from them), its sessions, its counters, its notification channel.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

/// The tools of one server and the JSON of its `tools/list` result.
#[derive(Debug)]
pub struct Tools {
    names: HashSet<String>,
    /// `{"tools":[...]}`, spliced into every `tools/list` reply.
    pub list_result: Bytes,
}

impl Tools {
    fn new(names: Vec<String>) -> Self {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "text": { "type": "string", "description": "The text to send back." } },
            "required": ["text"]
        });
        let tools: Vec<serde_json::Value> = names
            .iter()
            .map(|name| {
                serde_json::json!({
                    "name": name,
                    "description": "Benchmark tool: returns `text` unchanged.",
                    "inputSchema": schema,
                })
            })
            .collect();
        let list_result = serde_json::to_vec(&serde_json::json!({ "tools": tools }))
            .map(Bytes::from)
            .unwrap_or_default();
        Tools {
            names: names.into_iter().collect(),
            list_result,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// What `GET /stats` reports.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub server: String,
    pub initializes: u64,
    pub tool_calls: u64,
    pub tool_lists: u64,
    pub sessions: usize,
    pub tools: usize,
}

/// One upstream server.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    tools: RwLock<Arc<Tools>>,
    sessions: Mutex<HashSet<u64>>,
    next_session: AtomicU64,
    /// Session ids are this server's prefix plus a counter mixed with a
    /// per-process salt: unique, and not guessable across restarts.
    salt: u64,
    pub initializes: AtomicU64,
    pub tool_calls: AtomicU64,
    pub tool_lists: AtomicU64,
    notifications: broadcast::Sender<()>,
}

impl Upstream {
    /// A server with `echo` and `generated` tools `tool_0000`...
    pub fn new(name: String, generated: usize) -> Self {
        let names = std::iter::once("echo".to_owned())
            .chain((0..generated).map(|i| format!("tool_{i:04}")))
            .collect();
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
            .rotate_left(17)
            ^ u64::from(std::process::id());
        Upstream {
            name,
            tools: RwLock::new(Arc::new(Tools::new(names))),
            sessions: Mutex::new(HashSet::new()),
            next_session: AtomicU64::new(1),
            salt,
            initializes: AtomicU64::new(0),
            tool_calls: AtomicU64::new(0),
            tool_lists: AtomicU64::new(0),
            notifications: broadcast::channel(16).0,
        }
    }

    pub fn tools(&self) -> Arc<Tools> {
        self.tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds a tool and tells every open stream that the list changed.
    pub fn add_tool(&self, name: &str) {
        {
            let mut tools = self.tools.write().unwrap_or_else(PoisonError::into_inner);
            if tools.contains(name) {
                return;
            }
            let mut names: Vec<String> = tools.names.iter().cloned().collect();
            names.sort();
            names.push(name.to_owned());
            *tools = Arc::new(Tools::new(names));
        }
        // No receiver is not an error: nobody listens yet.
        let _ = self.notifications.send(());
    }

    pub fn subscribe(&self) -> broadcast::Receiver<()> {
        self.notifications.subscribe()
    }

    /// A new session id.
    pub fn open_session(&self) -> String {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        let key = n ^ self.salt;
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        self.initializes.fetch_add(1, Ordering::Relaxed);
        format!("{}-{key:016x}", self.name)
    }

    fn key(&self, id: &str) -> Option<u64> {
        let hex = id.strip_prefix(&self.name)?.strip_prefix('-')?;
        u64::from_str_radix(hex, 16).ok()
    }

    pub fn has_session(&self, id: &str) -> bool {
        self.key(id).is_some_and(|key| {
            self.sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&key)
        })
    }

    pub fn close_session(&self, id: &str) -> bool {
        self.key(id).is_some_and(|key| {
            self.sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key)
        })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            server: self.name.clone(),
            initializes: self.initializes.load(Ordering::Relaxed),
            tool_calls: self.tool_calls.load(Ordering::Relaxed),
            tool_lists: self.tool_lists.load(Ordering::Relaxed),
            sessions: self
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            tools: self.tools().names.len(),
        }
    }
}
