//! Gateway session ids: unguessable and signed, so any broker replica that
//! shares the key can verify one without a shared store.
//!
//! Layout (base64url, no padding): `payload || tag`, where `payload` is 16
//! random bytes, the negotiated protocol version's index (1 byte), the
//! client's declared capabilities ([`ClientCapabilities`], 1 byte), the
//! issue time (8 bytes, big-endian Unix seconds) and the fingerprint of the
//! identity that opened the session (16 bytes, [`fingerprint`]), and `tag`
//! is the first 16 bytes of HMAC-SHA256(key, payload). 78 visible-ASCII
//! characters: a valid `Mcp-Session-Id` (MCP 2025-11-25, "Session
//! Management"). The binding is inside the signature, so any replica can
//! check it without a store (MCP "Security Best Practices › Session
//! Hijacking").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use mcp_protocol::identity::Identity;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::client_capabilities::ClientCapabilities;

const RANDOM_LEN: usize = 16;
const FINGERPRINT_LEN: usize = 16;
const CAPABILITIES_AT: usize = RANDOM_LEN + 1;
const ISSUED_AT: usize = CAPABILITIES_AT + 1;
const IDENTITY_AT: usize = ISSUED_AT + 8;
const PAYLOAD_LEN: usize = IDENTITY_AT + FINGERPRINT_LEN;
const TAG_LEN: usize = 16;

/// A 16-byte digest of an identity: SHA-256 over a domain label, the
/// identity's kind and its bytes, truncated. Collisions would let one
/// identity use another's session, hence a cryptographic digest.
pub fn fingerprint(identity: Identity<'_>) -> [u8; FINGERPRINT_LEN] {
    let mut digest = Sha256::new();
    digest.update(b"mcp-wasm-gateway identity v1\0");
    digest.update([identity.tag()]);
    digest.update(identity.bytes());
    let mut out = [0u8; FINGERPRINT_LEN];
    out.copy_from_slice(&digest.finalize()[..FINGERPRINT_LEN]);
    out
}

/// Signs and verifies gateway session ids.
#[derive(Clone)]
pub struct SessionSigner {
    key: Vec<u8>,
    max_age: Duration,
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSigner")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// What a verified session id carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// The protocol version negotiated at `initialize`.
    pub protocol_version: &'static str,
    pub issued_at: SystemTime,
    /// When the session stops being valid.
    pub expires_at: SystemTime,
    /// [`fingerprint`] of the identity that opened the session.
    pub identity: [u8; FINGERPRINT_LEN],
    /// What its client declared at `initialize`.
    pub client_capabilities: ClientCapabilities,
}

impl SessionClaims {
    /// Whether `identity` is the one that opened the session.
    pub fn is_bound_to(&self, identity: Identity<'_>) -> bool {
        self.identity == fingerprint(identity)
    }

    /// [`SessionClaims::expires_at`] in Unix seconds.
    pub fn expires_at_unix(&self) -> u64 {
        self.expires_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    }
}

/// Why a session id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a gateway session id")]
    Malformed,
    #[error("signature does not match")]
    BadSignature,
    #[error("session expired")]
    Expired,
}

impl SessionSigner {
    /// A signer with the given key (any length; 32 random bytes or more is
    /// right) and maximum session age.
    pub fn new(key: impl Into<Vec<u8>>, max_age: Duration) -> Self {
        SessionSigner {
            key: key.into(),
            max_age,
        }
    }

