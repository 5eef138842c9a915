//! MCP protocol versions the gateway speaks, and the era each belongs to:
//! the handshake era (`initialize`, sessions: 2025-03-26 to 2025-11-25) and
//! the stateless era (2026-07-28, "modern": version and capabilities in
//! every request). MCP 2026-07-28, "Versioning".

/// Handshake-era versions, newest first. Source: the MCP specification's revisions
/// (<https://modelcontextprotocol.io/specification>).
pub const SUPPORTED: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The version offered when a client asks for one the gateway does not know
/// (MCP 2025-11-25, "Lifecycle › Version Negotiation": the server answers with
/// another version it supports, its latest).
pub const LATEST: &str = "2025-11-25";

/// Clients of this version and earlier send no `MCP-Protocol-Version`
/// header; a server that receives none assumes it (MCP 2025-06-18,
/// "Protocol Version Header").
pub const DEFAULT_WITHOUT_HEADER: &str = "2025-03-26";

/// Stateless-era versions, newest first.
pub const MODERN: &[&str] = &["2026-07-28"];

/// The newest stateless-era version.
pub const LATEST_MODERN: &str = "2026-07-28";

/// Every version the gateway speaks, modern first: what a
/// `server/discover` result and an unsupported-version error list.
pub const ALL: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];

/// Whether `version` is a handshake-era version the gateway speaks.
pub fn is_supported(version: &str) -> bool {
    SUPPORTED.contains(&version)
}

/// Whether `version` is a stateless-era version the gateway speaks.
pub fn is_modern(version: &str) -> bool {
    MODERN.contains(&version)
}

/// The protocol era of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// `initialize` and sessions (MCP 2025-03-26 to 2025-11-25).
    Handshake,
    /// Stateless, every request self-describing (MCP 2026-07-28).
    Modern,
}

/// The era a request belongs to by its `MCP-Protocol-Version` header: a
/// modern version is the stateless era; a handshake-era version, or no
/// header (clients of 2025-03-26 send none), the handshake era. `Err` with
/// the version for one the gateway does not speak.
///
/// The header decides, as the official SDKs' dual-era servers do: every
/// modern request must carry it (MCP 2026-07-28, "Streamable HTTP ›
/// Protocol Version Header"), and the body is checked against it after.
pub fn era_of(header: Option<&str>) -> Result<Era, &str> {
    match header {
        None => Ok(Era::Handshake),
        Some(version) if is_modern(version) => Ok(Era::Modern),
        Some(version) if is_supported(version) => Ok(Era::Handshake),
        Some(version) => Err(version),
    }
}

/// The version the gateway agrees to for a client that asked for `requested`.
pub fn negotiate(requested: &str) -> &'static str {
    SUPPORTED
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LATEST)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_header_decides_the_era() {
        assert_eq!(era_of(None), Ok(Era::Handshake));
        assert_eq!(era_of(Some("2025-06-18")), Ok(Era::Handshake));
        assert_eq!(era_of(Some("2026-07-28")), Ok(Era::Modern));
        assert_eq!(era_of(Some("2030-01-01")), Err("2030-01-01"));
        assert!(ALL.iter().all(|v| is_supported(v) || is_modern(v)));
    }

    #[test]
    fn negotiation_echoes_a_known_version_and_offers_the_latest_otherwise() {
        assert_eq!(negotiate("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate("2025-03-26"), "2025-03-26");
        assert_eq!(negotiate("2024-11-05"), LATEST);
        assert_eq!(negotiate("2026-07-28"), LATEST);
        assert_eq!(negotiate(""), LATEST);
    }
}
