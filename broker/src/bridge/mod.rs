//! The bridge between the eras (MCP 2026-07-28 beside 2025-11-25 and
//! earlier): a call whose client and upstream do not speak the same era
//! reaches the broker (the router sends it there, `x-mcp-servername`
//! naming the upstream) and is carried across here.
//!
//! - A stateless-era client calling a handshake-era upstream
//!   ([`to_handshake`]): the broker holds the upstream session, pooled per
//!   upstream, per identity of the caller and per declared capabilities
//!   (never shared between two identities). A request the upstream sends
//!   during the call (`elicitation/create`, `sampling/createMessage`,
//!   `roots/list`) becomes an `input_required` result; the client's retry
//!   with `inputResponses` answers it, and the call goes on.
//! - A handshake-era client calling a stateless-era upstream
//!   ([`to_modern`]): the broker adds what the upstream requires (the
//!   metadata headers, `params._meta` with the session's version and
//!   capabilities). An `input_required` result becomes requests to the
//!   client on the call's event stream (relay ids, as for any upstream
//!   request); its answers come back here, and the broker retries the call
//!   with them.
//!
//! Both hold a call in flight in this broker's memory ([`Pending`]), so the
//! next round must reach the same replica: a retry's `requestState`, or the
//! answer posted for a relay id, would find nothing on another one (the
//! client gets a clear error and starts over). `requestState` is sealed by
//! the session key (HMAC) and names the caller's identity, the call's
//! method and upstream, and an expiry: forged, replayed for another caller
//! or stale state is refused.

pub mod approval;
mod edit;
pub mod to_handshake;
pub mod to_modern;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use rand::RngCore;
use tokio::sync::mpsc;

/// How long a call waits for its client's next round.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(300);

/// The most calls held between rounds at once.
pub const MAX_PENDING: usize = 10_000;

/// A call held between rounds.
pub enum Pending {
    /// A handshake-era upstream's call for a stateless-era client: the
    /// upstream's answer stream, read up to the request it asked.
    ToHandshake(to_handshake::Held),
    /// A stateless-era upstream's call for a handshake-era client: where
    /// the client's answers go.
    ToModern(mpsc::Sender<(String, String)>),
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pending::ToHandshake(held) => f.debug_tuple("ToHandshake").field(held).finish(),
            Pending::ToModern(_) => f.write_str("ToModern"),
        }
    }
}

struct Entry {
    pending: Pending,
    until: Instant,
}

/// The calls held between rounds, by a random id.
#[derive(Default)]
pub struct Bridge {
    held: Mutex<HashMap<[u8; 16], Entry>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("held", &lock(&self.held).len())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    /// Holds `pending` for [`ROUND_TIMEOUT`]; its id, or `None` when
    /// [`MAX_PENDING`] calls are held already.
    pub fn hold(&self, pending: Pending) -> Option<[u8; 16]> {
        let mut held = lock(&self.held);
        let now = Instant::now();
        held.retain(|_, entry| entry.until > now);
        if held.len() >= MAX_PENDING {
            return None;
        }
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        held.insert(
            id,
            Entry {
                pending,
                until: now + ROUND_TIMEOUT,
            },
        );
        Some(id)
    }

    /// Takes the call held under `id`, if it has not expired.
    pub fn take(&self, id: &[u8; 16]) -> Option<Pending> {
        let entry = lock(&self.held).remove(id)?;
        (entry.until > Instant::now()).then_some(entry.pending)
    }

    /// Where answers to the stateless-era call `id` go, if it is held.
    pub fn answers_to(&self, id: &[u8; 16]) -> Option<mpsc::Sender<(String, String)>> {
        match lock(&self.held).get(id) {
            Some(Entry {
                pending: Pending::ToModern(sender),
                until,
            }) if *until > Instant::now() => Some(sender.clone()),
            _ => None,
        }
    }

    /// Forgets the call `id`.
    pub fn forget(&self, id: &[u8; 16]) {
        lock(&self.held).remove(id);
    }

    /// Number of calls held.
    pub fn held(&self) -> usize {
        lock(&self.held).len()
    }
}

/// Messages of an upstream answer still to read.
pub type Messages = BoxStream<'static, Result<String, crate::upstream::client::ClientError>>;

/// `server` could not be reached or answered badly: `detail` says how.
fn unavailable(server: &str, detail: impl Into<String>) -> mcp_protocol::refusal::Refusal {
    mcp_protocol::refusal::Refusal::UpstreamUnavailable {
        server: server.to_owned(),
        detail: detail.into(),
    }
}

/// Ends a bridged call's stream with `refusal`'s JSON-RPC error, answering
/// the client's request `client_id` (its id as raw JSON). A client that has
/// gone is not an error.
async fn send_refusal(
    events: &mpsc::Sender<String>,
    refusal: &mcp_protocol::refusal::Refusal,
    client_id: String,
) {
    let id = serde_json::value::RawValue::from_string(client_id).ok();
    let reply = refusal.reply(id.as_deref());
    let _ = events
        .send(String::from_utf8_lossy(&reply.body).into_owned())
        .await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}
