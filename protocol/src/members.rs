//! Reading a few top-level members of a JSON object without decoding the
//! rest: their raw JSON and where it sits, so the one that must change can
//! be spliced (a definition's `name`) and everything else kept byte for
//! byte. One pass; unknown members are validated and skipped.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One member's raw value and its byte range within the object's text.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub raw: &'a RawValue,
    pub span: Range<usize>,
}

impl<'a> Member<'a> {
    /// The member's string value, when it is a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        crate::message::decode_str(self.raw)
    }
}

/// The members `keys` of the JSON object `text`, in the order asked.
///
/// # Errors
/// A message when `text` is not a JSON object, or names one of `keys`
/// twice (a reader that kept the first and one that kept the last would
/// disagree).
pub fn probe<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
) -> Result<[Option<Member<'a>>; N], String> {
    struct ObjectVisitor<'k, const N: usize> {
        keys: [&'k str; N],
    }
    impl<'de, 'k, const N: usize> Visitor<'de> for ObjectVisitor<'k, N> {
        type Value = [Option<&'de RawValue>; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut found: [Option<&'de RawValue>; N] = [None; N];
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                match self.keys.iter().position(|k| *k == key) {
                    Some(index) => {
                        let slot = found
                            .get_mut(index)
                            .ok_or_else(|| de::Error::custom("key index"))?;
                        if slot.is_some() {
                            return Err(de::Error::custom(format!("duplicate member {key:?}")));
                        }
                        *slot = Some(map.next_value::<&'de RawValue>()?);
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(found)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let found = deserializer
        .deserialize_map(ObjectVisitor { keys })
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    let start = text.as_ptr() as usize;
    Ok(found.map(|raw| {
        raw.and_then(|raw| {
            // `raw` borrows from `text`, so its address lies inside it.
            let offset = (raw.get().as_ptr() as usize).checked_sub(start)?;
            Some(Member {
                raw,
                span: offset..offset + raw.get().len(),
            })
        })
    }))
}

/// Every top-level member of the JSON object `text`, in order: its key and
/// raw value.
///
/// # Errors
/// A message when `text` is not a JSON object.
pub fn all(text: &str) -> Result<Vec<(String, &RawValue)>, String> {
    struct AllVisitor;
    impl<'de> Visitor<'de> for AllVisitor {
        type Value = Vec<(String, &'de RawValue)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut members = Vec::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                members.push((key.into_owned(), map.next_value::<&'de RawValue>()?));
            }
            Ok(members)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let members = deserializer
        .deserialize_map(AllVisitor)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn members_come_with_their_spans_and_others_are_skipped() {
        let text = r#"{ "description": {"name": "inner"}, "name" : "get_forecast", "x": [1,2] }"#;
        let [name, missing] = probe(text, ["name", "uri"]).expect("an object");
        let name = name.expect("name");
        assert_eq!(&text[name.span.clone()], "\"get_forecast\"");
        assert_eq!(name.as_str().as_deref(), Some("get_forecast"));
        assert!(missing.is_none());
    }

    #[test]
    fn every_member_comes_in_order() {
        let members = all(r#"{"z":1, "a" : [2], "m":{"x":"y"}}"#).expect("an object");
        let listed: Vec<(&str, &str)> =
            members.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
        assert_eq!(listed, [("z", "1"), ("a", "[2]"), ("m", r#"{"x":"y"}"#)]);
        assert!(all("[1]").is_err());
    }

    #[test]
    fn non_objects_duplicates_and_trailing_garbage_are_refused() {
        assert!(probe("[1]", ["name"]).is_err());
        assert!(probe(r#"{"name":"a","name":"b"}"#, ["name"]).is_err());
        assert!(probe(r#"{"name":"a"} x"#, ["name"]).is_err());
        assert!(probe(r#"{"name":"a","other":1,"other":2}"#, ["name"]).is_ok());
    }
}
