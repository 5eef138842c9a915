//! `authentication`: who may reach the MCP endpoint at all (a bearer JWT
//! the local Envoy verifies with `jwt_authn`), and the OAuth 2.0 protected
//! resource metadata (RFC 9728) that lets MCP clients find the
//! authorization server (MCP 2025-11-25 "Authorization › Authorization
//! Server Discovery").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

/// The well-known path prefix of the metadata (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Bearer-token authentication of every MCP request, and the metadata
/// that tells clients where to get a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// The local Envoy verifies tokens itself. Absent where something in
    /// front of the gateway does (Kuadrant `AuthPolicy`, Istio
    /// `RequestAuthentication`): the broker then only serves the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtConfig>,
    pub resource_metadata: ResourceMetadataConfig,
}

/// How the local Envoy verifies tokens (its `jwt_authn` filter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// Accepted `aud` values; empty: any audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Where the verification keys are (RFC 7517 JWK Set).
    pub jwks: JwksSource,
    /// The request header the caller's `sub` is copied into, which binds
    /// gateway sessions to it (unless `sessionBinding.identityHeader` names
    /// another). Default `x-jwt-sub`.
    #[serde(default = "default_subject_header")]
    pub subject_header: String,
}

/// A JWK Set: a file, or a URL Envoy fetches and caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwksSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Url>,
    /// CA bundle that verifies an `https` `uri`. Default the system's
    /// (`/etc/ssl/certs/ca-certificates.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// How long Envoy keeps a fetched set, in seconds. Default 300.
    #[serde(default = "default_jwks_cache_seconds")]
    pub cache_seconds: u64,
}

/// The protected resource metadata document (RFC 9728 §2), served at
/// `/.well-known/oauth-protected-resource` and at that path followed by the
/// resource's own path, without a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceMetadataConfig {
    /// The resource identifier: the MCP endpoint's URL as clients use it
    /// (`https://mcp.example.com/mcp`). Tokens are issued for it (RFC 8707).
    pub resource: Url,
    /// Issuer URLs of the authorization servers; default the JWT issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes clients may request; also sent as `scope` in the
    /// `WWW-Authenticate` challenge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Default `["header"]` (RFC 6750 §2.1).
    #[serde(default = "default_bearer_methods")]
    pub bearer_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<Url>,
}

impl AuthenticationConfig {
    /// The metadata document, RFC 9728 §2 member names.
    pub fn metadata_document(&self) -> serde_json::Value {
        let metadata = &self.resource_metadata;
        let servers = match (&self.jwt, metadata.authorization_servers.is_empty()) {
            (Some(jwt), true) => vec![jwt.issuer.clone()],
            _ => metadata.authorization_servers.clone(),
        };
        let mut document = serde_json::json!({
            "resource": metadata.resource.as_str(),
            "authorization_servers": servers,
            "bearer_methods_supported": metadata.bearer_methods_supported,
        });
        if !metadata.scopes_supported.is_empty() {
            document["scopes_supported"] = serde_json::json!(metadata.scopes_supported);
        }
        if let Some(name) = &metadata.resource_name {
            document["resource_name"] = serde_json::json!(name);
        }
        if let Some(docs) = &metadata.resource_documentation {
            document["resource_documentation"] = serde_json::json!(docs.as_str());
        }
        document
    }

    /// The paths the document is served at: the well-known prefix, and it
    /// followed by the resource's path (RFC 9728 §3.1), when that is not `/`.
    pub fn metadata_paths(&self) -> Vec<String> {
        let path = self.resource_metadata.resource.path().trim_end_matches('/');
        let mut paths = vec![METADATA_PATH.to_owned()];
        if !path.is_empty() {
            paths.push(format!("{METADATA_PATH}{path}"));
        }
        paths
    }

    /// The metadata URL clients are pointed at: the resource's origin, the
    /// well-known prefix, the resource's path (RFC 9728 §3.1).
    pub fn metadata_url(&self) -> String {
        let resource = &self.resource_metadata.resource;
        let origin = resource.origin().ascii_serialization();
        let path = resource.path().trim_end_matches('/');
        format!("{origin}{METADATA_PATH}{path}")
    }

    /// The `WWW-Authenticate` value of a `401` (RFC 9728 §5.1; RFC 6750
    /// §3 for `scope`).
    pub fn challenge(&self) -> String {
        let mut value = format!("Bearer resource_metadata=\"{}\"", self.metadata_url());
        let scopes = &self.resource_metadata.scopes_supported;
        if !scopes.is_empty() {
            value.push_str(&format!(", scope=\"{}\"", scopes.join(" ")));
        }
        value
    }

    pub(crate) fn resolve_paths(&mut self, resolve: impl Fn(&mut PathBuf)) {
        if let Some(jwt) = &mut self.jwt {
            if let Some(file) = &mut jwt.jwks.file {
                resolve(file);
            }
            if let Some(file) = &mut jwt.jwks.ca_file {
                resolve(file);
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(jwt) = &self.jwt {
            jwt.validate()?;
        } else if self.resource_metadata.authorization_servers.is_empty() {
            return Err(
                "authentication.resourceMetadata.authorizationServers: name at least one (without authentication.jwt there is no issuer to default to)"
                    .to_owned(),
            );
        }
        self.validate_resource()
    }
}

impl JwtConfig {
    fn validate(&self) -> Result<(), String> {
        let jwks = &self.jwks;
        match (&jwks.file, &jwks.uri) {
            (Some(_), None) => {}
            (None, Some(uri)) => {
                if !matches!(uri.scheme(), "http" | "https") || uri.host_str().is_none() {
                    return Err(format!(
                        "authentication.jwt.jwks.uri {uri} must be http(s)://host[:port]/path"
                    ));
                }
            }
            _ => return Err("authentication.jwt.jwks: set exactly one of file, uri".to_owned()),
        }
        if self.issuer.is_empty() {
            return Err("authentication.jwt.issuer is empty".to_owned());
        }
        if !valid_header_name(&self.subject_header) {
            return Err(format!(
                "authentication.jwt.subjectHeader {:?}: a lower-case header name (a-z 0-9 -) outside x-mcp-*",
                self.subject_header
            ));
        }
        Ok(())
    }
}

impl AuthenticationConfig {
    fn validate_resource(&self) -> Result<(), String> {
        let resource = &self.resource_metadata.resource;
        if !matches!(resource.scheme(), "http" | "https")
            || resource.query().is_some()
            || resource.fragment().is_some()
        {
            return Err(format!(
                "authentication.resourceMetadata.resource {resource}: an http(s) URL without query or fragment (RFC 9728 §1.2)"
            ));
        }
        let quoted = self
            .resource_metadata
            .scopes_supported
            .iter()
            .any(|s| s.is_empty() || s.contains(['"', '\\', ' ']));
        if quoted {
            return Err(
                "authentication.resourceMetadata.scopesSupported: scopes are non-empty, without spaces, quotes or backslashes (RFC 6749 §3.3)"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// A header name the router reads and Envoy sets: lower case, outside the
/// router's own `x-mcp-*` (which it strips from client requests).
pub(crate) fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(mcp_protocol::headers::ROUTER_PREFIX)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn default_subject_header() -> String {
    "x-jwt-sub".to_owned()
}
fn default_jwks_cache_seconds() -> u64 {
    300
}
fn default_bearer_methods() -> Vec<String> {
    vec!["header".to_owned()]
}
