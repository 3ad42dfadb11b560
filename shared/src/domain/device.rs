//! Devices: what the user said about one (trust) and what that makes it now.
//! The rules are in docs/design.md.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Epoch, UserId};

/// The fingerprint's key: a hash, so the key is fixed-size whatever the client sends.
pub fn fingerprint_hash(fingerprint: &str) -> String {
    hex::encode(Sha256::digest(fingerprint.as_bytes()))
}

/// What reads show of a fingerprint (`deviceFingerprint`): 16 hex digits of a per-user
/// digest of its hash. Enough to tell devices apart; useless for claiming a device's
/// trust, which takes the raw fingerprint, and not the key it is stored under.
pub fn fingerprint_digest(user: &UserId, hash: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"flashback-device-fingerprint\0")
        .chain_update(user.as_str())
        .chain_update(b"\0")
        .chain_update(hash)
        .finalize();
    hex::encode(&digest[..8])
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
