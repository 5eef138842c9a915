//! What the router does with the response to a request it handled: the
//! upstream's answer to a routed call, or the broker's to a `DELETE`.
//! Pure functions; the glue reads the status and applies the verdict.

use router_config::session_api::UpstreamSessionResponse;

use crate::session_cache;

/// The verdict on the response headers of a routed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutedVerdict {
    /// Pass it on; when the upstream sent its own `Mcp-Session-Id`, replace
    /// it with the gateway's (the client only ever sees its gateway id).
    Pass { rewrite_session_id: bool },
    /// A `400` to a call that carried an upstream session: it may mean
    /// "unknown session" (what the TypeScript SDK's example servers answer)
    /// or a request the upstream rejects. Hold the response, read at most
    /// [`MAX_CLASSIFIED_BODY`] bytes of it, and ask [`says_session_unknown`].
    ReadBody,
    /// The upstream no longer knows the session it was sent (`404`, the MCP
    /// rule, "Transports › Session Management"): reset it and answer the
    /// client with a JSON-RPC error asking for a retry.
    SessionLost,
    /// Envoy could not reach the upstream, or it did not answer in time
    /// (`502`-`504`): answer with a JSON-RPC error, since several SDKs drop
    /// the whole connection on a non-2xx status.
    Unreachable,
}

/// The most of a `400` body the router reads to classify it.
pub const MAX_CLASSIFIED_BODY: usize = 4096;

/// Judges the response headers of a routed call: `status`, whether the
/// call carried an upstream session, and whether the response names one.
pub fn on_routed_headers(status: u32, sent_session: bool, has_session_id: bool) -> RoutedVerdict {
    match status {
        404 if sent_session => RoutedVerdict::SessionLost,
        400 if sent_session => RoutedVerdict::ReadBody,
        502..=504 => RoutedVerdict::Unreachable,
        _ => RoutedVerdict::Pass {
            rewrite_session_id: has_session_id,
        },
    }
}

/// The verdict on the response headers of a first call the broker
/// forwarded (`router_config::session_api`, "The first call").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstCallVerdict {
    /// The upstream's answer, with the session the broker opened: cache
    /// it, then judge the response as any routed call's.
    Opened(UpstreamSessionResponse),
    /// The broker's refusal `404`: the gateway session is unknown or has
    /// ended. Remember that (refuse further calls without asking for a
    /// while) and pass the refusal on.
    SessionEnded,
    /// Envoy could not reach the broker (`502`-`504` without a record):
    /// answer with a JSON-RPC error.
    BrokerUnreachable,
    /// Pass the response on as it is and cache nothing: a refusal the broker
    /// made itself (a JSON-RPC error), or an answer whose record is
    /// unreadable (`unreadable_record`: worth a log line; the next call
    /// asks again).
    Pass { unreadable_record: bool },
}

/// Judges a forwarded first call's response: its `status` and the value of
/// its `x-mcp-upstream-session` header, if any. A record is used only if it
/// is well formed ([`session_cache::is_well_formed`]): its values become
/// request headers of later calls.
pub fn on_first_call_headers(status: u32, record: Option<&[u8]>) -> FirstCallVerdict {
    match record {
        Some(value) => match serde_json::from_slice::<UpstreamSessionResponse>(value) {
            Ok(session) if session_cache::is_well_formed(&session) => {
                FirstCallVerdict::Opened(session)
            }
            _ => FirstCallVerdict::Pass {
                unreadable_record: true,
            },
        },
        None => match status {
            404 => FirstCallVerdict::SessionEnded,
            502..=504 => FirstCallVerdict::BrokerUnreachable,
            _ => FirstCallVerdict::Pass {
                unreadable_record: false,
            },
        },
    }
}

