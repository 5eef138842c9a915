//! Upstream sessions cached in proxy-wasm shared data, and what a cached
//! record lets the router decide without asking the broker.
//!
//! **A fixed table of slots.** Shared data cannot delete keys, so a cache
//! keyed by session would grow with every session the proxy ever saw. The
//! cache is instead `slots` keys (`mcp-router/slot/<n>`), overwritten in
//! place: its memory is bounded by the slot count whatever the traffic.
//! Each (server, gateway session) pair has two candidate slots (two halves
//! of one hash); a lookup reads the first, then the second; a new record
//! goes where the pair already is, else to an empty or outdated slot, else
//! over the first (it is a cache: an evicted pair costs one broker call).
//!
//! **A record decides alone.** It names its pair (so a slot shared by two
//! pairs is never misread), and carries what the broker verified: until
//! when it may be used (the gateway session's expiry, or the revalidation
//! time if sooner), the id of the key that signed the session (a new key
//! ends every session at once), and a hash of the identity that opened the
//! session (another identity is refused). See [`decide`].
//!
//! Values are small text records, one field per line, versioned by the
//! first; anything else reads as empty (a miss).

use std::hash::{DefaultHasher, Hash, Hasher};

use mcp_protocol::identity::Identity;
use router_config::session_api::UpstreamSessionResponse;

use mcp_protocol::refusal::Refusal;

/// Prefix of the slot keys in shared data.
pub const KEY_PREFIX: &str = "mcp-router/slot/";

/// The record format this module reads and writes.
const FORMAT: &str = "2";

/// The shared-data key of slot `index`.
pub fn slot_key(index: u32) -> String {
    // Written by hand: `format!` costs more than the rest of a cache read.
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = index;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut key = String::with_capacity(KEY_PREFIX.len() + digits.len() - at);
    key.push_str(KEY_PREFIX);
    key.extend(digits[at..].iter().map(|&d| char::from(d)));
    key
}

/// The slot count actually used: `configured` rounded up to a power of
/// two, at least 2 and at most 2^20.
pub fn slot_count(configured: u32) -> u32 {
    configured.clamp(2, 1 << 20).next_power_of_two()
}

/// The two candidate slots of a (server, gateway session) pair, among
/// `slots` (a power of two from [`slot_count`]). They always differ.
pub fn candidate_slots(server: &str, gateway_session: &str, slots: u32) -> [u32; 2] {
    let mut hasher = DefaultHasher::new();
    server.hash(&mut hasher);
    gateway_session.hash(&mut hasher);
    let hash = hasher.finish();
    let mask = slots.max(2) - 1;
    let first = (hash as u32) & mask;
    let mut second = ((hash >> 32) as u32) & mask;
    if second == first {
        second = first ^ 1;
    }
    [first, second]
}

/// The hash a record keeps of the identity that opened its session, salted
/// with the signing key's id. SipHash-1-3 (std's `DefaultHasher`): the
/// value stays inside the proxy, so a caller cannot aim at it, and it costs
/// a few instructions per byte on every routed call (a cryptographic
/// digest of a bearer token would cost more than the rest of the routing).
/// The broker checks the binding itself, cryptographically, before any
/// record is written.
pub fn binding_hash(key_id: &str, identity: Identity<'_>) -> u64 {
    let mut hasher = DefaultHasher::new();
    key_id.hash(&mut hasher);
    hasher.write_u8(identity.tag());
    hasher.write(identity.bytes());
    hasher.finish()
}

/// One slot's record: which pair it is for, and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub gateway_session: String,
    pub server: String,
    pub state: RecordState,
}

/// What a record knows of its pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    /// Use this upstream session until `valid_until` (Unix seconds), for a
    /// caller whose [`binding_hash`] is `binding`, while the table's signing
    /// key id is still `key_id`.
    Live {
        valid_until: u64,
        key_id: String,
        binding: u64,
        session: UpstreamSessionResponse,
    },
    /// The upstream no longer knew `session_id`: ask the broker for a new
    /// session, naming this one so it is replaced (and closed) only once.
    Stale { session_id: String },
    /// The gateway session has ended or is unknown to the broker: refuse
    /// without asking until `until` (Unix seconds), then ask again.
    Ended { until: u64 },
}

impl Record {
    /// Decodes a slot's value; `None` for empty, foreign or damaged values.
    pub fn decode(value: &[u8]) -> Option<Record> {
        let (gateway_session, server, fields) = split_pair(value)?;
        Some(Record {
            gateway_session: gateway_session.to_owned(),
            server: server.to_owned(),
            state: decode_state(fields)?,
        })
    }

    /// Decodes a slot's value if it is the record of (server, gateway
    /// session): the pair is compared before anything is copied, as a
    /// lookup of a routed call only needs the state.
    pub fn decode_for(value: &[u8], server: &str, gateway_session: &str) -> Option<RecordState> {
        let (their_session, their_server, fields) = split_pair(value)?;
        if their_session != gateway_session || their_server != server {
            return None;
        }
        decode_state(fields)
    }

    pub fn encode(&self) -> Vec<u8> {
        let head = format!("{FORMAT}\n{}\n{}\n", self.gateway_session, self.server);
        let tail = match &self.state {
            RecordState::Live {
                valid_until,
                key_id,
                binding,
                session,
            } => format!(
                "L\n{valid_until}\n{key_id}\n{binding:x}\n{}\n{}\n{}",
                session.session_id.as_deref().unwrap_or_default(),
                session.protocol_version,
                session.authorization.as_deref().unwrap_or_default()
            ),
            RecordState::Stale { session_id } => format!("S\n{session_id}"),
            RecordState::Ended { until } => format!("E\n{until}"),
        };
        (head + &tail).into_bytes()
    }

