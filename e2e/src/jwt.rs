//! A test issuer: an ES256 key pair made when the test starts, its JWK Set
//! (RFC 7517) for Envoy's `jwt_authn`, and tokens it signs (RFC 7519).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The issuer every test token names.
pub const ISSUER: &str = "https://issuer.test";
/// The audience every test token names.
pub const AUDIENCE: &str = "mcp-gateway";

#[derive(Debug)]
pub struct Issuer {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    kid: String,
}

impl Issuer {
    /// A new P-256 key pair.
    ///
    /// # Panics
    /// When the system has no random source.
    pub fn new(kid: &str) -> Self {
        let random = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
            .expect("a P-256 key pair");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("its own key reads back");
        Issuer {
            pkcs8: pkcs8.as_ref().to_vec(),
            public: pair.public_key().as_ref().to_vec(),
            kid: kid.to_owned(),
        }
    }

    /// The JWK Set with the public key (an uncompressed point: 0x04, x, y).
    pub fn jwks(&self) -> Value {
        let (x, y) = self.public[1..].split_at(32);
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }] })
    }

    /// A token for `subject` with `extra` claims, valid for an hour.
    ///
    /// # Panics
    /// When signing fails (a bug in the test key).
    pub fn token(&self, subject: &str, extra: Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 3600,
        });
        if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
            claims.extend(extra);
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8);
        jsonwebtoken::encode(&header, &claims, &key).expect("a signed token")
    }

    /// The gateway's `authentication` setting trusting this issuer: its JWK
    /// Set written to `dir/jwks.json` (Envoy reads it from there), tokens of
    /// [`ISSUER`] for [`AUDIENCE`] required, the RFC 9728 metadata naming
    /// `resource`.
    ///
    /// # Panics
    /// When `dir` cannot be written.
    pub fn authentication(&self, dir: &std::path::Path, resource: &str) -> Value {
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, self.jwks().to_string()).expect("JWKS written");
        json!({
            "jwt": { "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": { "file": jwks } },
            "resourceMetadata": { "resource": resource }
        })
    }
}

/// A Kuadrant-style `x-mcp-authorized` value: an ES256 JWT signed with the
/// PKCS#8 PEM key `key_pem`, whose `allowed-capabilities` claim is
/// `capabilities` as a JSON string.
///
/// # Panics
/// When the key is not a P-256 PKCS#8 PEM.
pub fn authorized_header(key_pem: &str, capabilities: &Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "iss": "authorino", "exp": now + 600,
        "allowed-capabilities": capabilities.to_string(),
    });
    let key = jsonwebtoken::EncodingKey::from_ec_pem(key_pem.as_bytes()).expect("a P-256 key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &key,
    )
    .expect("a signed header")
}
