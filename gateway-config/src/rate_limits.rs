//! `rateLimits`: token buckets on routed calls, kept by the local Envoy's
//! `local_ratelimit` filter, one bucket per value of each key (the caller's
//! verified identity, the server, the tool) the limit names. A call over
//! its limit gets `429` with a JSON-RPC error, before it reaches the
//! upstream. Buckets are per Envoy process (each replica keeps its own).

use serde::{Deserialize, Serialize};

/// What a limit counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RateLimitKey {
    /// The verified identity (the `sessionBinding.identityHeader`, or the
    /// JWT subject header of `authentication`).
    Identity,
    /// The upstream server (`x-mcp-servername`).
    Server,
    /// The tool's upstream name (`x-mcp-toolname`).
    Tool,
}

/// One limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Names the limit (in Envoy's descriptors and stats).
    pub name: String,
    /// Calls allowed per window, per bucket.
    pub requests: u32,
    /// The window, in seconds (at least 1).
    pub per_seconds: u32,
    /// A bucket per value of each key; empty: one bucket for every call
    /// the limit applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<RateLimitKey>,
    /// Only calls to this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Only calls of this tool (its upstream name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

pub(crate) fn validate(limits: &[RateLimit], identity_header: Option<&str>) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for limit in limits {
        let valid_name = !limit.name.is_empty()
            && limit.name.len() <= 63
            && limit
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !valid_name {
            return Err(format!(
                "rateLimits name {:?}: 1 to 63 characters of a-z A-Z 0-9 - _",
                limit.name
            ));
        }
        if !names.insert(limit.name.as_str()) {
            return Err(format!("rateLimits name {:?} is used twice", limit.name));
        }
        if limit.requests == 0 || limit.per_seconds == 0 {
            return Err(format!(
                "rateLimits {:?}: requests and perSeconds are at least 1",
                limit.name
            ));
        }
        if limit.key.contains(&RateLimitKey::Identity) && identity_header.is_none() {
            return Err(format!(
                "rateLimits {:?}: key identity needs a verified identity header (authentication, or sessionBinding.identityHeader)",
                limit.name
            ));
        }
    }
    Ok(())
}
