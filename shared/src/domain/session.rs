//! Sessions: how long one lives and why it ended. Checked in code on every request;
//! the rules are in docs/design.md.

use serde::Serialize;

use super::Epoch;

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SessionStatus {
        Active = "ACTIVE",
        Revoked = "REVOKED",
    }
}

wire_enum! {
    /// Why a session ended, as the 401 for it says (`reason`), so a client can tell its
    /// user: signed out elsewhere, the device removed, idle too long, …
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum EndReason {
        /// Revoked by its user (signing out, or from another session).
        Revoked = "REVOKED",
        /// Revoke-all.
        RevokedAll = "REVOKED_ALL",
        DeviceUntrusted = "DEVICE_UNTRUSTED",
        DeviceRemoved = "DEVICE_REMOVED",
        IdleTimeout = "IDLE_TIMEOUT",
        AbsoluteTimeout = "ABSOLUTE_TIMEOUT",
        /// Ended to make room under the per-user cap on active sessions.
        Evicted = "EVICTED",
        /// Ended by a platform service (`/admin/…`).
        Admin = "ADMIN",
        /// Reported by the account's owner as not theirs ("This wasn't me" link).
        Reported = "REPORTED",
        /// Never registered (or long gone): not an ended session but an unknown one.
        NotRegistered = "NOT_REGISTERED",
    }
}

/// The caller's session is not alive: why (`NotRegistered` when there is none). The
/// edge answers it with 401 (`error.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEnded(pub EndReason);

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
    /// When it was revoked (stored with the revocation).
    pub revoked_at: Option<Epoch>,
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
            revoked_at: None,
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
}
