//! The domain: identifiers parsed at the edge, and the pure rules of trust and
//! session lifetime. Nothing here does I/O, so all of it is unit-tested.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;

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

/// The user a token names. Opaque, bounded, printable. It only ever comes from a
/// verified token, so a bad one is a bad token (401), never a 400.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Option<Self> {
        let printable = raw.chars().all(|c| !c.is_control());
        (!raw.is_empty() && raw.len() <= 256 && printable).then(|| UserId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session id as the identity platform issues it (the token's session claim).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub const MAX_LEN: usize = 128;

    /// 1 to 128 characters of `A-Z a-z 0-9 . _ ~ : -`: every id format identity
    /// platforms issue (UUIDs, ULIDs, opaque base64url), nothing that needs escaping.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | ':' | '-');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.chars().all(allowed) {
            return Err(Error::bad_request(
                "INVALID_SESSION_ID",
                "Invalid session id",
            ));
        }
        Ok(SessionId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A device id: a UUID we issue, kept in its one canonical (lowercase, hyphenated)
/// spelling so that no two strings name the same device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn new() -> Self {
        DeviceId(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = || Error::bad_request("INVALID_DEVICE_ID", "Invalid device id");
        if raw.len() != 36 {
            return Err(invalid());
        }
        let id = uuid::Uuid::try_parse(raw).map_err(|_| invalid())?;
        let canonical = id.hyphenated().to_string();
        if canonical != raw {
            return Err(invalid());
        }
        Ok(DeviceId(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DeviceId {
    fn default() -> Self {
        Self::new()
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Active,
    Revoked,
}

/// Why a session ended, as the 401 for it says (`reason`), so a client can tell its
/// user: signed out elsewhere, the device removed, idle too long, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndReason {
    /// Revoked by its user (signing out, or from another session).
    Revoked,
    /// Revoke-all.
    RevokedAll,
    DeviceUntrusted,
    DeviceRemoved,
    IdleTimeout,
    AbsoluteTimeout,
    /// Ended to make room under the per-user cap on active sessions.
    Evicted,
    /// Ended by a platform service (`/admin/…`).
    Admin,
    /// Never registered (or long gone): not an ended session but an unknown one.
    NotRegistered,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Revoked => "REVOKED",
            EndReason::RevokedAll => "REVOKED_ALL",
            EndReason::DeviceUntrusted => "DEVICE_UNTRUSTED",
            EndReason::DeviceRemoved => "DEVICE_REMOVED",
            EndReason::IdleTimeout => "IDLE_TIMEOUT",
            EndReason::AbsoluteTimeout => "ABSOLUTE_TIMEOUT",
            EndReason::Evicted => "EVICTED",
            EndReason::Admin => "ADMIN",
            EndReason::NotRegistered => "NOT_REGISTERED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            EndReason::Revoked,
            EndReason::RevokedAll,
            EndReason::DeviceUntrusted,
            EndReason::DeviceRemoved,
            EndReason::IdleTimeout,
            EndReason::AbsoluteTimeout,
            EndReason::Evicted,
            EndReason::Admin,
            EndReason::NotRegistered,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

/// The lifetime of a session: it is alive while active and before both its idle
/// expiry and its absolute cap. Checked in code on every request, because DynamoDB's
/// TTL deletes expired items only eventually and reads still return them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub status: SessionStatus,
    pub expires_at: Epoch,
    pub absolute_expires_at: Epoch,
    /// Why it was revoked, when it was (stored with the revocation).
    pub revoked_because: Option<EndReason>,
}

impl Lifetime {
    /// A session signed in at `now`.
    pub fn start(now: Epoch, idle_timeout: i64, absolute_timeout: i64) -> Self {
        let absolute_expires_at = now + absolute_timeout;
        Lifetime {
            status: SessionStatus::Active,
            expires_at: sliding_expiry(now, idle_timeout, absolute_expires_at),
            absolute_expires_at,
            revoked_because: None,
        }
    }

    pub fn is_alive(&self, now: Epoch) -> bool {
        self.ended(now).is_none()
    }

    /// Why the session is over at `now`, or `None` while it is alive. A revocation
    /// says why it was made; otherwise the cap that passed (the absolute one first:
    /// it is final).
    pub fn ended(&self, now: Epoch) -> Option<EndReason> {
        if self.status == SessionStatus::Revoked {
            Some(self.revoked_because.unwrap_or(EndReason::Revoked))
        } else if now >= self.absolute_expires_at {
            Some(EndReason::AbsoluteTimeout)
        } else if now >= self.expires_at {
            Some(EndReason::IdleTimeout)
        } else {
            None
        }
    }
}

/// Heartbeat: `min(now + idle, absolute cap)` — activity slides the idle expiry but
/// never past the absolute one.
pub fn sliding_expiry(now: Epoch, idle_timeout: i64, absolute_expires_at: Epoch) -> Epoch {
    (now + idle_timeout).min(absolute_expires_at)
}

/// When DynamoDB may delete a session's used-id marker: the tombstone period past the
/// last moment the session could have been alive, however it ended, so its id can
/// never be registered again while a token naming it may be valid. (The session item
/// itself may go at its absolute expiry: it can be alive no longer.)
pub fn used_id_ttl(lifetime: &Lifetime, tombstone: i64) -> Epoch {
    lifetime.absolute_expires_at + tombstone
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

    #[test]
    fn sliding_expiry_is_capped_by_the_absolute_expiry() {
        assert_eq!(sliding_expiry(100, 30, 1_000), 130);
        assert_eq!(sliding_expiry(990, 30, 1_000), 1_000);
        let start = Lifetime::start(0, 1_800, 43_200);
        assert_eq!(
            (start.expires_at, start.absolute_expires_at),
            (1_800, 43_200)
        );
        let short = Lifetime::start(0, 600, 300);
        assert_eq!(short.expires_at, 300, "idle expiry never passes the cap");
    }

    #[test]
    fn a_session_is_alive_only_while_active_and_before_both_expiries() {
        let lifetime = Lifetime::start(0, 10, 100);
        assert!(lifetime.is_alive(9));
        assert!(!lifetime.is_alive(10), "idle expiry reached");
        let slid = Lifetime {
            expires_at: 200,
            ..lifetime
        };
        assert!(!slid.is_alive(100), "absolute expiry reached");
        let revoked = Lifetime {
            status: SessionStatus::Revoked,
            ..lifetime
        };
        assert!(!revoked.is_alive(1));
    }

    #[test]
    fn an_ended_session_says_why() {
        let lifetime = Lifetime::start(0, 10, 100);
        assert_eq!(lifetime.ended(9), None);
        assert_eq!(lifetime.ended(10), Some(EndReason::IdleTimeout));
        let slid = Lifetime {
            expires_at: 100,
            ..lifetime
        };
        assert_eq!(slid.ended(100), Some(EndReason::AbsoluteTimeout));
        let evicted = Lifetime {
            status: SessionStatus::Revoked,
            revoked_because: Some(EndReason::Evicted),
            ..lifetime
        };
        assert_eq!(evicted.ended(1), Some(EndReason::Evicted));
        // A revocation stored before reasons were: plainly revoked.
        let revoked = Lifetime {
            status: SessionStatus::Revoked,
            ..lifetime
        };
        assert_eq!(revoked.ended(500), Some(EndReason::Revoked));
    }

    #[test]
    fn a_used_id_is_remembered_past_every_way_its_session_ends() {
        let lifetime = Lifetime::start(0, 10, 100);
        let remembered_until = used_id_ttl(&lifetime, 1_000);
        assert_eq!(remembered_until, 1_100);
        // Idle expiry, revocation and the absolute cap all come before it.
        assert!(remembered_until > lifetime.expires_at + 1_000);
        assert!(remembered_until > lifetime.absolute_expires_at);
    }

    #[test]
    fn device_ids_are_canonical_uuids() {
        let id = DeviceId::new();
        assert_eq!(DeviceId::parse(id.as_str()).unwrap(), id);
        for bad in [
            "",
            "not-a-uuid",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
            "6f9619ff8b86d011b42d00c04fc964ff",
            &"a".repeat(10_000),
        ] {
            assert!(DeviceId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn session_ids_are_bounded_and_plain() {
        assert!(SessionId::parse("01J9ZK3Q-sess_1.a~b:c").is_ok());
        for bad in ["", "a b", "a/b", "a#b", "ü", &"a".repeat(129)] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_780_800), "2026-11-27T12:00:00Z");
    }
}
