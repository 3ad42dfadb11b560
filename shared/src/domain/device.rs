//! Devices: what the user said about one (trust) and what that makes it now.
//! The rules are in docs/design.md.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Epoch, UserId};

/// The fingerprint's key: a hash, so the key is fixed-size whatever the client sends.
pub fn fingerprint_hash(fingerprint: &str) -> String {
    hex::encode(Sha256::digest(fingerprint.as_bytes()))
}

/// The deployment's key for [`fingerprint_digest`] (`FINGERPRINT_DIGEST_KEY`, else
/// derived from the HS256 secret; docs/design.md "Fingerprints"). No API returns it.
#[derive(Clone)]
pub struct DigestKey([u8; 32]);

impl DigestKey {
    /// A key from secret material: a one-way derivation, so the key tells nothing of
    /// the material (the JWT secret, when derived from it).
    pub fn derive(material: &[u8]) -> Self {
        DigestKey(hmac(b"flashback-fingerprint-digest-key", &[material]))
    }
}

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

/// What reads show of a fingerprint (`deviceFingerprint`): 16 hex digits of an
/// HMAC-SHA-256, under the deployment's key, of the user and the fingerprint's hash.
/// Enough to tell devices apart; useless for claiming a device's trust, which takes
/// the raw fingerprint, and not the key it is stored under. Keyed, so no session can
/// test guessed fingerprints against it offline.
pub fn fingerprint_digest(key: &DigestKey, user: &UserId, hash: &str) -> String {
    let digest = hmac(&key.0, &[user.as_str().as_bytes(), b"\0", hash.as_bytes()]);
    hex::encode(&digest[..8])
}

/// HMAC-SHA-256 (RFC 2104) of the concatenated `parts`.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

wire_enum! {
    /// What the user last said about a device.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TrustState {
        /// Never trusted.
        Never = "NEVER",
        Trusted = "TRUSTED",
        /// Trust removed by the user.
        Untrusted = "UNTRUSTED",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrustLevel {
    High,
    Medium,
    Low,
    Unknown,
}

/// HIGH = trusted and not lapsed; MEDIUM = trust has lapsed; LOW = untrusted by the
/// user; UNKNOWN = never trusted. Trust is never forever: it lapses at `expires_at`.
pub fn trust_level(state: TrustState, expires_at: Option<Epoch>, now: Epoch) -> TrustLevel {
    match (state, expires_at) {
        (TrustState::Trusted, Some(expires_at)) if now < expires_at => TrustLevel::High,
        (TrustState::Trusted, _) => TrustLevel::Medium,
        (TrustState::Untrusted, _) => TrustLevel::Low,
        (TrustState::Never, _) => TrustLevel::Unknown,
    }
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum DeviceType {
        Desktop = "DESKTOP",
        Mobile = "MOBILE",
        Tablet = "TABLET",
        Unknown = "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_is_rfc_4231_hmac_sha_256() {
        // RFC 4231, test case 2, the message given in two parts.
        let mac = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn trust_levels() {
        let now = 1_000;
        assert_eq!(
            trust_level(TrustState::Trusted, Some(2_000), now),
            TrustLevel::High
        );
        assert_eq!(
            trust_level(TrustState::Trusted, Some(1_000), now),
            TrustLevel::Medium
        );
        assert_eq!(
            trust_level(TrustState::Trusted, None, now),
            TrustLevel::Medium
        );
        assert_eq!(
            trust_level(TrustState::Untrusted, Some(2_000), now),
            TrustLevel::Low
        );
        assert_eq!(
            trust_level(TrustState::Never, None, now),
            TrustLevel::Unknown
        );
    }
}
