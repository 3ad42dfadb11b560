//! One user's account as the domain sees it: devices, sessions, and the rules read
//! off them (the guard, which sessions are alive, when a device was last seen).
//! `store/account.rs` reads it (all of it in one Query, or a part by key); the layout
//! and the reads are in docs/design.md.

use std::collections::HashMap;

use super::{
    DeviceId, DeviceType, EndReason, Epoch, Lifetime, SessionEnded, SessionId, TrustState,
    fingerprint_hash,
};

#[derive(Debug, Clone)]
pub struct Device {
    pub id: DeviceId,
    /// `sha256(fingerprint)`: the raw fingerprint is what trust is claimed with, so it
    /// is never stored, nor handed back.
    pub fingerprint_hash: String,
    pub name: String,
    /// The user named it (rename): sign-ins no longer rename it from the User-Agent.
    pub name_chosen: bool,
    pub device_type: DeviceType,
    pub os: String,
    pub browser: String,
    pub user_agent: String,
    pub ip_address: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub trust: TrustState,
    pub trust_expires_at: Option<Epoch>,
    pub last_seen: Epoch,
    pub created_at: Epoch,
    /// The RFC 7638 thumbprint of the key this device proved at its first sign-in,
    /// when it did: the device *is* that key (docs/device-binding.md).
    pub key_thumbprint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub device_id: DeviceId,
    pub lifetime: Lifetime,
    pub started_at: Epoch,
    pub last_activity: Epoch,
    pub ip_address: Option<String>,
    pub location: Option<String>,
    pub login_method: Option<String>,
    /// The device key this session was registered with (DPoP): every request of it
    /// must prove that key ([`Session::admits`]).
    pub key_thumbprint: Option<String>,
}

impl Session {
    /// Whether a request proving `key` (the thumbprint of its checked DPoP proof,
    /// none without one) may act as this session: any request for an unbound session,
    /// only a proof by its key for a bound one.
    pub fn admits(&self, key: Option<&str>) -> Result<(), ProofRefused> {
        match (self.key_thumbprint.as_deref(), key) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(ProofRefused::Required),
            (Some(bound), Some(proved)) if bound == proved => Ok(()),
            (Some(_), Some(_)) => Err(ProofRefused::OtherKey),
        }
    }
}

/// A bound session refused a request: it proved no key, or another one. The edge
/// answers 401 `DPOP_PROOF_REQUIRED` or `INVALID_DPOP_PROOF` (`error.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofRefused {
    Required,
    OtherKey,
}

/// One user's account: everything in the partition (one Query), or the part of it a
/// route read by key (`App::caller_with`), the caller's session always included.
#[derive(Debug, Default)]
pub struct Account {
    pub devices: Vec<Device>,
    pub sessions: Vec<Session>,
    /// How many sessions were ever registered: a cascade's last write checks it is
    /// still the count it read.
    pub sign_ins: i64,
    /// Device by fingerprint hash: one device per fingerprint.
    pub(crate) fingerprints: HashMap<String, DeviceId>,
}

impl Account {
    /// The session guard: the caller's session must be registered and alive.
    pub fn guard(&self, id: &SessionId, now: Epoch) -> Result<&Session, SessionEnded> {
        let session = self
            .session(id)
            .ok_or(SessionEnded(EndReason::NotRegistered))?;
        match session.lifetime.ended(now) {
            None => Ok(session),
            Some(reason) => Err(SessionEnded(reason)),
        }
    }

    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.iter().find(|s| &s.id == id)
    }

    pub fn device(&self, id: &DeviceId) -> Option<&Device> {
        self.devices.iter().find(|d| &d.id == id)
    }

    /// The device bound to this key (`key_thumbprint`), if any.
    pub fn device_by_key(&self, thumbprint: &str) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| d.key_thumbprint.as_deref() == Some(thumbprint))
    }

    /// The device with this fingerprint: only ever an unbound one, since a bound
    /// device has no fingerprint entry (docs/device-binding.md).
    pub fn device_by_fingerprint(&self, fingerprint: &str) -> Option<&Device> {
        self.fingerprints
            .get(&fingerprint_hash(fingerprint))
            .and_then(|id| self.device(id))
    }

    /// The sessions alive at `now`, on every device or on one.
    pub fn alive_sessions<'a>(
        &'a self,
        now: Epoch,
        device: Option<&'a DeviceId>,
    ) -> impl Iterator<Item = &'a Session> + 'a {
        self.sessions
            .iter()
            .filter(move |s| s.lifetime.is_alive(now) && device.is_none_or(|d| &s.device_id == d))
    }

    /// The last time a device was active: its last sign-in or the last heartbeat of
    /// any of its sessions, whichever is later.
    pub fn last_seen(&self, device: &Device) -> Epoch {
        self.sessions
            .iter()
            .filter(|s| s.device_id == device.id)
            .map(|s| s.last_activity)
            .fold(device.last_seen, Epoch::max)
    }
}
