//! The domain: identifiers parsed at the edge, and the pure rules of trust and
//! session lifetime. Nothing here does I/O or knows HTTP or DynamoDB, so all of it is
//! unit-tested; the rules themselves are told in docs/design.md.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch; every stored time is one, every sent time RFC 3339.
pub type Epoch = i64;

pub fn now() -> Epoch {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `2026-11-27T12:00:00Z`.
pub fn rfc3339(epoch: Epoch) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An enum as it is spelled on the wire and in the table: `as_str` and its inverse
/// `parse` (`None` for any other text) come from one list, so a new variant is one
/// line. Serde's `rename_all` on the serialized ones must agree: tested below.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

mod account;
mod device;
mod event;
mod ids;
mod session;

pub use account::{Account, Device, ProofRefused, Session};
pub use device::{
    DeviceType, DigestKey, TrustLevel, TrustState, fingerprint_digest, fingerprint_hash,
    trust_level,
};
pub use event::{Actor, EventType, Origin, SecurityEvent, Target, TargetType};
pub use ids::{DeviceId, SessionId, UserId};
pub use session::{EndReason, Lifetime, SessionEnded, SessionStatus, sliding_expiry, used_id_ttl};

#[cfg(test)]
mod tests {
    use super::*;

    /// Each wire enum parses what it writes, and serde writes the same text.
    #[test]
    fn wire_enums_round_trip_and_agree_with_serde() {
        fn round_trip<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &value in all {
                assert_eq!(parse(as_str(value)), Some(value));
            }
            assert_eq!(parse("NOT_A_VARIANT"), None);
        }
        fn like_serde<T: Copy + serde::Serialize>(all: &[T], as_str: fn(T) -> &'static str) {
            for &value in all {
                assert_eq!(serde_json::to_value(value).unwrap(), as_str(value));
            }
        }
        round_trip(EndReason::ALL, EndReason::as_str, EndReason::parse);
        round_trip(EventType::ALL, EventType::as_str, EventType::parse);
        round_trip(DeviceType::ALL, DeviceType::as_str, DeviceType::parse);
        round_trip(TargetType::ALL, TargetType::as_str, TargetType::parse);
        round_trip(TrustState::ALL, TrustState::as_str, TrustState::parse);
        round_trip(
            SessionStatus::ALL,
            SessionStatus::as_str,
            SessionStatus::parse,
        );
        like_serde(EndReason::ALL, EndReason::as_str);
        like_serde(EventType::ALL, EventType::as_str);
        like_serde(DeviceType::ALL, DeviceType::as_str);
        like_serde(TargetType::ALL, TargetType::as_str);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_780_800), "2026-11-27T12:00:00Z");
    }
}
