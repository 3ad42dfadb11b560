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

mod account;
mod device;
mod event;
mod ids;
mod session;

pub use account::{Account, Device, Session};
pub use device::{
    DeviceType, TrustLevel, TrustState, fingerprint_digest, fingerprint_hash, trust_level,
};
pub use event::{Actor, EventType, Origin, SecurityEvent, Target, TargetType};
pub use ids::{DeviceId, SessionId, UserId};
pub use session::{EndReason, Lifetime, SessionEnded, SessionStatus, sliding_expiry, used_id_ttl};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_780_800), "2026-11-27T12:00:00Z");
    }
}
