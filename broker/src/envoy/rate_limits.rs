//! `rateLimits` in the local Envoy: on the routed-call route, one
//! `rate_limits` entry per limit (its descriptor: the limit's name, then
//! each key from a request header the router or `jwt_authn` set) and the
//! route's `local_ratelimit` configuration holding one token bucket per
//! descriptor, a bucket per distinct value where a key's value is left
//! empty (Envoy's wildcard descriptors, kept in an LRU of
//! `max_dynamic_descriptors`). Calls no limit matches pass (the default
//! bucket is never consumed).

use mcp_protocol::headers;
use serde_json::{Value, json};

use crate::config::GatewayConfig;
use gateway_config::{RateLimit, RateLimitKey};

/// Distinct values (identities × tools) whose buckets Envoy keeps.
const MAX_DYNAMIC_DESCRIPTORS: u32 = 10_000;

fn key_name(key: RateLimitKey) -> &'static str {
    match key {
        RateLimitKey::Identity => "identity",
        RateLimitKey::Server => "server",
        RateLimitKey::Tool => "tool",
    }
}

/// The (descriptor key, header, fixed value) entries of `limit`, in order.
fn entries<'c>(
    limit: &'c RateLimit,
    identity: Option<&'c str>,
) -> Vec<(&'static str, &'c str, Option<&'c str>)> {
    let mut entries = Vec::new();
    let mut push = |key: RateLimitKey, fixed: Option<&'c str>| {
        let header = match key {
            RateLimitKey::Identity => identity.unwrap_or_default(),
            RateLimitKey::Server => headers::X_MCP_SERVERNAME,
            RateLimitKey::Tool => headers::X_MCP_TOOLNAME,
        };
        if !entries.iter().any(|(k, _, _)| *k == key_name(key)) {
            entries.push((key_name(key), header, fixed));
        }
    };
    if let Some(server) = &limit.server {
        push(RateLimitKey::Server, Some(server));
    }
    if let Some(tool) = &limit.tool {
        push(RateLimitKey::Tool, Some(tool));
    }
    for key in &limit.key {
        push(*key, None);
    }
    entries
}

/// The route's `rate_limits` (a JSON list, `[]` without limits).
pub fn route_rate_limits(config: &GatewayConfig) -> String {
    let identity = config.identity_header();
    let limits: Vec<Value> = config
        .rate_limits
        .iter()
        .map(|limit| {
            let mut actions = vec![json!({ "generic_key": {
                "descriptor_key": "mcp_limit", "descriptor_value": limit.name
            } })];
            for (key, header, _) in entries(limit, identity) {
                actions.push(json!({ "request_headers": {
                    "header_name": header, "descriptor_key": key
                } }));
            }
            json!({ "actions": actions })
        })
        .collect();
    Value::Array(limits).to_string()
}

/// The route's `typed_per_filter_config` (`{}` without limits).
pub fn route_filter_config(config: &GatewayConfig) -> String {
    if config.rate_limits.is_empty() {
        return "{}".to_owned();
    }
    let identity = config.identity_header();
    let descriptors: Vec<Value> = config
        .rate_limits
        .iter()
        .map(|limit| {
            let mut descriptor_entries = vec![json!({ "key": "mcp_limit", "value": limit.name })];
            for (key, _, fixed) in entries(limit, identity) {
                descriptor_entries.push(json!({ "key": key, "value": fixed.unwrap_or_default() }));
            }
            json!({
                "entries": descriptor_entries,
                "token_bucket": {
                    "max_tokens": limit.requests,
                    "tokens_per_fill": limit.requests,
                    "fill_interval": format!("{}s", limit.per_seconds),
                }
            })
        })
        .collect();
    json!({
        "envoy.filters.http.local_ratelimit": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "mcp_tool_calls",
            // Only descriptor buckets limit: a call no limit names passes.
            "token_bucket": { "max_tokens": 1_000_000_000u64, "tokens_per_fill": 1_000_000_000u64, "fill_interval": "1s" },
            "always_consume_default_token_bucket": false,
            "descriptors": descriptors,
            "max_dynamic_descriptors": MAX_DYNAMIC_DESCRIPTORS,
            "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
            "filter_enabled": { "default_value": { "numerator": 100, "denominator": "HUNDRED" } },
            "filter_enforced": { "default_value": { "numerator": 100, "denominator": "HUNDRED" } }
        }
    })
    .to_string()
}