    /// Whether this record is for the pair (server, gateway session).
    pub fn is_for(&self, server: &str, gateway_session: &str) -> bool {
        self.server == server && self.gateway_session == gateway_session
    }

    /// Whether the record is of no use any more at `now` (a slot holding it
    /// may be reused before others).
    fn is_outdated(&self, now: u64) -> bool {
        match &self.state {
            RecordState::Live { valid_until, .. } => now >= *valid_until,
            RecordState::Ended { until } => now >= *until,
            RecordState::Stale { .. } => false,
        }
    }
}

/// What the cache says about a routed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Route with this upstream session.
    Hit(UpstreamSessionResponse),
    /// Refuse the call: the session ended, or belongs to someone else.
    Refuse(Refusal),
    /// Ask the broker, naming the upstream session it should replace.
    AskBroker { stale: Option<String> },
}

/// Decides a routed call from its pair's record state (`None`: no record).
///
/// A live record is used only while `now` is before its time and the
/// table's signing key is the one it was verified under; a caller of
/// another identity is refused outright (the broker bound the session to
/// the one that opened it). Anything else asks the broker, which is the
/// authority on sessions.
///
/// Takes the state: a hit hands its session on without copying it.
pub fn decide(state: Option<RecordState>, now: u64, key_id: &str, binding: u64) -> Lookup {
    let Some(state) = state else {
        return Lookup::AskBroker { stale: None };
    };
    match state {
        RecordState::Live {
            valid_until,
            key_id: verified_under,
            binding: bound,
            session,
        } => {
            if verified_under != key_id {
                Lookup::AskBroker { stale: None }
            } else if bound != binding {
                Lookup::Refuse(Refusal::SessionOfAnotherIdentity)
            } else if now >= valid_until {
                Lookup::AskBroker { stale: None }
            } else {
                Lookup::Hit(session)
            }
        }
        RecordState::Stale { session_id } => Lookup::AskBroker {
            stale: Some(session_id),
        },
        RecordState::Ended { until } if now < until => Lookup::Refuse(Refusal::SessionNotFound),
        RecordState::Ended { .. } => Lookup::AskBroker { stale: None },
    }
}

/// Which of the two candidate slots a new record for (server, gateway
/// session) goes to, given what each holds now: the one already holding
/// the pair, else an empty or unreadable one, else one whose record is
/// outdated at `now`, else the first.
pub fn choose_slot(
    current: [Option<&Record>; 2],
    server: &str,
    gateway_session: &str,
    now: u64,
) -> usize {
    let position = |test: &dyn Fn(Option<&Record>) -> bool| current.iter().position(|r| test(*r));
    position(&|r| r.is_some_and(|r| r.is_for(server, gateway_session)))
        .or_else(|| position(&|r| r.is_none()))
        .or_else(|| position(&|r| r.is_some_and(|r| r.is_outdated(now))))
        .unwrap_or(0)
}

/// Whether a broker answer is safe to cache and copy into request headers:
/// visible ASCII session id and version, authorization without control
/// characters.
pub fn is_well_formed(session: &UpstreamSessionResponse) -> bool {
    let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    session
        .session_id
        .as_deref()
        .is_none_or(|id| mcp_protocol::session_id::is_valid(id.as_bytes()))
        && visible(&session.protocol_version)
        && session
            .authorization
            .as_deref()
            .is_none_or(|a| !a.is_empty() && a.bytes().all(|b| b >= 0x20 && b != 0x7f))
}

/// A value's format line checked, its pair, and the fields that follow.
fn split_pair(value: &[u8]) -> Option<(&str, &str, std::str::Split<'_, char>)> {
    let text = std::str::from_utf8(value).ok()?;
    let mut fields = text.split('\n');
    if fields.next()? != FORMAT {
        return None;
    }
    let gateway_session = fields.next()?;
    let server = fields.next()?;
    if gateway_session.is_empty() || server.is_empty() {
        return None;
    }
    Some((gateway_session, server, fields))
}

/// The state fields of a value, all of them (anything after is damage).
fn decode_state(mut fields: std::str::Split<'_, char>) -> Option<RecordState> {
    let state = match fields.next()? {
        "L" => {
            let valid_until = fields.next()?.parse().ok()?;
            let key_id = fields.next()?.to_owned();
            let binding = u64::from_str_radix(fields.next()?, 16).ok()?;
            let session_id = fields.next()?;
            let protocol_version = fields.next()?;
            let authorization = fields.next()?;
            if protocol_version.is_empty() {
                return None;
            }
            RecordState::Live {
                valid_until,
                key_id,
                binding,
                session: UpstreamSessionResponse {
                    session_id: non_empty(session_id),
                    protocol_version: protocol_version.to_owned(),
                    expires_at: valid_until,
                    authorization: non_empty(authorization),
                },
            }
        }
        "S" => RecordState::Stale {
            session_id: fields.next()?.to_owned(),
        },
        "E" => RecordState::Ended {
            until: fields.next()?.parse().ok()?,
        },
        _ => return None,
    };
    fields.next().is_none().then_some(state)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests;
