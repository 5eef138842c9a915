//! Ids of requests the gateway relays from upstreams to clients
//! (`sampling/createMessage`, `elicitation/create`, `roots/list`, ...).
//!
//! Two upstreams may both ask the client something with id `1`, so the id
//! the client sees carries the server it came from: `"mcpgw.<server>.<id>"`,
//! where `<id>` is the upstream's own id as JSON text, base64url-encoded.
//! When the client answers, the gateway reads the server and the original
//! id back from the answer's id, and splices the original in place: no
//! state is kept per relayed request, so any proxy or broker replica can
//! route the answer (JSON-RPC 2.0 §5: a response carries the request's id
//! unchanged, which is what makes this work).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "mcpgw.";

/// The longest original id accepted, in bytes of JSON text.
pub const MAX_ID_LEN: usize = 256;

/// The id the client sees (a JSON string value, quotes included) for the
/// request `raw_id` (the upstream's id as JSON text: `5`, `"abc"`) of
/// `server`. `None` when the id is too long to relay.
pub fn encode(server: &str, raw_id: &str) -> Option<String> {
    if raw_id.is_empty() || raw_id.len() > MAX_ID_LEN {
        return None;
    }
    Some(format!(
        "\"{PREFIX}{server}.{}\"",
        URL_SAFE_NO_PAD.encode(raw_id.as_bytes())
    ))
}

/// The server and the original id (JSON text) of a relayed id, given the
/// id's decoded string value; `None` for ids the gateway did not make.
pub fn decode(id: &str) -> Option<(&str, String)> {
    let rest = id.strip_prefix(PREFIX)?;
    let (server, encoded) = rest.rsplit_once('.')?;
    if !crate::names::is_valid_server_name(server) {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    // Only what JSON-RPC allows as an id: a string or a number.
    let value: serde_json::Value = serde_json::from_str(&raw).ok()?;
    (value.is_string() || value.is_number()).then_some((server, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_with_their_server() {
        for raw in [
            "5",
            "\"abc\"",
            "-1.5e3",
            "\"with \\\"quotes\\\" and .dots.\"",
        ] {
            let encoded = encode("weather.v1", raw).expect("encodes");
            let value: String = serde_json::from_str(&encoded).expect("a JSON string");
            assert_eq!(
                decode(&value),
                Some(("weather.v1", raw.to_owned())),
                "{raw}"
            );
        }
    }

    #[test]
    fn foreign_or_damaged_ids_are_not_relayed() {
        assert_eq!(decode("5"), None);
        assert_eq!(decode("mcpgw.nodot"), None);
        assert_eq!(decode("mcpgw.-bad.NQ"), None);
        assert_eq!(decode("mcpgw.w.!!!"), None);
        // Decodes, but to JSON that is not an id.
        let object = URL_SAFE_NO_PAD.encode(b"{\"a\":1}");
        assert_eq!(decode(&format!("mcpgw.w.{object}")), None);
        assert_eq!(encode("w", ""), None);
        assert_eq!(encode("w", &"1".repeat(MAX_ID_LEN + 1)), None);
    }
}
