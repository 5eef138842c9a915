//! Validation of `Mcp-Session-Id` values, and how logs name a session
//! without holding its credential.

/// Upper bound on a session id's length, in bytes. The specification sets
/// none; ids minted by the gateway are far shorter, and a bound keeps
/// shared-data keys and log lines small.
pub const MAX_LEN: usize = 256;

/// Whether `value` is an acceptable session id: 1 to [`MAX_LEN`] bytes of
/// visible ASCII (0x21 to 0x7E), as MCP 2025-03-26 "Session Management"
/// requires of session ids.
pub fn is_valid(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_LEN && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// Characters of a session id that logs show.
pub const LOG_TAG_LEN: usize = 16;

/// How logs name a session: its first [`LOG_TAG_LEN`] characters. A
/// gateway session id is 16 random bytes, its parameters, then an HMAC tag
/// over them (the broker's `session_token` layout), so its first 16
/// characters (12 of the random bytes) tell sessions apart but are not a
/// credential: without the tag the rest of the id cannot be made. A shorter
/// id is shown whole (it is not one the gateway issued).
pub fn log_tag(id: &str) -> &str {
    id.get(..LOG_TAG_LEN).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn accepts_visible_ascii_only() {
        assert!(is_valid(b"abc.DEF-123_~"));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"has space"));
        assert!(!is_valid(b"line\r\nbreak"));
        assert!(!is_valid("caf\u{e9}".as_bytes()));
        assert!(!is_valid(&[b'a'; MAX_LEN + 1]));
        assert!(is_valid(&[b'a'; MAX_LEN]));
    }

    #[test]
    fn the_log_tag_is_the_ids_random_start() {
        let id = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        assert_eq!(log_tag(id), "AbCdEfGhIjKlMnOp");
        assert_eq!(log_tag("short"), "short");
    }
}
