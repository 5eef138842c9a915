//! Structure-aware mutations of a fixture request: what a hostile or
//! broken client sends. The body is mutated as JSON where it is JSON
//! (types swapped, nesting deepened, strings grown, members dropped or
//! repeated, escapes and encodings), then as bytes (truncated, flipped,
//! invalid UTF-8, batches); the head by its headers (MCP headers emptied,
//! huge, non-ASCII, mismatched; spoofed router headers; other methods and
//! paths). Deterministic for a seed.

use mcp_router::oracle::Input;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A mutated request: the core's view (`input`, header values as text)
/// and the exact header bytes the wasm receives.
#[derive(Debug, Clone)]
pub struct Mutant {
    pub input: Input,
    /// Header values that are not UTF-8 (sent as bytes to the wasm; the
    /// core's view holds them lossily, so the two are not compared).
    pub raw_headers: Vec<(String, Vec<u8>)>,
}

/// Mutates seeds deterministically.
#[derive(Debug)]
pub struct Mutator {
    rng: StdRng,
}

const VERSIONS: [&str; 7] = [
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
    "2099-01-01",
    "",
    "=?base64?MjAyNi0wNy0yOA==?=",
];
const MCP_HEADERS: [&str; 7] = [
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "content-length",
    "origin",
    "authorization",
];
const STRINGS: [&str; 9] = [
    "",
    "tools/call",
    "weather_get_forecast",
    "\u{0}",
    "\u{e9}\u{1F600}",
    "../../etc",
    "a\"b\\c",
    "notifications/initialized",
    "files_",
];

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Mutator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// One to three mutations of `seed`.
    pub fn mutate(&mut self, seed: &Input) -> Mutant {
        let mut mutant = Mutant {
            input: seed.clone(),
            raw_headers: Vec::new(),
        };
        for _ in 0..self.rng.random_range(1..=3) {
            match self.rng.random_range(0..10) {
                0..=3 => self.json(&mut mutant.input),
                4..=6 => self.bytes(&mut mutant.input),
                _ => self.head(&mut mutant),
            }
        }
        mutant
    }

    fn json(&mut self, input: &mut Input) {
        let Ok(mut value) = serde_json::from_slice::<Value>(&input.body) else {
            return self.bytes(input);
        };
        let replacement = self.value();
        let pointer = self.pointer(&value);
        let Some(node) = value.pointer_mut(&pointer) else {
            return;
        };
        match self.rng.random_range(0..5) {
            0 => *node = replacement,
            1 => {
                let depth = self.rng.random_range(1..=200);
                let mut nested = node.take();
                for _ in 0..depth {
                    nested = if self.rng.random_bool(0.5) {
                        json!([nested])
                    } else {
                        json!({ "a": nested })
                    };
                }
                *node = nested;
            }
            2 => {
                let size = *[1usize, 255, 4096, 70_000, 1 << 20]
                    .choose(&mut self.rng)
                    .unwrap_or(&1);
                let unit = STRINGS.choose(&mut self.rng).copied().unwrap_or("x");
                let unit = if unit.is_empty() { "x" } else { unit };
                *node = Value::String(unit.repeat(size / unit.len() + 1));
            }
            3 => {
                if let Value::Object(map) = node
                    && let Some(key) = map.keys().next().cloned()
                {
                    map.remove(&key);
                }
            }
            _ => {
                if let Value::Object(map) = node {
                    let key = [
                        "jsonrpc",
                        "id",
                        "method",
                        "params",
                        "name",
                        "arguments",
                        "_meta",
                    ]
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("id");
                    map.insert(key.to_owned(), replacement);
                }
            }
        }
        input.body = serde_json::to_vec(&value).unwrap_or_default();
        if self.rng.random_bool(0.1) {
            // A repeated member: serde_json cannot write one, so by hand.
            if let Some(at) = input.body.iter().position(|&b| b == b'{') {
                let member = *[
                    &br#""method":"ping","#[..],
                    br#""id":null,"#,
                    br#""params":[],"#,
                ]
                .choose(&mut self.rng)
                .unwrap_or(&&b""[..]);
                input.body.splice(at + 1..at + 1, member.iter().copied());
            }
        }
    }

    /// The JSON pointer (RFC 6901) of a node of `value`, found by a
    /// random walk from the root.
    fn pointer(&mut self, value: &Value) -> String {
        let mut pointer = String::new();
        let mut node = value;
        while self.rng.random_bool(0.7) {
            let next = match node {
                Value::Array(items) if !items.is_empty() => {
                    let index = self.rng.random_range(0..items.len());
                    items.get(index).map(|child| (index.to_string(), child))
                }
                Value::Object(map) if !map.is_empty() => {
                    let index = self.rng.random_range(0..map.len());
                    map.iter()
                        .nth(index)
                        .map(|(key, child)| (key.clone(), child))
                }
                _ => None,
            };
            let Some((step, child)) = next else { break };
            pointer.push('/');
            pointer.push_str(&step.replace('~', "~0").replace('/', "~1"));
            node = child;
        }
        pointer
    }

    fn value(&mut self) -> Value {
        match self.rng.random_range(0..9) {
            0 => Value::Null,
            1 => json!(self.rng.random_bool(0.5)),
            2 => json!(self.rng.random::<i64>()),
            3 => json!(1e308),
            4 => json!(u64::MAX),
            5 => json!([]),
            6 => json!({}),
            7 => json!({ "name": STRINGS.choose(&mut self.rng).copied().unwrap_or("") }),
            _ => json!(STRINGS.choose(&mut self.rng).copied().unwrap_or("")),
        }
    }

    fn bytes(&mut self, input: &mut Input) {
        let body = &mut input.body;
        match self.rng.random_range(0..7) {
            0 if !body.is_empty() => {
                let at = self.rng.random_range(0..body.len());
                body.truncate(at);
            }
            1 if !body.is_empty() => {
                let at = self.rng.random_range(0..body.len());
                body[at] ^= 1 << self.rng.random_range(0..8);
            }
            2 => {
                let at = self.rng.random_range(0..=body.len());
                let bad = *[
                    &[0xffu8][..],
                    &[0xc3],
                    &[0xed, 0xa0, 0x80],
                    &[0xf4, 0x90, 0x80, 0x80],
                ]
                .choose(&mut self.rng)
                .unwrap_or(&&[0xffu8][..]);
                body.splice(at..at, bad.iter().copied());
            }
            3 => {
                body.splice(0..0, "\u{feff} \n\t".bytes());
            }
            4 => {
                let copy = body.clone();
                *body = [b"[".as_slice(), &copy, b",", &copy, b"]"].concat();
            }
            5 => {
                // An escape where a string starts: \u0000, a lone surrogate.
                if let Some(at) = body.iter().rposition(|&b| b == b'"') {
                    let escape = *[&br"\u0000"[..], br"\ud800", br"\u00e9", br"\"]
                        .choose(&mut self.rng)
                        .unwrap_or(&&b""[..]);
                    body.splice(at + 1..at + 1, escape.iter().copied());
                }
            }
            _ => body.clear(),
        }
    }

    fn head(&mut self, mutant: &mut Mutant) {
        let input = &mut mutant.input;
        match self.rng.random_range(0..6) {
            0 => {
                input.method = ["GET", "DELETE", "PUT", "OPTIONS", "post"]
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("GET")
                    .to_owned();
            }
            1 => {
                input.path = [
                    "/mcp/",
                    "/mcp?x=1",
                    "/other",
                    "/mcp/../mcp",
                    "/MCP",
                    "/mcp/files",
                ]
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("/mcp")
                .to_owned();
            }
            2 => {
                let version = VERSIONS.choose(&mut self.rng).copied().unwrap_or("");
                input
                    .headers
                    .insert("mcp-protocol-version".to_owned(), version.to_owned());
            }
            3 => {
                let name = MCP_HEADERS
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("mcp-name");
                if self.rng.random_bool(0.3) {
                    input.headers.remove(name);
                } else {
                    let value = match self.rng.random_range(0..4) {
                        0 => "x".repeat(self.rng.random_range(1..9000)),
                        1 => "-1".to_owned(),
                        2 => "99999999999999999999".to_owned(),
                        _ => STRINGS
                            .choose(&mut self.rng)
                            .copied()
                            .unwrap_or("")
                            .to_owned(),
                    };
                    // Envoy refuses control characters in header values.
                    let value: String = value.chars().filter(|c| !c.is_control()).collect();
                    input.headers.insert(name.to_owned(), value);
                }
            }
            4 => {
                // Router headers a client must not be able to set.
                let name = ["x-mcp-servername", "x-mcp-toolname", "x-mcp-cluster"]
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("x-mcp-servername");
                input.headers.insert(name.to_owned(), "spoofed".to_owned());
            }
            _ => {
                // Obs-text: bytes Envoy lets through that are not UTF-8.
                let name = MCP_HEADERS
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("mcp-name");
                mutant
                    .raw_headers
                    .push((name.to_owned(), vec![b'a', 0xff, 0xfe]));
            }
        }
    }
}
