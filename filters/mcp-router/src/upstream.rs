//! The router's side of upstream sessions: reading the broker's session API
//! answers and judging upstream responses. Pure functions.

use router_config::session_api::{UpstreamSessionRequest, UpstreamSessionResponse};

use crate::rejection::Rejection;
use crate::session_cache;

/// The body of a session API call for `server`.
pub fn session_request_body(server: &str, stale_session_id: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&UpstreamSessionRequest {
        server: server.to_owned(),
        stale_session_id: stale_session_id.map(str::to_owned),
    })
    .unwrap_or_default()
}

/// Reads the broker's answer to a session API call. `status` is `None` when
/// the call failed without a response (timeout, broker unreachable).
///
/// # Errors
/// The [`Rejection`] to answer the client with: the broker's 404 means the
/// gateway session is unknown ([`Rejection::SessionNotFound`]); anything else
/// that is not a well-formed 200 makes the upstream unavailable, with the
/// broker's JSON-RPC error message as detail when it gave one.
pub fn read_session_response(
    server: &str,
    status: Option<u32>,
    body: &[u8],
) -> Result<UpstreamSessionResponse, Rejection> {
    let unavailable = |detail: String| Rejection::UpstreamUnavailable {
        server: server.to_owned(),
        detail,
    };
    match status {
        None => Err(unavailable(
            "the gateway broker did not answer (timeout or connection failure)".to_owned(),
        )),
        Some(200) => match serde_json::from_slice::<UpstreamSessionResponse>(body) {
            Ok(session) if session_cache::is_well_formed(&session) => Ok(session),
            _ => Err(unavailable(
                "the gateway broker sent an unreadable session".to_owned(),
            )),
        },
        Some(404) => Err(Rejection::SessionNotFound),
        Some(status) => Err(unavailable(
            broker_error_message(body)
                .unwrap_or_else(|| format!("the gateway broker answered HTTP {status}")),
        )),
    }
}

fn broker_error_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorResponse {
        error: ErrorObject,
    }
    #[derive(serde::Deserialize)]
    struct ErrorObject {
        message: String,
    }
    let message = serde_json::from_slice::<ErrorResponse>(body)
        .ok()?
        .error
        .message;
    // Keep the local reply small whatever the broker wrote.
    Some(message.chars().take(512).collect())
}

/// Whether an upstream's HTTP status to a routed call means it no longer
/// knows the session the router sent. 404 is what MCP prescribes ("Session
/// Management"); 400 is what widespread servers answer for an unknown
/// session (the TypeScript SDK's example apps, server-everything). Treating
/// 400 alike costs at most one extra upstream handshake per such response.
pub fn is_session_lost(status: u32, sent_session: bool) -> bool {
    sent_session && matches!(status, 400 | 404)
}

/// Whether a routed call's response status means the upstream could not
/// be reached or did not answer: Envoy's own 502/503/504 (connection
/// failure, reset, timeout) or the same from the upstream. The router turns
/// these into a JSON-RPC error, since several MCP SDKs drop the whole
/// connection on a non-2xx status.
pub fn is_unreachable(status: u32) -> bool {
    matches!(status, 502..=504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_200_is_a_session() {
        let session = read_session_response(
            "w",
            Some(200),
            br#"{"sessionId":"up-1","protocolVersion":"2025-06-18"}"#,
        )
        .expect("session");
        assert_eq!(session.session_id.as_deref(), Some("up-1"));
        assert_eq!(session.authorization, None);
    }

    #[test]
    fn broker_failures_become_client_errors() {
        assert_eq!(
            read_session_response("w", Some(404), b"{}"),
            Err(Rejection::SessionNotFound)
        );
        assert_eq!(
            read_session_response(
                "w",
                Some(502),
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"connection refused"}}"#
            ),
            Err(Rejection::UpstreamUnavailable {
                server: "w".into(),
                detail: "connection refused".into()
            })
        );
        assert!(matches!(
            read_session_response("w", Some(503), b"<html>"),
            Err(Rejection::UpstreamUnavailable { detail, .. }) if detail.contains("HTTP 503")
        ));
        assert!(matches!(
            read_session_response("w", None, b""),
            Err(Rejection::UpstreamUnavailable { detail, .. }) if detail.contains("did not answer")
        ));
        assert!(matches!(
            read_session_response("w", Some(200), br#"{"sessionId":"a\nb","protocolVersion":"x"}"#),
            Err(Rejection::UpstreamUnavailable { detail, .. }) if detail.contains("unreadable")
        ));
    }

    #[test]
    fn only_400_and_404_after_sending_a_session_mean_it_was_lost() {
        assert!(is_session_lost(404, true));
        assert!(is_session_lost(400, true));
        assert!(!is_session_lost(404, false));
        assert!(!is_session_lost(200, true));
        assert!(!is_session_lost(500, true));
    }

    #[test]
    fn gateway_errors_and_timeouts_mean_unreachable() {
        assert!(is_unreachable(502) && is_unreachable(503) && is_unreachable(504));
        assert!(!is_unreachable(500) && !is_unreachable(200) && !is_unreachable(404));
    }

    #[test]
    fn request_body_names_the_stale_session_only_when_there_is_one() {
        assert_eq!(
            session_request_body("w", None),
            br#"{"server":"w"}"#.to_vec()
        );
        assert_eq!(
            session_request_body("w", Some("old")),
            br#"{"server":"w","staleSessionId":"old"}"#.to_vec()
        );
    }
}
