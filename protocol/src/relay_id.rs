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

use crate::splice::Splice;

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

/// `message` (one JSON-RPC message an upstream of `server` sent towards
/// the client) with its id made a relay id, when it is a request; `None`
/// for notifications, responses, messages that do not parse and ids too
/// long to relay: those pass unchanged.
pub fn relay_request(server: &str, message: &[u8]) -> Option<Vec<u8>> {
    let parsed = crate::message::parse(message).ok()?;
    if !matches!(parsed.kind, crate::message::MessageKind::Call { .. }) {
        return None;
    }
    let (id, span) = (parsed.id?, parsed.id_span?);
    Splice {
        span,
        replacement: encode(server, id.get())?,
    }
    .apply(message)
}

/// A client's response to a relayed request, given its raw `id` and the
/// id's `span` in the body: the server that asked, and the splice that puts
/// the server's original id back. `None` when the id is not a relay id.
pub fn answer(
    id: &serde_json::value::RawValue,
    span: std::ops::Range<usize>,
) -> Option<(String, Splice)> {
    let value = crate::message::decode_str(id)?;
    let (server, original) = decode(&value)?;
    Some((
        server.to_owned(),
        Splice {
            span,
            replacement: original,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn requests_get_relay_ids_and_their_responses_get_the_original_back() {
        let request = br#"{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{"maxTokens":5}}"#;
        let relayed = relay_request("everything", request).expect("a request is relayed");
        let relayed_text = std::str::from_utf8(&relayed).expect("utf-8");
        let message = crate::message::parse(&relayed).expect("still JSON-RPC");
        let id = message.id.expect("an id").get().to_owned();
        assert_eq!(
            relayed_text,
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"sampling/createMessage","params":{{"maxTokens":5}}}}"#
            )
        );
        // The client answers with the id it saw.
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"ok":true}}}}"#);
        let parsed = crate::message::parse(answer.as_bytes()).expect("response");
        let (server, splice) = super::answer(parsed.id.expect("id"), parsed.id_span.expect("span"))
            .expect("a relay id");
        assert_eq!(server, "everything");
        assert_eq!(
            splice.apply(answer.as_bytes()).expect("in range"),
            br#"{"jsonrpc":"2.0","id":7,"result":{"ok":true}}"#.to_vec()
        );
    }

    #[test]
    fn notifications_responses_and_garbage_pass_unchanged() {
        assert!(
            relay_request(
                "s",
                br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#
            )
            .is_none()
        );
        assert!(relay_request("s", br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).is_none());
        assert!(relay_request("s", b"not json").is_none());
        let answer = br#"{"jsonrpc":"2.0","id":"plain","result":{}}"#;
        let parsed = crate::message::parse(answer).expect("response");
        assert!(super::answer(parsed.id.expect("id"), parsed.id_span.expect("span")).is_none());
    }

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
