//! One JSON-RPC 2.0 message, parsed in a single pass over a POST body.
//!
//! Only what routing needs is kept, borrowed from the body: the raw `id`
//! (with its span: relayed answers get their original id spliced back), the
//! method, and of `params` the raw `name`, `uri`, `ref` and `_meta` members
//! with their byte spans (the router routes by them and splices names).
//! Everything else is validated as JSON and skipped without allocation.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::{ErrorCode, RpcError};

/// A parsed JSON-RPC message.
#[derive(Debug)]
pub struct Message<'a> {
    /// The request id exactly as written (string or number); `None` for
    /// notifications.
    pub id: Option<&'a RawValue>,
    /// Byte range of the raw id within the body.
    pub id_span: Option<Range<usize>>,
    pub kind: MessageKind<'a>,
}

// A parsed message lives on the stack for the one request; boxing the
// larger variant would cost an allocation per request in the filter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum MessageKind<'a> {
    /// A request or notification (notifications have no id).
    Call {
        method: Cow<'a, str>,
        params: Params<'a>,
    },
    /// A response sent by the client (to a server-initiated request).
    Response,
}

/// What was seen of `params`.
#[derive(Debug, Default)]
pub enum Params<'a> {
    #[default]
    Absent,
    /// An object, with the members routing reads when they were present.
    Object(ParamsObject<'a>),
    /// Present but not an object (JSON-RPC allows arrays).
    NotObject,
}

/// The members of a params object the router reads.
#[derive(Debug, Default)]
pub struct ParamsObject<'a> {
    /// `name`: a tool's (`tools/call`) or a prompt's (`prompts/get`).
    pub name: Option<NameField<'a>>,
    /// `uri`: a resource's (`resources/read`, `resources/subscribe`).
    pub uri: Option<NameField<'a>>,
    /// `ref` of `completion/complete`: what is being completed.
    pub reference: Option<Reference<'a>>,
    /// `_meta`: where a stateless-era request carries its protocol version
    /// and client capabilities.
    pub meta: Option<NameField<'a>>,
}

/// `params.ref` of `completion/complete` (MCP 2025-11-25, "Completion").
#[derive(Debug, Default)]
pub struct Reference<'a> {
    /// `type`: `ref/prompt` or `ref/resource`, as raw JSON.
    pub kind: Option<&'a RawValue>,
    /// `name` of a prompt reference.
    pub name: Option<NameField<'a>>,
    /// `uri` of a resource reference (a URI or a URI template).
    pub uri: Option<NameField<'a>>,
    /// `ref` was present but not an object.
    pub malformed: bool,
}

/// The raw `params.name` member: the JSON text and where it sits in the body.
#[derive(Debug, Clone)]
pub struct NameField<'a> {
    pub raw: &'a RawValue,
    /// Byte range of the raw JSON value (quotes included) within the body.
    pub span: Range<usize>,
}

/// Why a body is not an acceptable JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    /// Not UTF-8 or not JSON (JSON-RPC -32700).
    NotJson { detail: String },
    /// A JSON array: a batch, which MCP 2025-06-18 removed.
    Batch,
    /// JSON, but not a JSON-RPC 2.0 message (JSON-RPC -32600). `id` is the
    /// raw id when one could be read, so the error can echo it.
    Invalid { detail: String, id: Option<String> },
}

impl ParseFailure {
    /// The request id to echo in the error response: the raw id when one
    /// could be read, else `None` (written as `null`, JSON-RPC 2.0 §5).
    pub fn id(&self) -> Option<Box<RawValue>> {
        match self {
            ParseFailure::Invalid { id: Some(raw), .. } => RawValue::from_string(raw.clone()).ok(),
            _ => None,
        }
    }

    /// The JSON-RPC error answering this failure (sent with HTTP 400).
    pub fn rpc_error(&self) -> RpcError {
        match self {
            ParseFailure::NotJson { detail } => {
                RpcError::new(ErrorCode::ParseError, format!("Parse error: {detail}"))
            }
            ParseFailure::Batch => RpcError::new(
                ErrorCode::InvalidRequest,
                "Invalid Request: JSON-RPC batches are not supported (removed in MCP 2025-06-18); send one message per POST",
            ),
            ParseFailure::Invalid { detail, .. } => RpcError::new(
                ErrorCode::InvalidRequest,
                format!("Invalid Request: {detail}"),
            ),
        }
    }
}

/// Parses one JSON-RPC message from `body`.
///
/// # Errors
/// [`ParseFailure`] for bodies that are not UTF-8 JSON, batches, and
/// objects that break JSON-RPC 2.0 §4 (missing or wrong `jsonrpc`, an `id`
/// that is not a string or number, a `method` that is not a string, a
/// response without exactly one of `result` and `error`, duplicate members).
pub fn parse(body: &[u8]) -> Result<Message<'_>, ParseFailure> {
    let text = std::str::from_utf8(body).map_err(|e| ParseFailure::NotJson {
        detail: format!(
            "body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ),
    })?;
    if text.trim_start().starts_with('[') {
        return Err(ParseFailure::Batch);
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ParseFailure::Invalid {
            detail: e.to_string(),
            id: None,
        },
        _ => ParseFailure::NotJson {
            detail: e.to_string(),
        },
    })?;
    envelope.into_message(body.as_ptr() as usize)
}

