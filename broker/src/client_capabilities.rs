//! What a gateway session's client declared it can do (`initialize`'s
//! `capabilities`: MCP 2025-11-25, "Lifecycle › Capability Negotiation"),
//! kept in one byte of the session id so that every replica declares the
//! same to the upstreams it opens sessions with: an upstream offers through
//! the gateway what it would offer the client directly.
//!
//! Only the client features a server can use are kept: `sampling` (with
//! its `context` and `tools` flags), `elicitation` (with `form` and `url`)
//! and `roots` (with `listChanged`). `experimental` is not relayed.

/// The declared client features, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCapabilities(u8);

const SAMPLING: u8 = 1;
const SAMPLING_CONTEXT: u8 = 1 << 1;
const SAMPLING_TOOLS: u8 = 1 << 2;
const ELICITATION: u8 = 1 << 3;
const ELICITATION_FORM: u8 = 1 << 4;
const ELICITATION_URL: u8 = 1 << 5;
const ROOTS: u8 = 1 << 6;
const ROOTS_LIST_CHANGED: u8 = 1 << 7;

impl ClientCapabilities {
    /// Reads `params.capabilities` of an `initialize` request (any JSON;
    /// what is not an object declares nothing).
    pub fn of_initialize_params(capabilities: &serde_json::Value) -> Self {
        let object = |name: &str| capabilities.get(name).filter(|v| v.is_object());
        let mut bits = 0;
        if let Some(sampling) = object("sampling") {
            bits |= SAMPLING;
            if sampling.get("context").is_some_and(|v| v.is_object()) {
                bits |= SAMPLING_CONTEXT;
            }
            if sampling.get("tools").is_some_and(|v| v.is_object()) {
                bits |= SAMPLING_TOOLS;
            }
        }
        if let Some(elicitation) = object("elicitation") {
            bits |= ELICITATION;
            if elicitation.get("form").is_some_and(|v| v.is_object()) {
                bits |= ELICITATION_FORM;
            }
            if elicitation.get("url").is_some_and(|v| v.is_object()) {
                bits |= ELICITATION_URL;
            }
        }
        if let Some(roots) = object("roots") {
            bits |= ROOTS;
            if roots.get("listChanged") == Some(&serde_json::Value::Bool(true)) {
                bits |= ROOTS_LIST_CHANGED;
            }
        }
        ClientCapabilities(bits)
    }

    /// The byte kept in the session id.
    pub fn to_byte(self) -> u8 {
        self.0
    }

    pub fn from_byte(byte: u8) -> Self {
        ClientCapabilities(byte)
    }

    /// Whether the client can answer `sampling/createMessage`.
    pub fn sampling(self) -> bool {
        self.0 & SAMPLING != 0
    }

    /// Whether the client can answer `elicitation/create`.
    pub fn elicitation(self) -> bool {
        self.0 & ELICITATION != 0
    }

    /// Whether the client can answer `roots/list`.
    pub fn roots(self) -> bool {
        self.0 & ROOTS != 0
    }

    /// The `capabilities` object to declare upstream: the client's, as
    /// far as it is kept.
    pub fn to_json(self) -> serde_json::Value {
        let has = |bit: u8| self.0 & bit != 0;
        let mut capabilities = serde_json::Map::new();
        if has(SAMPLING) {
            let mut sampling = serde_json::Map::new();
            if has(SAMPLING_CONTEXT) {
                sampling.insert("context".into(), serde_json::json!({}));
            }
            if has(SAMPLING_TOOLS) {
                sampling.insert("tools".into(), serde_json::json!({}));
            }
            capabilities.insert("sampling".into(), sampling.into());
        }
        if has(ELICITATION) {
            let mut elicitation = serde_json::Map::new();
            if has(ELICITATION_FORM) {
                elicitation.insert("form".into(), serde_json::json!({}));
            }
            if has(ELICITATION_URL) {
                elicitation.insert("url".into(), serde_json::json!({}));
            }
            capabilities.insert("elicitation".into(), elicitation.into());
        }
        if has(ROOTS) {
            let mut roots = serde_json::Map::new();
            if has(ROOTS_LIST_CHANGED) {
                roots.insert("listChanged".into(), true.into());
            }
            capabilities.insert("roots".into(), roots.into());
        }
        capabilities.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_features_survive_the_byte() {
        for declared in [
            json!({}),
            json!({ "sampling": {} }),
            json!({ "sampling": { "tools": {}, "context": {} }, "roots": { "listChanged": true } }),
            json!({ "elicitation": { "form": {}, "url": {} }, "roots": {} }),
            json!({ "elicitation": {} }),
        ] {
            let kept = ClientCapabilities::of_initialize_params(&declared);
            let back = ClientCapabilities::from_byte(kept.to_byte());
            assert_eq!(back.to_json(), declared, "{declared}");
        }
    }

    #[test]
    fn what_a_server_cannot_use_or_is_not_an_object_is_not_declared() {
        let kept = ClientCapabilities::of_initialize_params(&json!({
            "experimental": { "x": {} },
            "sampling": true,
            "roots": { "listChanged": "yes" }
        }));
        assert!(!kept.sampling());
        assert!(kept.roots());
        assert!(!kept.elicitation());
        assert_eq!(kept.to_json(), json!({ "roots": {} }));
        assert_eq!(
            ClientCapabilities::of_initialize_params(&json!(null)).to_json(),
            json!({})
        );
    }
}
