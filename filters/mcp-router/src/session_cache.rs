//! Upstream sessions as kept in proxy-wasm shared data: one entry per
//! (server, gateway session), shared by every worker's VM.
//!
//! Values are small text records, versioned by their first line:
//! - `1\n<upstream session id>\n<protocol version>\n<authorization>`: a live
//!   session (empty id: the upstream runs without sessions; empty
//!   authorization: none configured);
//! - `0\n<upstream session id>`: the upstream rejected this session; ask
//!   the broker for a new one, naming the stale id;
//! - empty: nothing cached (proxy-wasm shared data cannot delete keys, so
//!   clearing writes an empty value).

use router_config::session_api::UpstreamSessionResponse;

/// The shared-data key of the upstream session of `gateway_session` on
/// `server`. Server names hold no `/` and session ids are visible ASCII, so
/// keys cannot collide.
pub fn key(server: &str, gateway_session: &str) -> String {
    format!("mcp-router/us/{server}/{gateway_session}")
}

/// A decoded cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedSession {
    Live(UpstreamSessionResponse),
    Stale { session_id: String },
}

impl CachedSession {
    /// Decodes a shared-data value; `None` for empty or unreadable values
    /// (treated as a miss).
    pub fn decode(value: &[u8]) -> Option<CachedSession> {
        let text = std::str::from_utf8(value).ok()?;
        let mut fields = text.splitn(4, '\n');
        match fields.next()? {
            "1" => {
                let session_id = fields.next()?;
                let protocol_version = fields.next()?;
                let authorization = fields.next()?;
                if protocol_version.is_empty() {
                    return None;
                }
                Some(CachedSession::Live(UpstreamSessionResponse {
                    session_id: non_empty(session_id),
                    protocol_version: protocol_version.to_owned(),
                    authorization: non_empty(authorization),
                }))
            }
            "0" => Some(CachedSession::Stale {
                session_id: fields.next()?.to_owned(),
            }),
            _ => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            CachedSession::Live(session) => format!(
                "1\n{}\n{}\n{}",
                session.session_id.as_deref().unwrap_or_default(),
                session.protocol_version,
                session.authorization.as_deref().unwrap_or_default()
            )
            .into_bytes(),
            CachedSession::Stale { session_id } => format!("0\n{session_id}").into_bytes(),
        }
    }
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

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: Option<&str>, auth: Option<&str>) -> CachedSession {
        CachedSession::Live(UpstreamSessionResponse {
            session_id: id.map(str::to_owned),
            protocol_version: "2025-06-18".to_owned(),
            authorization: auth.map(str::to_owned),
        })
    }

    #[test]
    fn entries_round_trip() {
        for entry in [
            live(Some("abc"), Some("Bearer x y")),
            live(None, None),
            CachedSession::Stale {
                session_id: "old".to_owned(),
            },
        ] {
            assert_eq!(CachedSession::decode(&entry.encode()), Some(entry));
        }
    }

    #[test]
    fn empty_or_foreign_values_are_misses() {
        assert_eq!(CachedSession::decode(b""), None);
        assert_eq!(CachedSession::decode(b"2\nx"), None);
        assert_eq!(CachedSession::decode(b"1\nid"), None);
        assert_eq!(CachedSession::decode(b"1\nid\n\n"), None);
        assert_eq!(CachedSession::decode(&[0xff, 0xfe]), None);
    }

    #[test]
    fn broker_answers_with_unsafe_header_text_are_refused() {
        let ok = UpstreamSessionResponse {
            session_id: Some("s-1".into()),
            protocol_version: "2025-06-18".into(),
            authorization: Some("Bearer t".into()),
        };
        assert!(is_well_formed(&ok));
        let mut bad = ok.clone();
        bad.session_id = Some("a\nb".into());
        assert!(!is_well_formed(&bad));
        let mut bad = ok.clone();
        bad.authorization = Some("Bearer t\r\nx: y".into());
        assert!(!is_well_formed(&bad));
        let mut bad = ok;
        bad.protocol_version = String::new();
        assert!(!is_well_formed(&bad));
    }
}
