//! Security events: what changed in a user's devices and sessions, who changed it and
//! from where. Recorded with the change itself (`store/events.rs`); what they mean for
//! the user and the platform is in docs/design.md.

use serde::Serialize;

use super::{DeviceId, EndReason, Epoch, SessionId, UserId};

wire_enum! {
    /// What changed. The platform's names where it has one (`SUCCESSFUL_LOGIN`,
    /// `DEVICE_TRUSTED`, `DEVICE_UNTRUSTED`, `DEVICE_REMOVED`); ours for the rest.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum EventType {
        /// A sign-in on a device the account knew.
        SuccessfulLogin = "SUCCESSFUL_LOGIN",
        /// A sign-in that registered a new device.
        NewDeviceSignIn = "NEW_DEVICE_SIGN_IN",
        DeviceTrusted = "DEVICE_TRUSTED",
        /// The user named the device.
        DeviceRenamed = "DEVICE_RENAMED",
        /// Trust dropped, and the device's sessions ended.
        DeviceUntrusted = "DEVICE_UNTRUSTED",
        /// The device removed, and its sessions ended.
        DeviceRemoved = "DEVICE_REMOVED",
        /// One session ended by its user (signing out, or from another session).
        SessionRevoked = "SESSION_REVOKED",
        /// A session ended to make room for a sign-in under the per-user cap.
        SessionEvicted = "SESSION_EVICTED",
        /// Every session ended by the user (revoke-all).
        AllSessionsRevoked = "ALL_SESSIONS_REVOKED",
        /// Sessions ended by a platform service (`/admin/…`).
        AdminSessionsRevoked = "ADMIN_SESSIONS_REVOKED",
        /// A session's item removed by DynamoDB's TTL after its absolute expiry: published
        /// from the stream, late (TTL deletes typically within a few days), never stored.
        SessionExpired = "SESSION_EXPIRED",
        /// The owner followed a new-device sign-in's "This wasn't me" link: that
        /// session ended (`REPORTED`) and its device removed (docs/report-link.md).
        SignInReported = "SIGN_IN_REPORTED",
    }
}

impl EndReason {
    /// How the sessions a change ends are recorded as ended.
    pub fn of(event: EventType) -> Self {
        match event {
            EventType::AllSessionsRevoked => EndReason::RevokedAll,
            EventType::DeviceUntrusted => EndReason::DeviceUntrusted,
            EventType::DeviceRemoved => EndReason::DeviceRemoved,
            EventType::AdminSessionsRevoked => EndReason::Admin,
            EventType::SignInReported => EndReason::Reported,
            _ => EndReason::Revoked,
        }
    }
}

/// Who made the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The user, through this session.
    Session(String),
    /// A platform service: the IAM principal's ARN.
    Service(String),
    /// The service itself (TTL).
    System(String),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Session(_) => "SESSION",
            Actor::Service(_) => "SERVICE",
            Actor::System(_) => "SYSTEM",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Actor::Session(id) | Actor::Service(id) | Actor::System(id) => id,
        }
    }
}

wire_enum! {
    /// What the change was made to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum TargetType {
        Session = "SESSION",
        Device = "DEVICE",
        Account = "ACCOUNT",
    }
}

/// What a change was made to, by its typed id: a session id cannot be recorded as a
/// device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Session(&'a SessionId),
    Device(&'a DeviceId),
    Account(&'a UserId),
}

impl<'a> Target<'a> {
    fn parts(self) -> (TargetType, &'a str) {
        match self {
            Target::Session(id) => (TargetType::Session, id.as_str()),
            Target::Device(id) => (TargetType::Device, id.as_str()),
            Target::Account(id) => (TargetType::Account, id.as_str()),
        }
    }
}

/// Where a request came from, as the event records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: String,
    pub user: UserId,
    pub event_type: EventType,
    pub reason: Option<String>,
    pub actor: Actor,
    pub target: (TargetType, String),
    pub device_id: Option<String>,
    pub count: Option<usize>,
    pub origin: Origin,
    /// Epoch milliseconds: orders events within a second.
    pub at_millis: i64,
}

impl SecurityEvent {
    /// A change the user made through their session `session` to `target`, now.
    pub fn by(
        user: &UserId,
        session: &SessionId,
        event_type: EventType,
        target: Target<'_>,
        origin: Origin,
    ) -> Self {
        let actor = Actor::Session(session.as_str().into());
        Self::of(user, actor, event_type, target, origin)
    }

    /// A change `actor` made to `target`, now. A device target is also the device the
    /// event concerns.
    pub fn of(
        user: &UserId,
        actor: Actor,
        event_type: EventType,
        target: Target<'_>,
        origin: Origin,
    ) -> Self {
        let event = Self::new(user, event_type, actor, target.parts(), origin);
        match target {
            Target::Device(id) => event.on_device(id),
            _ => event,
        }
    }

    /// An event from its parts as stored: `of` and `by` are the typed forms.
    pub fn new(
        user: &UserId,
        event_type: EventType,
        actor: Actor,
        target: (TargetType, &str),
        origin: Origin,
    ) -> Self {
        SecurityEvent {
            id: uuid::Uuid::new_v4().simple().to_string(),
            user: user.clone(),
            event_type,
            reason: None,
            actor,
            target: (target.0, target.1.to_string()),
            device_id: None,
            count: None,
            origin,
            at_millis: time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000,
        }
    }

    pub fn on_device(mut self, device_id: &DeviceId) -> Self {
        self.device_id = Some(device_id.as_str().to_string());
        self
    }

    pub fn ended(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }

    pub fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn at(&self) -> Epoch {
        self.at_millis.div_euclid(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_target_is_the_device_concerned() {
        let user = UserId::parse("u").unwrap();
        let session = SessionId::parse("s1").unwrap();
        let device = DeviceId::new();
        let origin = Origin::default();
        let trusted = SecurityEvent::by(
            &user,
            &session,
            EventType::DeviceTrusted,
            Target::Device(&device),
            origin.clone(),
        );
        assert_eq!(trusted.actor, Actor::Session("s1".into()));
        assert_eq!(trusted.target, (TargetType::Device, device.as_str().into()));
        assert_eq!(trusted.device_id.as_deref(), Some(device.as_str()));
        let revoked = SecurityEvent::by(
            &user,
            &session,
            EventType::SessionRevoked,
            Target::Session(&session),
            origin,
        );
        assert_eq!(revoked.target, (TargetType::Session, "s1".into()));
        assert_eq!(revoked.device_id, None);
    }
}
