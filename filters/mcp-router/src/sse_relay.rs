//! Relay ids in the event stream of a routed call's response.
//!
//! An upstream may answer a routed call with an SSE stream (MCP 2025-11-25,
//! "Transports › Sending Messages to the Server") that carries, before the
//! answer, its own requests to the client: `sampling/createMessage`,
//! `elicitation/create`, `roots/list`, `ping`. Their ids are the upstream's
//! and could collide with another upstream's, so each becomes a relay id
//! ([`mcp_protocol::relay_id`]) naming the server; the client's answer then
//! finds its way back without the router keeping any per-request state.
//! Notifications (progress, logging) and the answer itself pass unchanged.
//!
//! Body chunks do not respect event boundaries: the tail of a chunk after
//! its last complete event is held back and completes with the next chunk
//! (at most [`MAX_EVENT_BYTES`]; a longer event passes as it is).

use mcp_protocol::relay_id;

/// The longest event held back whole, in bytes.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// The stream state of one routed response.
#[derive(Debug)]
pub struct SseRelay {
    server: String,
    carry: Vec<u8>,
}

impl SseRelay {
    /// A relay for a response from `server`.
    pub fn new(server: &str) -> Self {
        SseRelay {
            server: server.to_owned(),
            carry: Vec::new(),
        }
    }

    /// What to pass on for `chunk`: `None` to pass it unchanged, or the
    /// bytes that replace it (events completed by it, requests rewritten;
    /// an incomplete last event is held until the next chunk, or passed as
    /// it is at the `end`).
    pub fn push(&mut self, chunk: &[u8], end: bool) -> Option<Vec<u8>> {
        if self.carry.is_empty() && !end && ends_at_boundary(chunk) && !mentions_method(chunk) {
            return None;
        }
        let mut buffer = std::mem::take(&mut self.carry);
        buffer.extend_from_slice(chunk);
        let complete = if end {
            buffer.len()
        } else {
            last_boundary(&buffer)
        };
        let mut out = Vec::with_capacity(buffer.len() + 64);
        if mentions_method(&buffer[..complete]) {
            for event in events(&buffer[..complete]) {
                match self.rewrite(event) {
                    Some(rewritten) => out.extend_from_slice(&rewritten),
                    None => out.extend_from_slice(event),
                }
            }
        } else {
            out.extend_from_slice(&buffer[..complete]);
        }
        let rest = &buffer[complete..];
        if rest.len() > MAX_EVENT_BYTES {
            // Too long to hold: it passes unchanged.
            out.extend_from_slice(rest);
        } else {
            self.carry = rest.to_vec();
        }
        if out == chunk {
            return None;
        }
        Some(out)
    }

    /// One event (its lines and terminating blank line) with a request's
    /// id made a relay id; `None` when nothing changes.
    fn rewrite(&self, event: &[u8]) -> Option<Vec<u8>> {
        let lines: Vec<&[u8]> = lines(event).collect();
        let data: Vec<&[u8]> = lines.iter().filter_map(|line| data_of(line)).collect();
        if data.is_empty() {
            return None;
        }
        let message = data.join(&b'\n');
        let relayed = relay_id::relay_request(&self.server, &message)?;
        let mut out = Vec::with_capacity(event.len() + 48);
        let mut written = false;
        for line in &lines {
            if data_of(line).is_some() {
                if !written {
                    for part in relayed.split(|b| *b == b'\n') {
                        out.extend_from_slice(b"data: ");
                        out.extend_from_slice(part);
                        out.push(b'\n');
                    }
                    written = true;
                }
                continue;
            }
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        // The blank line that ends the event, when it has one (the last
        // event of a stream may not).
        if event.ends_with(b"\n\n") || event.ends_with(b"\n\r\n") {
            out.push(b'\n');
        }
        Some(out)
    }
}

/// The value of a `data` field line (the one space after the colon is not
/// part of it, per the SSE specification).
fn data_of(line: &[u8]) -> Option<&[u8]> {
    let value = line.strip_prefix(b"data")?;
    match value.first() {
        None => Some(value),
        Some(b':') => Some(value[1..].strip_prefix(b" ").unwrap_or(&value[1..])),
        Some(_) => None,
    }
}

/// Lines without their `\n` or `\r\n` terminators (blank lines excluded).
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    event
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// Complete events of `bytes` (which ends at a boundary, or is the end of
/// the stream), each with its terminating blank line.
fn events(bytes: &[u8]) -> Vec<&[u8]> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte != b'\n' {
            continue;
        }
        let line = &bytes[line_start..at];
        if line.is_empty() || line == b"\r" {
            events.push(&bytes[start..=at]);
            start = at + 1;
        }
        line_start = at + 1;
    }
    if start < bytes.len() {
        events.push(&bytes[start..]);
    }
    events
}