/// The top-level object, with each member kept raw.
///
/// Raw members use [`present`], so `"id": null` is kept as a present `null`
/// (and refused) rather than read as an absent id.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<ParamsProbe<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is present, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

impl<'a> Envelope<'a> {
    fn into_message(self, body_start: usize) -> Result<Message<'a>, ParseFailure> {
        let invalid = |detail: &str, id: Option<&RawValue>| ParseFailure::Invalid {
            detail: detail.to_owned(),
            id: id.map(|raw| raw.get().to_owned()),
        };
        let id = match self.id {
            Some(raw) if is_string_or_number(raw) => Some(raw),
            Some(_) => return Err(invalid("\"id\" must be a string or a number", None)),
            None => None,
        };
        let id_span = id.and_then(|raw| span_of(raw, body_start)).map(|f| f.span);
        match self.jsonrpc.map(decode_str) {
            Some(Some(version)) if version == "2.0" => {}
            _ => return Err(invalid("\"jsonrpc\" must be \"2.0\"", id)),
        }
        match (self.method, self.result, self.error) {
            (Some(method), None, None) => {
                let Some(method) = decode_str(method) else {
                    return Err(invalid("\"method\" must be a string", id));
                };
                let params = match self.params {
                    None => Params::Absent,
                    Some(ParamsProbe::NotObject) => Params::NotObject,
                    Some(ParamsProbe::Object {
                        name,
                        uri,
                        reference,
                        meta,
                    }) => Params::Object(ParamsObject {
                        name: name.and_then(|raw| span_of(raw, body_start)),
                        uri: uri.and_then(|raw| span_of(raw, body_start)),
                        reference: reference.map(|raw| probe_reference(raw, body_start)),
                        meta: meta.and_then(|raw| span_of(raw, body_start)),
                    }),
                };
                Ok(Message {
                    id,
                    id_span,
                    kind: MessageKind::Call { method, params },
                })
            }
            (None, Some(_), None) | (None, None, Some(_)) if id.is_some() => Ok(Message {
                id,
                id_span,
                kind: MessageKind::Response,
            }),
            (None, None, None) => Err(invalid("a request needs a \"method\"", id)),
            _ => Err(invalid(
                "a message is a request (\"method\") or a response (\"id\" with one of \"result\" or \"error\")",
                id,
            )),
        }
    }
}

fn is_string_or_number(raw: &RawValue) -> bool {
    matches!(
        raw.get().as_bytes().first(),
        Some(b'"' | b'-' | b'0'..=b'9')
    )
}

/// The string a raw JSON value holds, or `None` when it is not a string.
///
/// `raw` comes from the parser, so a string in it is valid JSON: one
/// without a backslash is its own text between the quotes, borrowed as is
/// (the common case, and the router reads several per request); only a
/// string with escapes is decoded.
pub fn decode_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !inner.bytes().any(|b| b == b'\\' || b == b'"')
    {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<Cow<'_, str>>(text).ok()
}

fn span_of(raw: &RawValue, body_start: usize) -> Option<NameField<'_>> {
    // `raw` borrows from the body, so its address lies inside it.
    let start = (raw.get().as_ptr() as usize).checked_sub(body_start)?;
    let end = start.checked_add(raw.get().len())?;
    Some(NameField {
        raw,
        span: start..end,
    })
}

/// `params.ref`, probed: its `type`, `name` and `uri` members kept raw.
fn probe_reference<'a>(raw: &'a RawValue, body_start: usize) -> Reference<'a> {
    #[derive(Deserialize)]
    struct RefProbe<'a> {
        #[serde(borrow, default, rename = "type")]
        kind: Option<&'a RawValue>,
        #[serde(borrow, default)]
        name: Option<&'a RawValue>,
        #[serde(borrow, default)]
        uri: Option<&'a RawValue>,
    }
    if !raw.get().starts_with('{') {
        return Reference {
            malformed: true,
            ..Reference::default()
        };
    }
    match serde_json::from_str::<RefProbe<'a>>(raw.get()) {
        Ok(probe) => Reference {
            kind: probe.kind,
            name: probe.name.and_then(|r| span_of(r, body_start)),
            uri: probe.uri.and_then(|r| span_of(r, body_start)),
            malformed: false,
        },
        Err(_) => Reference {
            malformed: true,
            ..Reference::default()
        },
    }
}

