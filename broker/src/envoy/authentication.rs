//! The local Envoy's part of `authentication` and `policy`: the filters,
//! routes, local-reply mapper and JWKS cluster rendered into the bootstrap.
//! Each is a YAML fragment of JSON flow items at its place's indentation
//! (empty when neither section is set).
//!
//! - `envoy.filters.http.header_mutation` removes a client's own copies of
//!   the claims and subject headers, so only `jwt_authn` sets them;
//! - `envoy.filters.http.jwt_authn` requires a bearer JWT on every path but
//!   the well-known metadata, forwards the verified payload in the claims
//!   header (base64url) and `sub` in the subject header, and keeps
//!   `Authorization` (the router removes it per upstream);
//! - a `401` Envoy answers itself carries `WWW-Authenticate: Bearer
//!   resource_metadata="…"` (RFC 9728 §5.1) and a JSON-RPC error body.

use serde_json::{Value, json};

use crate::config::GatewayConfig;

/// Cluster of a JWKS fetched from a URL.
pub const JWKS_CLUSTER: &str = "mcp_jwks";
/// The `jwt_authn` provider's name.
const PROVIDER: &str = "gateway";

/// Lines of a YAML block sequence, each item one JSON flow mapping.
fn items(indent: usize, values: &[Value]) -> String {
    values
        .iter()
        .map(|v| format!("{:indent$}- {v}", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The HTTP filters before the router.
pub fn filters(config: &GatewayConfig) -> String {
    let policy = &config.policy;
    let mut removed = Vec::new();
    let jwt = config.authentication.as_ref().and_then(|a| a.jwt.as_ref());
    if jwt.is_some() || !policy.rules.is_empty() {
        removed.push(policy.claims_header.clone());
    }
    if let Some(header) = config.identity_header() {
        removed.push(header.to_owned());
    }
    removed.dedup();
    let mut filters = Vec::new();
    if !removed.is_empty() {
        filters.push(json!({
            "name": "envoy.filters.http.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                "mutations": {
                    "request_mutations": removed.iter().map(|h| json!({ "remove": h })).collect::<Vec<_>>()
                }
            }
        }));
    }
    if let Some(jwt) = jwt {
        let mut provider = json!({
            "issuer": jwt.issuer,
            "forward": true,
            "forward_payload_header": policy.claims_header,
            "claim_to_headers": [{ "header_name": jwt.subject_header, "claim_name": "sub" }],
        });
        if !jwt.audiences.is_empty() {
            provider["audiences"] = json!(jwt.audiences);
        }
        match (&jwt.jwks.file, &jwt.jwks.uri) {
            (Some(file), _) => {
                provider["local_jwks"] = json!({ "filename": file.display().to_string() });
            }
            (None, Some(uri)) => {
                provider["remote_jwks"] = json!({
                    "http_uri": { "uri": uri.as_str(), "cluster": JWKS_CLUSTER, "timeout": "5s" },
                    "cache_duration": format!("{}s", jwt.jwks.cache_seconds.max(1)),
                    "async_fetch": {},
                    "retry_policy": { "num_retries": 3 },
                });
            }
            (None, None) => {}
        }
        filters.push(json!({
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": { PROVIDER: provider },
                "rules": [
                    { "match": { "prefix": gateway_config::METADATA_PATH } },
                    { "match": { "prefix": "/" }, "requires": { "provider_name": PROVIDER } }
                ]
            }
        }));
    }
    items(10, &filters)
}

/// The metadata route, to the broker (before the catch-all `404`).
pub fn routes(config: &GatewayConfig, broker_cluster: &str) -> String {
    if config.authentication.is_none() {
        return String::new();
    }
    items(
        14,
        &[json!({
            "match": { "prefix": gateway_config::METADATA_PATH },
            "route": { "cluster": broker_cluster, "timeout": "10s" }
        })],
    )
}

/// The `401` mapper: the challenge header and a JSON-RPC error body (when
/// this Envoy verifies tokens).
pub fn reply_mappers(config: &GatewayConfig) -> String {
    let Some(authentication) = config.authentication.as_ref().filter(|a| a.jwt.is_some()) else {
        return String::new();
    };
    items(
        12,
        &[json!({
            "filter": { "status_code_filter": { "comparison": {
                "op": "EQ",
                "value": { "default_value": 401, "runtime_key": "mcp_gateway.unauthorized_status" }
            } } },
            "headers_to_add": [{
                "header": { "key": "www-authenticate", "value": authentication.challenge() },
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"
            }],
            "body_format_override": { "json_format": {
                "jsonrpc": "2.0",
                "id": null,
                "error": {
                    "code": mcp_protocol::ErrorCode::Forbidden.code(),
                    "message": "Unauthorized: a valid bearer token is required; the WWW-Authenticate header names the authorization server's metadata"
                }
            } }
        })],
    )
}

/// The JWKS cluster, when the keys come from a URL (TLS for `https`).
pub fn clusters(config: &GatewayConfig) -> String {
    let Some(jwks) = config
        .authentication
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|jwt| &jwt.jwks)
    else {
        return String::new();
    };
    let Some(uri) = &jwks.uri else {
        return String::new();
    };
    items(
        2,
        &[super::resources::url_cluster(
            JWKS_CLUSTER,
            uri,
            jwks.ca_file.as_deref(),
        )],
    )
}
