//! Kuadrant's form of identity rules: the trusted `x-mcp-authorized`
//! header, an ES256 JWT (RFC 7519, JWS compact serialization RFC 7515
//! §7.1) that the policy layer in front of the gateway (Kuadrant's
//! `AuthPolicy`, Authorino) signs per request. Its `allowed-capabilities`
//! claim is a JSON **string** holding
//! `{"tools":{"<server>":["<tool>",…]},"prompts":{…},"resources":{"<server>":["<authority>",…]}}`;
//! names are upstream names, resources are matched by their URI's
//! authority. A kind the claim does not name is not restricted by it (as
//! Kuadrant's broker reads it).
//!
//! The signature is checked with RustCrypto's `p256` (ECDSA P-256 with
//! SHA-256, RFC 7518 §3.4) against the configured public key; `exp` and
//! `nbf` against the caller's clock.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_protocol::refusal::Refusal;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::Entry;

/// The claim holding the capabilities.
pub const CLAIM: &str = "allowed-capabilities";

/// Where `x-mcp-authorized` is trusted from, in `policy.authorizedHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizedHeader {
    /// The signer's P-256 public key, PEM (`-----BEGIN PUBLIC KEY-----`,
    /// SubjectPublicKeyInfo).
    pub public_key: String,
    /// A request without the header may use nothing (default `true`).
    /// `false`: such a request is not restricted by this form (Kuadrant's
    /// broker default).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A verified header's capabilities: per kind, per server, the names (or
/// resource authorities). `None` for a kind the claim does not name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub tools: Option<HashMap<String, Vec<String>>>,
    pub prompts: Option<HashMap<String, Vec<String>>>,
    pub resources: Option<HashMap<String, Vec<String>>>,
    /// The token's `exp`, Unix seconds.
    pub expires_at: Option<u64>,
}

/// The configured key, parsed once.
#[derive(Debug, Clone)]
pub struct AuthorizedVerifier {
    key: VerifyingKey,
}

impl AuthorizedVerifier {
    /// # Errors
    /// The key is not a P-256 SubjectPublicKeyInfo PEM.
    pub fn new(config: &AuthorizedHeader) -> Result<Self, String> {
        VerifyingKey::from_public_key_pem(config.public_key.trim())
            .map(|key| AuthorizedVerifier { key })
            .map_err(|e| {
                format!("policy.authorizedHeader.publicKey is not a P-256 public key: {e}")
            })
    }

    /// Verifies a header value and reads its capabilities; `now` is Unix
    /// seconds.
    ///
    /// # Errors
    /// [`Refusal::InvalidIdentity`]: not a compact JWS, another algorithm
    /// than ES256, a bad signature, expired or not yet valid, no
    /// `allowed-capabilities` string of the expected shape.
    pub fn verify(&self, value: &[u8], now: u64) -> Result<Capabilities, Refusal> {
        let invalid = |detail: &str| Refusal::InvalidIdentity {
            detail: format!("x-mcp-authorized: {detail}"),
        };
        let text = std::str::from_utf8(value).map_err(|_| invalid("not ASCII"))?;
        let mut parts = text.trim().split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a compact JWS (three base64url parts)"));
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| invalid("not base64url"))
        };
        let header: serde_json::Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| invalid("header not JSON"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return Err(invalid("alg must be ES256"));
        }
        let signature = Signature::from_slice(&decode(signature)?)
            .map_err(|_| invalid("not an ES256 signature"))?;
        let signed = &text.trim().as_bytes()[..header_and_payload_len(text.trim())];
        self.key
            .verify(signed, &signature)
            .map_err(|_| invalid("signature does not verify"))?;
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&decode(payload)?)
                .map_err(|_| invalid("claims not a JSON object"))?;
        let time = |name: &str| claims.get(name).and_then(serde_json::Value::as_u64);
        if time("exp").is_some_and(|exp| now >= exp) {
            return Err(invalid("expired"));
        }
        if time("nbf").is_some_and(|nbf| now < nbf) {
            return Err(invalid("not yet valid"));
        }
        let claim = claims
            .get(CLAIM)
            .and_then(|c| c.as_str())
            .ok_or_else(|| invalid("no allowed-capabilities string claim"))?;
        type Map = HashMap<String, HashMap<String, Vec<String>>>;
        let mut kinds: Map = serde_json::from_str(claim)
            .map_err(|_| invalid("allowed-capabilities is not {kind: {server: [names]}}"))?;
        Ok(Capabilities {
            tools: kinds.remove("tools"),
            prompts: kinds.remove("prompts"),
            resources: kinds.remove("resources"),
            expires_at: time("exp"),
        })
    }
}

/// Length of `header.payload`, the JWS signing input (RFC 7515 §5.2).
fn header_and_payload_len(text: &str) -> usize {
    text.rfind('.').unwrap_or(0)
}

impl Capabilities {
    /// Whether these capabilities allow the entry `server` knows as
    /// `upstream` (a resource's URI, or a template's).
    pub fn allows(&self, server: &str, entry: Entry, upstream: &str) -> bool {
        let kind = match entry {
            Entry::Tool => &self.tools,
            Entry::Prompt => &self.prompts,
            Entry::Resource | Entry::ResourceTemplate => &self.resources,
        };
        let Some(kind) = kind else {
            return true;
        };
        let Some(listed) = kind.get(server) else {
            return false;
        };
        if entry.is_prefixed() {
            listed.iter().any(|name| name == upstream)
        } else {
            let authority = authority(upstream);
            listed.iter().any(|a| a == authority)
        }
    }
}

