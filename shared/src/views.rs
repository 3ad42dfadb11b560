//! The response objects, with the field names the published client reads and ours in
//! addition (`isCurrent`, `deviceId`, `absoluteExpiresAt`): docs/api.md.

use serde::Serialize;

use crate::app::Caller;
use crate::domain::{
    Device, DeviceType, DigestKey, Epoch, EventType, SecurityEvent, Session, TrustLevel,
    TrustState, fingerprint_digest, rfc3339, trust_level,
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub id: String,
    pub device_name: String,
    pub device_type: DeviceType,
    pub os: String,
    pub browser: String,
    pub ip_address: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub is_trusted: bool,
    pub trust_level: TrustLevel,
    pub last_seen: String,
    pub created_at: String,
    pub trust_expires_at: Option<String>,
    pub is_current: bool,
    /// The device proved a key at its first sign-in and is that key
    /// (docs/device-binding.md); its RFC 7638 thumbprint, public by nature.
    pub key_bound: bool,
    pub key_thumbprint: Option<String>,
}

/// `GET /devices/{id}`: the device, how it identifies itself, and its live sessions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetailView {
    #[serde(flatten)]
    pub device: DeviceView,
    pub user_agent: String,
    /// A short digest, never the fingerprint itself (see `domain::fingerprint_digest`).
    pub device_fingerprint: String,
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub device_id: String,
    pub device_name: String,
    pub ip_address: Option<String>,
    pub location: Option<String>,
    pub started_at: String,
    pub last_activity: String,
    pub expires_at: String,
    pub absolute_expires_at: String,
    pub login_method: Option<String>,
    pub is_current: bool,
    /// Every request of this session must prove its device key (DPoP).
    pub key_bound: bool,
}

impl DeviceView {
    /// `last_seen`: see [`Account::last_seen`](crate::domain::Account::last_seen); `is_current`: the caller's session is on it.
    pub fn new(device: &Device, last_seen: Epoch, is_current: bool, now: Epoch) -> Self {
        let level = trust_level(device.trust, device.trust_expires_at, now);
        DeviceView {
            id: device.id.as_str().to_string(),
            device_name: device.name.clone(),
            device_type: device.device_type,
            os: device.os.clone(),
            browser: device.browser.clone(),
            ip_address: device.ip_address.clone(),
            country: device.country.clone(),
            city: device.city.clone(),
            is_trusted: level == TrustLevel::High,
            trust_level: level,
            last_seen: rfc3339(last_seen),
            created_at: rfc3339(device.created_at),
            // Shown while trusted, and after it lapsed (MEDIUM) so the user sees when.
            trust_expires_at: match device.trust {
                TrustState::Trusted => device.trust_expires_at.map(rfc3339),
                _ => None,
            },
            is_current,
            key_bound: device.key_thumbprint.is_some(),
            key_thumbprint: device.key_thumbprint.clone(),
        }
    }
}

impl SessionView {
    pub fn new(session: &Session, device_name: &str, is_current: bool) -> Self {
        SessionView {
            id: session.id.as_str().to_string(),
            device_id: session.device_id.as_str().to_string(),
            device_name: device_name.to_string(),
            ip_address: session.ip_address.clone(),
            location: session.location.clone(),
            started_at: rfc3339(session.started_at),
            last_activity: rfc3339(session.last_activity),
            expires_at: rfc3339(session.lifetime.expires_at),
            absolute_expires_at: rfc3339(session.lifetime.absolute_expires_at),
            login_method: session.login_method.clone(),
            is_current,
            key_bound: session.key_thumbprint.is_some(),
        }
    }
}

// The views of one account as the signed-in caller sees it: its own session (and that
// session's device) is the current one, and a device was last seen when any of its
// sessions was.

impl DeviceView {
    pub fn of(caller: &Caller, device: &Device) -> Self {
        let is_current = caller.session.device_id == device.id;
        let last_seen = caller.account.last_seen(device);
        DeviceView::new(device, last_seen, is_current, caller.now)
    }
}

impl DeviceDetailView {
    /// `GET /devices/{id}`: the device with its live sessions; its fingerprint's
    /// digest under the deployment's `key`.
    pub fn of(caller: &Caller, device: &Device, key: &DigestKey) -> Self {
        DeviceDetailView {
            device: DeviceView::of(caller, device),
            user_agent: device.user_agent.clone(),
            device_fingerprint: fingerprint_digest(
                key,
                &caller.identity.user_id,
                &device.fingerprint_hash,
            ),
            sessions: caller
                .account
                .alive_sessions(caller.now, Some(&device.id))
                .map(|s| SessionView::of(caller, s))
                .collect(),
        }
    }
}

impl SessionView {
    pub fn of(caller: &Caller, session: &Session) -> Self {
        let device_name = caller
            .account
            .device(&session.device_id)
            .map_or("", |d| d.name.as_str());
        let is_current = session.id == caller.identity.session_id;
        SessionView::new(session, device_name, is_current)
    }
}

/// A security event, as `GET /security-events` lists it and the platform's event bus
/// carries it (the `detail` of each EventBridge event).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventView {
    pub id: String,
    pub user_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub reason: Option<String>,
    pub actor: Party,
    pub target: Party,
    pub device_id: Option<String>,
    /// Sessions a cascade ended.
    pub count: Option<usize>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub location: Option<String>,
    pub occurred_at: String,
}

/// Who made a change, or what it was made to.
#[derive(Debug, Serialize)]
pub struct Party {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl SecurityEventView {
    pub fn new(event: &SecurityEvent) -> Self {
        let millis = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(event.at_millis) * 1_000_000,
        );
        SecurityEventView {
            id: event.id.clone(),
            user_id: event.user.as_str().to_string(),
            event_type: event.event_type,
            reason: event.reason.clone(),
            actor: Party {
                kind: event.actor.kind().to_string(),
                id: event.actor.id().to_string(),
            },
            target: Party {
                kind: event.target.0.as_str().to_string(),
                id: event.target.1.clone(),
            },
            device_id: event.device_id.clone(),
            count: event.count,
            source_ip: event.origin.source_ip.clone(),
            user_agent: event.origin.user_agent.clone(),
            location: event.origin.location.clone(),
            occurred_at: millis
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default(),
        }
    }
}
