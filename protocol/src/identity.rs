//! Who a request comes from, for binding a gateway session to the identity
//! that opened it (MCP 2025-06-18 "Security Best Practices › Session
//! Hijacking": bind session ids to user-specific information).
//!
//! The rule is one function so that the broker (which binds a session at
//! `initialize` and checks it on what it serves) and the router (which
//! checks every routed call) can never disagree on who is asking.

/// The identity of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// The value of the configured identity header, which the
    /// authentication layer in front of the router sets from a verified
    /// credential (e.g. a JWT claim copied by Envoy's `jwt_authn`).
    Verified(&'a [u8]),
    /// No verified identity: the request's `Authorization` value itself,
    /// so another credential cannot use the session.
    Credential(&'a [u8]),
    /// Neither: the session is bound to "no credential".
    Anonymous,
}

impl<'a> Identity<'a> {
    /// The identity of a request with these header values: the configured
    /// identity header when present and [`usable`], else `Authorization`
    /// when present and usable, else anonymous.
    pub fn of_request(identity_header: Option<&'a [u8]>, authorization: Option<&'a [u8]>) -> Self {
        match (identity_header, authorization) {
            (Some(value), _) if usable(value) => Identity::Verified(value),
            (_, Some(value)) if usable(value) => Identity::Credential(value),
            _ => Identity::Anonymous,
        }
    }

    /// A one-byte domain tag, so that the same bytes as a verified identity
    /// and as a credential never hash alike.
    pub fn tag(&self) -> u8 {
        match self {
            Identity::Verified(_) => b'v',
            Identity::Credential(_) => b'c',
            Identity::Anonymous => b'a',
        }
    }

    /// The identifying bytes (empty when anonymous).
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            Identity::Verified(value) | Identity::Credential(value) => value,
            Identity::Anonymous => &[],
        }
    }
}

/// Whether a header value can identify: non-empty, and only the bytes
/// every HTTP stack passes unchanged (tab and visible ASCII, RFC 9110
/// §5.5). Other values count as absent on every side, so the router and
/// the broker never read one request as two identities.
pub fn usable(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|b| *b == b'\t' || (0x20..0x7f).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_identity_header_wins_then_the_credential_then_nothing() {
        assert_eq!(
            Identity::of_request(Some(b"alice"), Some(b"Bearer t")),
            Identity::Verified(b"alice")
        );
        assert_eq!(
            Identity::of_request(Some(b""), Some(b"Bearer t")),
            Identity::Credential(b"Bearer t")
        );
        assert_eq!(
            Identity::of_request(None, Some(b"Bearer t")),
            Identity::Credential(b"Bearer t")
        );
        assert_eq!(Identity::of_request(None, Some(b"")), Identity::Anonymous);
        assert_eq!(
            Identity::of_request(None, Some("Bearer caf\u{e9}".as_bytes())),
            Identity::Anonymous
        );
        assert_eq!(Identity::of_request(None, None), Identity::Anonymous);
        assert_ne!(
            Identity::Verified(b"x").tag(),
            Identity::Credential(b"x").tag()
        );
    }
}
