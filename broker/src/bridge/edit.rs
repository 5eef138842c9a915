//! Edits of JSON text that leave every other byte as it was: what the
//! bridge must change in a message it carries across eras (the request id,
//! `_meta`, `resultType`, a retry's `inputResponses`) and nothing more.
//! Built on `mcp_protocol::members` (spans of top-level members) and
//! `mcp_protocol::splice`.

use mcp_protocol::members;
use mcp_protocol::splice::Splice;
use serde_json::value::RawValue;

/// `object` (a JSON object's text) with `members` (key, raw JSON value)
/// inserted first; a key the object already has is left as it is.
///
/// # Errors
/// `object` is not a JSON object.
pub fn insert_members(object: &str, added: &[(&str, String)]) -> Result<String, String> {
    let keys: Vec<&str> = added.iter().map(|(key, _)| *key).collect();
    let present = present_keys(object, &keys)?;
    let inserted: Vec<String> = added
        .iter()
        .filter(|(key, _)| !present.contains(key))
        .map(|(key, value)| format!("{}:{value}", serde_json::to_string(key).unwrap_or_default()))
        .collect();
    if inserted.is_empty() {
        return Ok(object.to_owned());
    }
    let open = object.find('{').ok_or("not a JSON object")?;
    let rest = object[open + 1..].trim_start();
    let separator = if rest.starts_with('}') { "" } else { "," };
    Ok(format!(
        "{}{{{}{separator}{}",
        &object[..open],
        inserted.join(","),
        &object[open + 1..]
    ))
}

/// The keys of `keys` that `object` has.
fn present_keys<'k>(object: &str, keys: &[&'k str]) -> Result<Vec<&'k str>, String> {
    let mut present = Vec::new();
    for key in keys {
        let [found] = members::probe(object, [key])?;
        if found.is_some() {
            present.push(*key);
        }
    }
    Ok(present)
}

/// A top-level member's raw value and span, if the object has it.
fn member<'a>(object: &'a str, key: &str) -> Result<Option<members::Member<'a>>, String> {
    let [found] = members::probe(object, [key])?;
    Ok(found)
}

/// `message` with its `id` replaced by `id` (raw JSON).
///
/// # Errors
/// `message` is not an object with an `id`.
pub fn set_id(message: &str, id: &str) -> Result<String, String> {
    let found = member(message, "id")?.ok_or("the message has no id")?;
    splice(message, found.span, id)
}

/// `message`'s `params` object with `added` inserted (see
/// [`insert_members`]); a message without `params` gets them.
///
/// # Errors
/// `message` is not an object, or its `params` are not one.
pub fn insert_params(message: &str, added: &[(&str, String)]) -> Result<String, String> {
    match member(message, "params")? {
        Some(params) => {
            let edited = insert_members(params.raw.get(), added)?;
            splice(message, params.span, &edited)
        }
        None => {
            let params = insert_members("{}", added)?;
            insert_members(message, &[("params", params)])
        }
    }
}

/// `message`'s `params._meta` with `added` inserted, a key it has left as
/// it is (a message without them gets them).
///
/// # Errors
/// `message`, its `params` or its `_meta` are not objects.
pub fn insert_meta(message: &str, added: &[(&str, String)]) -> Result<String, String> {
    let meta = member(message, "params")?
        .map(|params| {
            member(params.raw.get(), "_meta").map(|m| m.map(|m| (params.span.clone(), m.span)))
        })
        .transpose()?
        .flatten();
    match meta {
        Some((params_span, meta_span)) => {
            // Absolute span of `_meta`: its offset within `params` moved by
            // where `params` starts.
            let start = params_span.start + meta_span.start;
            let end = params_span.start + meta_span.end;
            let edited = insert_members(&message[start..end], added)?;
            splice(message, start..end, &edited)
        }
        None => insert_params(message, &[("_meta", insert_members("{}", added)?)]),
    }
}

/// `message` without the `params._meta` members `removed` (a `_meta` left
/// empty goes too); unchanged when it has none of them.
///
/// # Errors
/// `message`, its `params` or its `_meta` are not objects.
pub fn remove_meta(message: &str, removed: &[&str]) -> Result<String, String> {
    remove_in_params(message, "_meta", removed)
}

/// `message` without the members `removed` of its `params.{object}` (an
/// object left empty goes too); unchanged when it has none of them.
///
/// # Errors
/// `message`, its `params` or that object are not objects.
pub fn remove_in_params(message: &str, object: &str, removed: &[&str]) -> Result<String, String> {
    let Some(params) = member(message, "params")? else {
        return Ok(message.to_owned());
    };
    let Some(inner) = member(params.raw.get(), object)? else {
        return Ok(message.to_owned());
    };
    let members = members::all(inner.raw.get())?;
    if !members
        .iter()
        .any(|(key, _)| removed.contains(&key.as_str()))
    {
        return Ok(message.to_owned());
    }
    let kept = object_without(&members, |key| removed.contains(&key));
    let params_text = params.raw.get();
    let edited_params = if kept == "{}" {
        object_without(&members::all(params_text)?, |key| key == object)
    } else {
        splice(params_text, inner.span, &kept)?
    };
    splice(message, params.span, &edited_params)
}

