//! Devices: what the user said about one (trust) and what that makes it now.
//! The rules are in docs/design.md.

use serde::Serialize;

use super::Epoch;

/// What the user last said about a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustState {
    /// Never trusted.
    Never,
    Trusted,
    /// Trust removed by the user.
    Untrusted,
}

impl TrustState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustState::Never => "NEVER",
            TrustState::Trusted => "TRUSTED",
            TrustState::Untrusted => "UNTRUSTED",
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "TRUSTED" => TrustState::Trusted,
            "UNTRUSTED" => TrustState::Untrusted,
            _ => TrustState::Never,
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    Unknown,
}

impl DeviceType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Desktop => "DESKTOP",
            DeviceType::Mobile => "MOBILE",
            DeviceType::Tablet => "TABLET",
            DeviceType::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "DESKTOP" => Some(DeviceType::Desktop),
            "MOBILE" => Some(DeviceType::Mobile),
            "TABLET" => Some(DeviceType::Tablet),
            "UNKNOWN" => Some(DeviceType::Unknown),
            _ => None,
        }
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
