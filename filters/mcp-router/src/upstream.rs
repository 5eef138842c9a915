//! The router's side of the broker's session API: the request it sends and
//! how it reads the answer. Pure functions.

use router_config::session_api::{UpstreamSessionRequest, UpstreamSessionResponse};

use crate::session_cache;
use mcp_protocol::refusal::Refusal;

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
/// The [`Refusal`] to answer the client with: the broker's 404 means the
/// gateway session is unknown ([`Refusal::SessionNotFound`]); anything else
/// that is not a well-formed 200 makes the upstream unavailable, with the
/// broker's JSON-RPC error message as detail when it gave one.
pub fn read_session_response(
    server: &str,
    status: Option<u32>,
    body: &[u8],
) -> Result<UpstreamSessionResponse, Refusal> {
    let unavailable = |detail: String| Refusal::UpstreamUnavailable {
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
        Some(404) => Err(Refusal::SessionNotFound),
        Some(403) => Err(Refusal::SessionOfAnotherIdentity),
        Some(401) => Err(unavailable(
            "the gateway broker refused the proxy's gateway token (Envoy and broker disagree on it)"
                .to_owned(),
        )),
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

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_well_formed_200_is_a_session() {
        let session = read_session_response(
            "w",
            Some(200),
            br#"{"sessionId":"up-1","protocolVersion":"2025-06-18","expiresAt":99}"#,
        )
        .expect("session");
        assert_eq!(session.session_id.as_deref(), Some("up-1"));
        assert_eq!(session.authorization, None);
        assert_eq!(session.expires_at, 99);
    }

    #[test]
    fn broker_failures_become_client_errors() {
        assert_eq!(
            read_session_response("w", Some(404), b"{}"),
            Err(Refusal::SessionNotFound)
        );
        assert_eq!(
            read_session_response(
                "w",
                Some(502),
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"connection refused"}}"#
            ),
            Err(Refusal::UpstreamUnavailable {
                server: "w".into(),
                detail: "connection refused".into()
            })
        );
        assert!(matches!(
            read_session_response("w", Some(503), b"<html>"),
            Err(Refusal::UpstreamUnavailable { detail, .. }) if detail.contains("HTTP 503")
        ));
        assert_eq!(
            read_session_response("w", Some(403), b"{}"),
            Err(Refusal::SessionOfAnotherIdentity)
        );
        assert!(matches!(
            read_session_response("w", Some(401), b"{}"),
            Err(Refusal::UpstreamUnavailable { detail, .. }) if detail.contains("gateway token")
        ));
        assert!(matches!(
            read_session_response("w", None, b""),
            Err(Refusal::UpstreamUnavailable { detail, .. }) if detail.contains("did not answer")
        ));
        assert!(matches!(
            read_session_response("w", Some(200), br#"{"sessionId":"a\nb","protocolVersion":"x"}"#),
            Err(Refusal::UpstreamUnavailable { detail, .. }) if detail.contains("unreadable")
        ));
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
