//! Gateway session ids: unguessable and signed, so any broker replica that
//! shares the key can verify one without a shared store.
//!
//! Layout (base64url, no padding): `payload || tag`, where `payload` is 16
//! random bytes, the negotiated protocol version's index (1 byte) and the
//! issue time (8 bytes, big-endian Unix seconds), and `tag` is the first 16
//! bytes of HMAC-SHA256(key, payload). 54 visible-ASCII characters: a valid
//! `Mcp-Session-Id` (MCP 2025-11-25, "Session Management").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

const RANDOM_LEN: usize = 16;
const PAYLOAD_LEN: usize = RANDOM_LEN + 1 + 8;
const TAG_LEN: usize = 16;

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

    /// Mints a new session id for a session that negotiated
    /// `protocol_version` (one of [`mcp_protocol::versions::SUPPORTED`]).
    pub fn mint(&self, protocol_version: &str) -> String {
        self.mint_at(protocol_version, SystemTime::now())
    }

    fn mint_at(&self, protocol_version: &str, now: SystemTime) -> String {
        let mut payload = [0u8; PAYLOAD_LEN];
        rand::rng().fill_bytes(&mut payload[..RANDOM_LEN]);
        payload[RANDOM_LEN] = mcp_protocol::versions::SUPPORTED
            .iter()
            .position(|v| *v == protocol_version)
            .unwrap_or(0) as u8;
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        payload[RANDOM_LEN + 1..].copy_from_slice(&secs.to_be_bytes());
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
        secs.copy_from_slice(&payload[RANDOM_LEN + 1..]);
        let issued_at = UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(secs));
        if now.duration_since(issued_at).unwrap_or_default() > self.max_age {
            return Err(TokenError::Expired);
        }
        Ok(SessionClaims {
            protocol_version,
            issued_at,
        })
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
        let id = signer().mint("2025-06-18");
        assert!(mcp_protocol::session_id::is_valid(id.as_bytes()));
        assert_eq!(
            signer().verify(&id).expect("valid").protocol_version,
            "2025-06-18"
        );
        assert_ne!(signer().mint("2025-06-18"), id, "ids are random");
    }

    #[test]
    fn another_key_tampering_and_garbage_are_refused() {
        let id = signer().mint("2025-11-25");
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
        let id = signer().mint_at("2025-06-18", minted);
        assert!(
            signer()
                .verify_at(&id, minted + Duration::from_secs(59))
                .is_ok()
        );
        assert_eq!(
            signer().verify_at(&id, minted + Duration::from_secs(61)),
            Err(TokenError::Expired)
        );
    }
}