/// The length of the prefix of `bytes` that ends with a blank line.
fn last_boundary(bytes: &[u8]) -> usize {
    let mut boundary = 0;
    let mut line_start = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte != b'\n' {
            continue;
        }
        let line = &bytes[line_start..at];
        if line.is_empty() || line == b"\r" {
            boundary = at + 1;
        }
        line_start = at + 1;
    }
    boundary
}

fn ends_at_boundary(chunk: &[u8]) -> bool {
    chunk.is_empty() || last_boundary(chunk) == chunk.len()
}

/// Only a message with a `method` member can be a request; a chunk without
/// the word passes without parsing.
fn mentions_method(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"\"method\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const REQUEST: &str =
        r#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{"maxTokens":9}}"#;
    const ANSWER: &str = r#"{"jsonrpc":"2.0","id":"client-1","result":{"content":[]}}"#;

    fn relayed(server: &str, raw_id: &str) -> String {
        let id = relay_id::encode(server, raw_id).expect("encodes");
        REQUEST.replacen(r#""id":3"#, &format!(r#""id":{id}"#), 1)
    }

    #[test]
    fn requests_get_relay_ids_and_everything_else_passes_unchanged() {
        let mut relay = SseRelay::new("everything");
        let progress =
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#;
        let stream = format!(
            "id: e1\ndata: {progress}\n\nevent: message\ndata: {REQUEST}\n\ndata: {ANSWER}\n\n"
        );
        let out = relay
            .push(stream.as_bytes(), false)
            .expect("a request was rewritten");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!(
                "id: e1\ndata: {progress}\n\nevent: message\ndata: {}\n\ndata: {ANSWER}\n\n",
                relayed("everything", "3")
            )
        );
        // A chunk with no request in it is not touched at all.
        assert_eq!(
            relay.push(format!("data: {ANSWER}\n\n").as_bytes(), false),
            None
        );
    }

    #[test]
    fn an_event_split_across_chunks_is_held_until_it_is_complete() {
        let mut relay = SseRelay::new("s");
        let whole = format!("data: {REQUEST}\r\n\r\ndata: {ANSWER}\n\n");
        let (first, second) = whole.as_bytes().split_at(20);
        assert_eq!(relay.push(first, false), Some(Vec::new()), "held back");
        let out = relay.push(second, false).expect("completed");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!("data: {}\n\ndata: {ANSWER}\n\n", relayed("s", "3"))
        );
    }

    #[test]
    fn multi_line_data_and_the_end_of_the_stream_are_handled() {
        let mut relay = SseRelay::new("s");
        let pretty = "{\"jsonrpc\":\"2.0\",\n\"id\":\"q\",\n\"method\":\"roots/list\"}";
        let event: String = pretty.lines().map(|l| format!("data:{l}\n")).collect();
        // No blank line: the stream ends inside the event.
        let out = relay
            .push(event.as_bytes(), true)
            .expect("rewritten at the end");
        let id = relay_id::encode("s", "\"q\"").expect("encodes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!(
                "data: {{\"jsonrpc\":\"2.0\",\ndata: \"id\":{id},\ndata: \"method\":\"roots/list\"}}\n"
            )
        );
        // Garbage and comments pass as they are.
        assert_eq!(
            relay.push(b": keep-alive\n\ndata: not json \"method\"\n\n", false),
            None
        );
    }

    #[test]
    fn an_event_too_long_to_hold_passes_unchanged() {
        let mut relay = SseRelay::new("s");
        let mut huge = b"data: {\"method\":\"x\",\"pad\":\"".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_EVENT_BYTES + 10));
        assert_eq!(
            relay.push(&huge, false),
            None,
            "passes through, nothing held"
        );
        assert_eq!(relay.push(b"\"}\n\n", false), None);
    }
}
