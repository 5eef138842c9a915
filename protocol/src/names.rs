//! Rules for names the gateway puts in headers and route tables.

/// Upper bound on a tool name's length, in bytes, prefix included.
pub const MAX_TOOL_NAME_LEN: usize = 256;

/// The name a tool is exposed by: its server's prefix, then its upstream
/// name (`weather_` + `get_forecast`). The one place the rule is written:
/// the route table builder, the router's lookup and the broker's lists use
/// it.
pub fn exposed_name(prefix: &str, upstream_name: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + upstream_name.len());
    name.push_str(prefix);
    name.push_str(upstream_name);
    name
}

/// Whether a tool name can be routed: 1 to [`MAX_TOOL_NAME_LEN`] bytes and
/// no ASCII control character.
///
/// The router copies tool names into the `x-mcp-toolname` header, so CR, LF
/// and NUL must never pass (header injection); MCP 2025-11-25 "Tools › Tool
/// Names" recommends a much narrower set (`A-Z a-z 0-9 _ - .`), but older
/// servers use others, so only what would be unsafe is refused here.
pub fn is_routable_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_LEN
        && !name.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Upper bound on a resource URI's (or URI template's) length, in bytes.
pub const MAX_URI_LEN: usize = 2048;

/// Whether a resource URI (or URI template) can be routed: 1 to
/// [`MAX_URI_LEN`] bytes, no ASCII control character and no space. The
/// router copies it into `x-mcp-resourceuri` (non-ASCII bytes
/// percent-encoded), so CR, LF and NUL must never pass.
pub fn is_routable_uri(uri: &str) -> bool {
    !uri.is_empty() && uri.len() <= MAX_URI_LEN && !uri.bytes().any(|b| b <= 0x20 || b == 0x7f)
}

/// A routable URI as a header value: bytes outside visible ASCII (UTF-8 of
/// an IRI) percent-encoded (RFC 3986 §2.1), every other byte as it is.
pub fn header_safe_uri(uri: &str) -> std::borrow::Cow<'_, str> {
    if uri.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return std::borrow::Cow::Borrowed(uri);
    }
    let mut encoded = String::with_capacity(uri.len() + 16);
    for byte in uri.bytes() {
        if (0x21..=0x7e).contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    std::borrow::Cow::Owned(encoded)
}

/// Whether `name` is a valid upstream server name: 1 to 63 bytes of
/// `A-Z a-z 0-9 _ . -`, starting with a letter or digit. Server names appear
/// in the `x-mcp-servername` header, in metrics and in shared-data keys.
pub fn is_valid_server_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `prefix` is a valid tool prefix: empty (no prefix), or
/// `^[a-z0-9][a-z0-9_]*$`, at most 63 bytes (the rule of Kuadrant's
/// `MCPServerRegistration.spec.prefix`, kept for portability).
pub fn is_valid_prefix(prefix: &str) -> bool {
    let bytes = prefix.as_bytes();
    if bytes.is_empty() {
        return true;
    }
    bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn tool_names_refuse_control_characters_and_extremes() {
        assert!(is_routable_tool_name("get_weather"));
        assert!(is_routable_tool_name("ns/tool.v2 beta"));
        assert!(!is_routable_tool_name(""));
        assert!(!is_routable_tool_name("a\r\nx-mcp-servername: evil"));
        assert!(!is_routable_tool_name("nul\0"));
        assert!(!is_routable_tool_name("del\u{7f}"));
        assert!(!is_routable_tool_name(&"x".repeat(MAX_TOOL_NAME_LEN + 1)));
    }

    #[test]
    fn uris_in_headers_are_visible_ascii() {
        assert_eq!(header_safe_uri("file:///a%20b"), "file:///a%20b");
        assert_eq!(header_safe_uri("file:///caf\u{e9}"), "file:///caf%C3%A9");
        assert!(is_routable_uri("file:///caf\u{e9}"));
        assert!(!is_routable_uri("file:///a b"));
        assert!(!is_routable_uri("x://a\r\nx-mcp-servername: evil"));
    }

    #[test]
    fn server_names_and_prefixes_follow_their_patterns() {
        assert!(is_valid_server_name("weather-api.v1_x"));
        assert!(!is_valid_server_name("-weather"));
        assert!(!is_valid_server_name("we ather"));
        assert!(!is_valid_server_name(""));
        assert!(is_valid_prefix(""));
        assert!(is_valid_prefix("weather_"));
        assert!(is_valid_prefix("0x_"));
        assert!(!is_valid_prefix("_weather"));
        assert!(!is_valid_prefix("Weather_"));
        assert!(!is_valid_prefix("wea-ther"));
    }
}