/// `message` (a response) with `added` inserted into its `result` object.
///
/// # Errors
/// `message` has no object `result`.
pub fn insert_result(message: &str, added: &[(&str, String)]) -> Result<String, String> {
    let result = member(message, "result")?.ok_or("the message has no result")?;
    let edited = insert_members(result.raw.get(), added)?;
    splice(message, result.span, &edited)
}

/// An object of `members` without those `dropped` says so of, the others
/// as they were written.
fn object_without(members: &[(String, &RawValue)], dropped: impl Fn(&str) -> bool) -> String {
    let kept: Vec<String> = members
        .iter()
        .filter(|(key, _)| !dropped(key))
        .map(|(key, value)| {
            format!(
                "{}:{}",
                serde_json::to_string(key).unwrap_or_default(),
                value.get()
            )
        })
        .collect();
    format!("{{{}}}", kept.join(","))
}

fn splice(text: &str, span: std::ops::Range<usize>, replacement: &str) -> Result<String, String> {
    let spliced = Splice {
        span,
        replacement: replacement.to_owned(),
    }
    .apply(text.as_bytes())
    .ok_or("span outside the text")?;
    String::from_utf8(spliced).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_go_first_and_present_ones_stay() {
        assert_eq!(
            insert_members(r#"{ "b" : 2 }"#, &[("a", "1".into())]).expect("object"),
            r#"{"a":1, "b" : 2 }"#
        );
        assert_eq!(
            insert_members("{}", &[("a", "1".into())]).expect("object"),
            r#"{"a":1}"#
        );
        assert_eq!(
            insert_members(r#"{"a":0}"#, &[("a", "1".into())]).expect("object"),
            r#"{"a":0}"#
        );
        assert!(insert_members("[1]", &[("a", "1".into())]).is_err());
    }

    #[test]
    fn ids_meta_params_and_results_are_edited_in_place() {
        let request = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"z":1,"a":2}}}"#;
        assert_eq!(
            set_id(request, r#""b-1""#).expect("edited"),
            request.replacen(r#""id":7"#, r#""id":"b-1""#, 1)
        );
        let meta = [("k", r#""v""#.to_owned())];
        assert_eq!(
            insert_meta(request, &meta).expect("edited"),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"k":"v"},"name":"x","arguments":{"z":1,"a":2}}}"#
        );
        let with_meta =
            r#"{"jsonrpc":"2.0","id":7,"method":"m","params":{"_meta":{"progressToken":3}}}"#;
        assert_eq!(
            insert_meta(with_meta, &meta).expect("edited"),
            r#"{"jsonrpc":"2.0","id":7,"method":"m","params":{"_meta":{"k":"v","progressToken":3}}}"#
        );
        let bare = r#"{"jsonrpc":"2.0","id":7,"method":"m"}"#;
        assert_eq!(
            insert_meta(bare, &meta).expect("edited"),
            r#"{"params":{"_meta":{"k":"v"}},"jsonrpc":"2.0","id":7,"method":"m"}"#
        );
        let modern = r#"{"jsonrpc":"2.0","id":7,"method":"m","params":{"x":1,"_meta":{"a":1,"progressToken":3}}}"#;
        assert_eq!(
            remove_meta(modern, &["a"]).expect("edited"),
            r#"{"jsonrpc":"2.0","id":7,"method":"m","params":{"x":1,"_meta":{"progressToken":3}}}"#
        );
        assert_eq!(
            remove_meta(modern, &["a", "progressToken"]).expect("edited"),
            r#"{"jsonrpc":"2.0","id":7,"method":"m","params":{"x":1}}"#
        );
        assert_eq!(remove_meta(bare, &["a"]).expect("unchanged"), bare);
        let answered = r#"{"id":2,"method":"tools/call","params":{"name":"x","inputResponses":{"approval":{"action":"accept"},"q":{"v":1}}}}"#;
        assert_eq!(
            remove_in_params(answered, "inputResponses", &["approval"]).expect("edited"),
            r#"{"id":2,"method":"tools/call","params":{"name":"x","inputResponses":{"q":{"v":1}}}}"#
        );
        assert_eq!(
            remove_in_params(answered, "inputResponses", &["approval", "q"]).expect("edited"),
            r#"{"id":2,"method":"tools/call","params":{"name":"x"}}"#
        );
        let response = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        assert_eq!(
            insert_result(response, &[("resultType", r#""complete""#.into())]).expect("edited"),
            r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[]}}"#
        );
    }
}