    /// A signer with a fresh random key: ids it mints die with the process.
    pub fn random(max_age: Duration) -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self::new(key, max_age)
    }

    /// The same key with another maximum session age.
    pub fn with_max_age(&self, max_age: Duration) -> Self {
        SessionSigner {
            key: self.key.clone(),
            max_age,
        }
    }

    /// Whether this signer uses `key`.
    pub fn has_key(&self, key: &[u8]) -> bool {
        self.key == key
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// A public name of the key (16 hex digits of an HMAC of a fixed
    /// label): the route table carries it so that the router drops every
    /// cached session verified under another key. It reveals nothing of
    /// the key.
    pub fn key_id(&self) -> String {
        let tag = self.tag(b"mcp-wasm-gateway session key id");
        tag[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Mints a new session id for a session that negotiated
    /// `protocol_version` (one of [`mcp_protocol::versions::SUPPORTED`]),
    /// bound to `identity`, whose client declared `capabilities`.
    pub fn mint(
        &self,
        protocol_version: &str,
        identity: Identity<'_>,
        capabilities: ClientCapabilities,
    ) -> String {
        self.mint_at(protocol_version, identity, capabilities, SystemTime::now())
    }

    fn mint_at(
        &self,
        protocol_version: &str,
        identity: Identity<'_>,
        capabilities: ClientCapabilities,
        now: SystemTime,
    ) -> String {
        let mut payload = [0u8; PAYLOAD_LEN];
        rand::rng().fill_bytes(&mut payload[..RANDOM_LEN]);
        payload[RANDOM_LEN] = mcp_protocol::versions::SUPPORTED
            .iter()
            .position(|v| *v == protocol_version)
            .unwrap_or(0) as u8;
        payload[CAPABILITIES_AT] = capabilities.to_byte();
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        payload[ISSUED_AT..IDENTITY_AT].copy_from_slice(&secs.to_be_bytes());
        payload[IDENTITY_AT..].copy_from_slice(&fingerprint(identity));
        let mut token = payload.to_vec();
        token.extend_from_slice(&self.tag(&payload)[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Verifies a session id.
    ///
    /// # Errors
    /// [`TokenError`]: not of this format, signed with another key, or
    /// older than the maximum age.
    pub fn verify(&self, id: &str) -> Result<SessionClaims, TokenError> {
        self.verify_at(id, SystemTime::now())
    }

    fn verify_at(&self, id: &str, now: SystemTime) -> Result<SessionClaims, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(id)
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() != PAYLOAD_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let mut mac = self.mac();
        mac.update(payload);
        mac.verify_truncated_left(tag)
            .map_err(|_| TokenError::BadSignature)?;
        let protocol_version = mcp_protocol::versions::SUPPORTED
            .get(payload[RANDOM_LEN] as usize)
            .copied()
            .ok_or(TokenError::Malformed)?;
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&payload[ISSUED_AT..IDENTITY_AT]);
        let issued_at = UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(secs));
        if now.duration_since(issued_at).unwrap_or_default() > self.max_age {
            return Err(TokenError::Expired);
        }
        let mut identity = [0u8; FINGERPRINT_LEN];
        identity.copy_from_slice(&payload[IDENTITY_AT..]);
        Ok(SessionClaims {
            protocol_version,
            issued_at,
            expires_at: issued_at + self.max_age,
            identity,
            client_capabilities: ClientCapabilities::from_byte(payload[CAPABILITIES_AT]),
        })
    }

    /// `payload` with an HMAC tag over a `purpose` label and it, base64url:
    /// an opaque token the broker alone can have made (the bridge's
    /// `requestState`, MCP 2026-07-28 "Multi Round-Trip Requests": state a
    /// client echoes must be integrity-protected).
    pub fn seal(&self, purpose: &[u8], payload: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(payload);
        let mut token = payload.to_vec();
        token.extend_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The payload of a token [`SessionSigner::seal`] made for `purpose`;
    /// `None` for anything else.
    pub fn open(&self, purpose: &[u8], token: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let split = bytes.len().checked_sub(TAG_LEN)?;
        let (payload, tag) = bytes.split_at(split);
        let mut mac = self.mac();
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(payload);
        mac.verify_truncated_left(tag).ok()?;
        Some(payload.to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).unwrap_or_else(|_| {
            <Hmac<Sha256> as KeyInit>::new_from_slice(&[0]).expect("1-byte key")
        })
    }

    fn tag(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> SessionSigner {
        SessionSigner::new(b"test key".to_vec(), Duration::from_secs(60))
    }

    #[test]
    fn a_minted_id_verifies_and_carries_its_version() {
        let sampling =
            ClientCapabilities::of_initialize_params(&serde_json::json!({"sampling": {}}));
        let id = signer().mint("2025-06-18", Identity::Anonymous, sampling);
        assert!(mcp_protocol::session_id::is_valid(id.as_bytes()));
        assert_eq!(id.len(), 78);
        let claims = signer().verify(&id).expect("valid");
        assert_eq!(claims.protocol_version, "2025-06-18");
        assert_eq!(claims.client_capabilities, sampling);
        assert_ne!(
            signer().mint("2025-06-18", Identity::Anonymous, sampling),
            id,
            "ids are random"
        );
    }

    #[test]
    fn another_key_tampering_and_garbage_are_refused() {
        let id = signer().mint(
            "2025-11-25",
            Identity::Anonymous,
            ClientCapabilities::default(),
        );
        let other = SessionSigner::new(b"other key".to_vec(), Duration::from_secs(60));
        assert_eq!(other.verify(&id), Err(TokenError::BadSignature));
        let mut bytes = URL_SAFE_NO_PAD.decode(&id).expect("b64");
        bytes[0] ^= 1;
        assert_eq!(
            signer().verify(&URL_SAFE_NO_PAD.encode(bytes)),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer().verify("not-a-session"), Err(TokenError::Malformed));
        assert_eq!(signer().verify(""), Err(TokenError::Malformed));
    }

    #[test]
    fn old_ids_expire() {
        let minted = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let id = signer().mint_at(
            "2025-06-18",
            Identity::Anonymous,
            ClientCapabilities::default(),
            minted,
        );
        assert!(
            signer()
                .verify_at(&id, minted + Duration::from_secs(59))
                .is_ok()
        );
        assert_eq!(
            signer().verify_at(&id, minted + Duration::from_secs(61)),
            Err(TokenError::Expired)
        );
        let claims = signer().verify_at(&id, minted).expect("valid when minted");
        assert_eq!(claims.expires_at_unix(), 1_000_060);
    }

    #[test]
    fn a_session_is_bound_to_the_identity_that_opened_it() {
        let alice = Identity::Credential(b"Bearer alice");
        let id = signer().mint("2025-06-18", alice, ClientCapabilities::default());
        let claims = signer().verify(&id).expect("valid");
        assert!(claims.is_bound_to(alice));
        assert!(!claims.is_bound_to(Identity::Credential(b"Bearer mallory")));
        assert!(!claims.is_bound_to(Identity::Verified(b"Bearer alice")));
        assert!(!claims.is_bound_to(Identity::Anonymous));
        // The binding is signed: changing it breaks the signature.
        let mut bytes = URL_SAFE_NO_PAD.decode(&id).expect("b64");
        bytes[IDENTITY_AT] ^= 1;
        assert_eq!(
            signer().verify(&URL_SAFE_NO_PAD.encode(bytes)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn sealed_tokens_open_only_with_their_key_and_purpose() {
        let token = signer().seal(b"state", b"payload");
        assert_eq!(
            signer().open(b"state", &token).as_deref(),
            Some(&b"payload"[..])
        );
        assert_eq!(signer().open(b"other", &token), None);
        let other = SessionSigner::new(b"other key".to_vec(), Duration::from_secs(60));
        assert_eq!(other.open(b"state", &token), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("b64");
        bytes[0] ^= 1;
        assert_eq!(
            signer().open(b"state", &URL_SAFE_NO_PAD.encode(bytes)),
            None
        );
        assert_eq!(signer().open(b"state", "x"), None);
    }

    #[test]
    fn the_key_id_names_the_key_without_revealing_it() {
        let other = SessionSigner::new(b"other key".to_vec(), Duration::from_secs(60));
        assert_eq!(signer().key_id(), signer().key_id());
        assert_eq!(signer().key_id().len(), 16);
        assert_ne!(signer().key_id(), other.key_id());
        assert_eq!(
            signer().with_max_age(Duration::from_secs(5)).key_id(),
            signer().key_id()
        );
    }
}