/// Whether a `400` body says the upstream does not know the session, as
/// widespread servers word it ("Bad Request: No valid session ID provided",
/// "Session not found", "Server not initialized"): then the session is
/// lost. Any other `400` is the upstream's verdict on the request itself
/// and reaches the client unchanged, without touching the session (a client
/// must not be able to force a new upstream handshake per request).
pub fn says_session_unknown(body: &[u8]) -> bool {
    let body = &body[..body.len().min(MAX_CLASSIFIED_BODY)];
    contains_ignore_case(body, b"session") || contains_ignore_case(body, b"not initialized")
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Whether the broker's response to a request the router passed it ends a
/// gateway session: a `DELETE` it answered with a success. The router then
/// marks the session's cached records ended.
pub fn ends_session(method: &str, status: u32) -> bool {
    method.eq_ignore_ascii_case("DELETE") && (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn only_a_404_or_a_400_saying_so_loses_a_session() {
        assert_eq!(
            on_routed_headers(404, true, false),
            RoutedVerdict::SessionLost
        );
        assert_eq!(on_routed_headers(400, true, false), RoutedVerdict::ReadBody);
        assert_eq!(
            on_routed_headers(404, false, false),
            RoutedVerdict::Pass {
                rewrite_session_id: false
            }
        );
        assert_eq!(
            on_routed_headers(200, true, true),
            RoutedVerdict::Pass {
                rewrite_session_id: true
            }
        );
        assert_eq!(
            on_routed_headers(500, true, false),
            RoutedVerdict::Pass {
                rewrite_session_id: false
            }
        );
        for status in [502, 503, 504] {
            assert_eq!(
                on_routed_headers(status, true, false),
                RoutedVerdict::Unreachable
            );
        }
    }

    #[test]
    fn a_first_calls_record_is_used_only_when_well_formed() {
        let record = br#"{"sessionId":"up-1","protocolVersion":"2025-06-18","expiresAt":99}"#;
        assert_eq!(
            on_first_call_headers(200, Some(record)),
            FirstCallVerdict::Opened(UpstreamSessionResponse {
                session_id: Some("up-1".to_owned()),
                protocol_version: "2025-06-18".to_owned(),
                expires_at: 99,
                authorization: None,
            })
        );
        // The upstream's own status does not matter: the record came with
        // its answer, which is judged as a routed call's next.
        assert!(matches!(
            on_first_call_headers(404, Some(record)),
            FirstCallVerdict::Opened(_)
        ));
        for bad in [
            &b"{not json"[..],
            br#"{"sessionId":"a\r\nx-evil: 1","protocolVersion":"2025-06-18"}"#,
            br#"{"protocolVersion":""}"#,
        ] {
            assert_eq!(
                on_first_call_headers(200, Some(bad)),
                FirstCallVerdict::Pass {
                    unreadable_record: true
                },
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn without_a_record_the_response_is_the_brokers() {
        assert_eq!(
            on_first_call_headers(404, None),
            FirstCallVerdict::SessionEnded
        );
        for status in [502, 503, 504] {
            assert_eq!(
                on_first_call_headers(status, None),
                FirstCallVerdict::BrokerUnreachable
            );
        }
        for status in [200, 403, 429, 401] {
            assert_eq!(
                on_first_call_headers(status, None),
                FirstCallVerdict::Pass {
                    unreadable_record: false
                }
            );
        }
    }

    #[test]
    fn the_400_body_decides_whether_the_session_was_unknown() {
        for body in [
            &br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#[..],
            b"Session not found",
            br#"{"error":{"message":"Bad Request: Server not initialized"}}"#,
        ] {
            assert!(says_session_unknown(body), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: id must be an integer"},"id":null}"#[..],
            b"",
            b"\xff\xfe",
        ] {
            assert!(!says_session_unknown(body), "{}", String::from_utf8_lossy(body));
        }
        // Only the first bytes are read.
        let mut long = vec![b' '; MAX_CLASSIFIED_BODY];
        long.extend_from_slice(b"session");
        assert!(!says_session_unknown(&long));
    }

    #[test]
    fn a_successful_delete_ends_the_session() {
        assert!(ends_session("DELETE", 200));
        assert!(ends_session("delete", 204));
        assert!(!ends_session("DELETE", 404));
        assert!(!ends_session("GET", 200));
    }
}
