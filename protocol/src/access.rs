//! Which browser origins and which `Host` values may reach the MCP
//! endpoint: the DNS-rebinding guard of MCP 2025-11-25 "Transports ›
//! Streamable HTTP › Security Warning" (servers MUST validate `Origin`),
//! applied by the router to every request on the MCP path and by the broker
//! to what it serves.
//!
//! No allocation: these run on every request.

/// Whether a request's `Origin` may call the gateway: absent (not a
/// browser), a loopback origin (`http(s)://localhost|127.0.0.1|[::1]`, any
/// port), or one of `allowed`, compared exactly as browsers serialise
/// origins (scheme, host and non-default port; RFC 6454 §6.1), ignoring
/// ASCII case.
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    is_loopback_origin(origin) || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// Whether `origin` is `http://` or `https://` on a loopback host.
pub fn is_loopback_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    rest.is_some_and(|authority| is_loopback_host(split_host(authority).0))
}

/// Whether the request's `:authority` (`Host`) is one the gateway serves:
/// any when `allowed` is empty; else it must match an entry, ignoring ASCII
/// case. An entry `host` matches that host on any port; `host:port` only
/// that port. Loopback hosts are always allowed, so a local client works
/// whatever the list says.
pub fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let (host, _) = split_host(authority);
    if is_loopback_host(host) {
        return true;
    }
    allowed.iter().any(|entry| {
        let (entry_host, entry_port) = split_host(entry);
        match entry_port {
            None => entry_host.eq_ignore_ascii_case(host),
            Some(_) => entry.eq_ignore_ascii_case(authority),
        }
    })
}

/// `host[:port]` → (host, port); IPv6 literals keep their brackets.
fn split_host(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let (host, rest) = authority.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn origins_absent_loopback_or_listed_are_allowed() {
        let allowed = list(&["https://app.example.com"]);
        assert!(origin_allowed(None, &allowed));
        assert!(origin_allowed(Some("http://localhost:5173"), &allowed));
        assert!(origin_allowed(Some("http://127.0.0.1"), &allowed));
        assert!(origin_allowed(Some("https://[::1]:8443"), &allowed));
        assert!(origin_allowed(Some("https://APP.example.com"), &allowed));
        assert!(!origin_allowed(Some("https://evil.example"), &allowed));
        assert!(!origin_allowed(
            Some("http://localhost.evil.example"),
            &allowed
        ));
        assert!(!origin_allowed(Some("null"), &allowed));
        assert!(!origin_allowed(
            Some("https://app.example.com:8443"),
            &allowed
        ));
    }

    #[test]
    fn hosts_match_by_name_or_name_and_port() {
        let allowed = list(&["mcp.example.com", "gw.internal:8080"]);
        assert!(host_allowed("anything", &[]));
        assert!(host_allowed("mcp.example.com", &allowed));
        assert!(host_allowed("MCP.example.com:443", &allowed));
        assert!(host_allowed("gw.internal:8080", &allowed));
        assert!(!host_allowed("gw.internal:9090", &allowed));
        assert!(!host_allowed("gw.internal", &allowed));
        assert!(!host_allowed("evil.example:8080", &allowed));
        assert!(host_allowed("127.0.0.1:8080", &allowed));
        assert!(host_allowed("localhost", &allowed));
        assert!(host_allowed("[::1]:8080", &allowed));
        assert!(!host_allowed("[::2]:8080", &allowed));
    }
}