/// A URI's (or URI template's) authority: after `scheme://`, up to the
/// next `/`, `?` or `#` (RFC 3986 §3.2); empty without one.
fn authority(uri: &str) -> &str {
    let Some((_, rest)) = uri.split_once("://") else {
        return "";
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const SIGNER: &str = include_str!("../../../../testdata/policy/authorized-signer.key");
    const OTHER: &str = include_str!("../../../../testdata/policy/other-signer.key");
    const TRUSTED: &str = include_str!("../../../../testdata/policy/authorized-signer.pub");

    /// A compact JWS of `claims` signed ES256 by `key_pem` (`alg` as given).
    fn sign(key_pem: &str, alg: &str, claims: &serde_json::Value) -> String {
        use p256::ecdsa::SigningKey;
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::DecodePrivateKey;
        let key = SigningKey::from_pkcs8_pem(key_pem).expect("test key");
        let header =
            URL_SAFE_NO_PAD.encode(serde_json::json!({ "alg": alg, "typ": "JWT" }).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn verifier() -> AuthorizedVerifier {
        AuthorizedVerifier::new(&AuthorizedHeader {
            public_key: TRUSTED.to_owned(),
            required: true,
        })
        .expect("the trusted key")
    }

    fn claims(capabilities: &str, exp: u64) -> serde_json::Value {
        serde_json::json!({ "sub": "ann", "exp": exp, CLAIM: capabilities })
    }

    #[test]
    fn a_header_signed_by_the_trusted_key_gives_its_capabilities() {
        let value = sign(
            SIGNER,
            "ES256",
            &claims(r#"{"tools":{"weather":["forecast"]}}"#, 2_000),
        );
        let capabilities = verifier()
            .verify(value.as_bytes(), 1_000)
            .expect("verified");
        assert_eq!(capabilities.expires_at, Some(2_000));
        assert!(capabilities.allows("weather", Entry::Tool, "forecast"));
        assert!(!capabilities.allows("weather", Entry::Tool, "alerts"));
        assert!(capabilities.prompts.is_none());
    }

    #[test]
    fn forged_expired_and_malformed_headers_are_refused() {
        let good = claims(r#"{"tools":{}}"#, 2_000);
        let cases = [
            (
                "another key",
                sign(OTHER, "ES256", &good),
                "signature does not verify",
            ),
            (
                "another alg",
                sign(SIGNER, "HS256", &good),
                "alg must be ES256",
            ),
            (
                "expired",
                sign(SIGNER, "ES256", &claims("{}", 999)),
                "expired",
            ),
            (
                "not yet valid",
                sign(
                    SIGNER,
                    "ES256",
                    &serde_json::json!({ "nbf": 5_000, CLAIM: "{}" }),
                ),
                "not yet valid",
            ),
            (
                "no claim",
                sign(SIGNER, "ES256", &serde_json::json!({ "sub": "x" })),
                "no allowed-capabilities",
            ),
            (
                "claim not a map",
                sign(SIGNER, "ES256", &claims("[1]", 2_000)),
                "is not {kind",
            ),
            ("two parts", "a.b".to_owned(), "not a compact JWS"),
            ("garbage", "%%.%%.%%".to_owned(), "not base64url"),
        ];
        for (what, value, expected) in cases {
            let refusal = verifier().verify(value.as_bytes(), 1_000).expect_err(what);
            assert_eq!(refusal.label(), "invalid_identity", "{what}");
            assert!(
                refusal.error().message.contains(expected),
                "{what}: {}",
                refusal.error().message
            );
        }
        // A payload swapped under a valid signature.
        let value = sign(SIGNER, "ES256", &good);
        let mut parts: Vec<&str> = value.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(claims(r#"{"tools":{"x":["y"]}}"#, 2_000).to_string());
        parts[1] = &other;
        assert!(
            verifier()
                .verify(parts.join(".").as_bytes(), 1_000)
                .is_err()
        );
    }

    #[test]
    fn a_key_that_is_not_p256_is_a_configuration_error() {
        let error = AuthorizedVerifier::new(&AuthorizedHeader {
            public_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".to_owned(),
            required: true,
        })
        .expect_err("refused");
        assert!(error.contains("not a P-256 public key"), "{error}");
    }

    #[test]
    fn authorities_of_uris_and_templates() {
        assert_eq!(authority("weather://stations/paris"), "stations");
        assert_eq!(authority("file:///etc/motd"), "");
        assert_eq!(authority("https://host:8080?x"), "host:8080");
        assert_eq!(authority("docs://{section}/x"), "{section}");
        assert_eq!(authority("urn:x"), "");
    }

    #[test]
    fn a_kind_the_claim_does_not_name_is_not_restricted() {
        let capabilities = Capabilities {
            tools: Some(HashMap::from([(
                "weather".to_owned(),
                vec!["forecast".to_owned()],
            )])),
            resources: Some(HashMap::from([(
                "weather".to_owned(),
                vec!["stations".to_owned()],
            )])),
            ..Capabilities::default()
        };
        assert!(capabilities.allows("weather", Entry::Tool, "forecast"));
        assert!(!capabilities.allows("weather", Entry::Tool, "alerts"));
        assert!(!capabilities.allows("files", Entry::Tool, "read"));
        assert!(capabilities.allows("files", Entry::Prompt, "any"));
        assert!(capabilities.allows("weather", Entry::Resource, "weather://stations/paris"));
        assert!(!capabilities.allows("weather", Entry::Resource, "weather://private/x"));
    }
}