/// `params`, probed in the same pass: an object's `name`, `uri` and `ref`
/// members are kept raw, every other member and any non-object value is
/// skipped.
enum ParamsProbe<'a> {
    Object {
        name: Option<&'a RawValue>,
        uri: Option<&'a RawValue>,
        reference: Option<&'a RawValue>,
        meta: Option<&'a RawValue>,
    },
    NotObject,
}

impl<'de: 'a, 'a> Deserialize<'de> for ParamsProbe<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamsVisitor(std::marker::PhantomData))
    }
}

struct ParamsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ParamsVisitor<'a> {
    type Value = ParamsProbe<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut name: Option<&'a RawValue> = None;
        let mut uri: Option<&'a RawValue> = None;
        let mut reference: Option<&'a RawValue> = None;
        let mut meta: Option<&'a RawValue> = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            // Duplicates are refused, so a policy and the upstream can never
            // read different names.
            let (slot, field) = match key.as_ref() {
                "name" => (&mut name, "name"),
                "uri" => (&mut uri, "uri"),
                "ref" => (&mut reference, "ref"),
                "_meta" => (&mut meta, "_meta"),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::duplicate_field(field));
            }
            *slot = Some(map.next_value::<&'a RawValue>()?);
        }
        Ok(ParamsProbe::Object {
            name,
            uri,
            reference,
            meta,
        })
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ParamsProbe::NotObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ParamsProbe::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ParamsProbe::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ParamsProbe::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ParamsProbe::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ParamsProbe::NotObject)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(ParamsProbe::NotObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn strings_decode_borrowed_unless_escaped() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).expect("json");
        let plain = raw(r#""tools/call""#);
        assert!(matches!(
            decode_str(&plain),
            Some(Cow::Borrowed("tools/call"))
        ));
        let escaped = raw(r#""a\"b\u0041""#);
        assert_eq!(decode_str(&escaped).as_deref(), Some("a\"bA"));
        assert_eq!(decode_str(&raw(r#""""#)).as_deref(), Some(""));
        assert_eq!(decode_str(&raw("12")), None);
        assert_eq!(decode_str(&raw("null")), None);
    }

    #[test]
    fn null_members_count_as_present() {
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            Err(ParseFailure::Invalid { .. })
        ));
        let message = parse(br#"{"jsonrpc":"2.0","id":3,"result":null}"#).expect("response");
        assert!(matches!(message.kind, MessageKind::Response));
        assert!(parse(br#"{"jsonrpc":"2.0","id":3,"method":null}"#).is_err());
    }

    #[test]
    fn the_name_span_points_at_the_raw_string() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"a":[{"name":"x"}],"name":"t\u0041"}}"#;
        let message = parse(body).expect("parses");
        let MessageKind::Call {
            params:
                Params::Object(ParamsObject {
                    name: Some(field), ..
                }),
            ..
        } = message.kind
        else {
            panic!("expected params with a name");
        };
        assert_eq!(&body[field.span.clone()], br#""t\u0041""#);
        assert_eq!(decode_str(field.raw).as_deref(), Some("tA"));
    }

    #[test]
    fn uri_ref_and_id_spans_point_at_their_raw_values() {
        let body = br#"{"jsonrpc":"2.0","id":"r-1","method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p_greet"},"uri":"file:///a","argument":{"name":"x"}}}"#;
        let message = parse(body).expect("parses");
        assert_eq!(&body[message.id_span.clone().expect("id")], br#""r-1""#);
        let MessageKind::Call {
            params: Params::Object(params),
            ..
        } = message.kind
        else {
            panic!("expected params");
        };
        assert_eq!(&body[params.uri.expect("uri").span], br#""file:///a""#);
        let reference = params.reference.expect("ref");
        assert_eq!(reference.kind.map(RawValue::get), Some(r#""ref/prompt""#));
        assert_eq!(&body[reference.name.expect("name").span], br#""p_greet""#);
        assert!(!reference.malformed);
        assert!(params.name.is_none(), "argument.name is not params.name");

        let bad =
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"ref":7}}"#).expect("parses");
        let MessageKind::Call {
            params: Params::Object(params),
            ..
        } = bad.kind
        else {
            panic!("expected params");
        };
        assert!(params.reference.expect("ref").malformed);
        assert!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"uri":"a","uri":"b"}}"#)
                .is_err()
        );
    }

    #[test]
    fn a_million_nested_arrays_do_not_exhaust_the_stack() {
        let depth = 1_000_000;
        let mut body =
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"#
                .to_vec();
        body.extend(std::iter::repeat_n(b'[', depth));
        body.extend(std::iter::repeat_n(b']', depth));
        body.extend_from_slice(b"}}");
        // Either answer is acceptable; returning at all is the point.
        let _ = parse(&body);
        let mut top = br#"{"jsonrpc":"2.0","id":1,"method":"x","params":"#.to_vec();
        top.extend(std::iter::repeat_n(b'{', depth));
        let _ = parse(&top);
    }
}
