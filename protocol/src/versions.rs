//! MCP protocol versions of the handshake era that the gateway speaks.

/// Newest first. Source: the MCP specification's revisions
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

/// Whether `version` is one the gateway speaks.
pub fn is_supported(version: &str) -> bool {
    SUPPORTED.contains(&version)
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

    #[test]
    fn negotiation_echoes_a_known_version_and_offers_the_latest_otherwise() {
        assert_eq!(negotiate("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate("2025-03-26"), "2025-03-26");
        assert_eq!(negotiate("2024-11-05"), LATEST);
        assert_eq!(negotiate("2026-07-28"), LATEST);
        assert_eq!(negotiate(""), LATEST);
    }
}
