//! Rewriting one JSON string in a document by splicing: the other side
//! receives the sender's bytes unchanged except for that string. The router
//! splices the upstream name into request bodies, the broker the exposed
//! name into the definitions it lists: one implementation for both.

use std::ops::Range;

/// Replace the bytes at `span` (a JSON string value, quotes included) with
/// `replacement` (a JSON string value, quotes included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub span: Range<usize>,
    pub replacement: String,
}

impl Splice {
    /// A splice writing `new_name` as a JSON string over `span`.
    pub fn new(span: Range<usize>, new_name: &str) -> Self {
        Splice {
            span,
            // Serialising a &str cannot fail.
            replacement: serde_json::to_string(new_name).unwrap_or_default(),
        }
    }

    /// The body with the splice applied; `None` if `span` does not lie
    /// within `body` (the caller then refuses the request instead of
    /// forwarding a body it could not rewrite).
    pub fn apply(&self, body: &[u8]) -> Option<Vec<u8>> {
        if self.span.start > self.span.end {
            return None;
        }
        let head = body.get(..self.span.start)?;
        let tail = body.get(self.span.end..)?;
        let mut out = Vec::with_capacity(head.len() + self.replacement.len() + tail.len());
        out.extend_from_slice(head);
        out.extend_from_slice(self.replacement.as_bytes());
        out.extend_from_slice(tail);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn only_the_span_changes() {
        let body = br#"{"params": {"name" : "w_get",  "x":1}}"#;
        let start = body
            .windows(7)
            .position(|w| w == b"\"w_get\"")
            .expect("name in body");
        let splice = Splice::new(start..start + 7, "get");
        assert_eq!(
            splice.apply(body).expect("in range"),
            br#"{"params": {"name" : "get",  "x":1}}"#.to_vec()
        );
    }

    #[test]
    fn replacement_is_escaped_and_bad_spans_are_refused() {
        let splice = Splice::new(0..2, "a\"b");
        assert_eq!(
            splice.apply(b"\"\"").expect("in range"),
            br#""a\"b""#.to_vec()
        );
        assert!(Splice::new(3..9, "x").apply(b"short").is_none());
        let reversed = std::ops::Range { start: 4, end: 2 };
        assert!(Splice::new(reversed, "x").apply(b"short").is_none());
    }
}
