//! Reads: one strongly consistent Query of the user's partition, and the account it
//! yields — devices, sessions, the sign-in count — with the session guard.

use std::collections::HashMap;

use crate::auth::Identity;
use crate::domain::{
    DeviceId, DeviceType, EndReason, Epoch, Lifetime, SessionId, TrustState, UserId,
};
use crate::error::{AuthFailure, Error};

use super::codec::{
    device_from, fingerprint_hash, key, number, pk, s, session_ended, session_from, session_sk,
    text,
};
use super::transact::fault;
use super::{ACCOUNT, Store, USED};

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
}

/// Everything in one user's partition, from one Query.
#[derive(Debug, Default)]
pub struct Account {
    pub devices: Vec<Device>,
    pub sessions: Vec<Session>,
    /// How many sessions were ever registered: a cascade's last write checks it is
    /// still the count it read.
    pub sign_ins: i64,
    fingerprints: HashMap<String, DeviceId>,
}

impl Account {
    /// The session guard: the caller's session must be registered and alive.
    pub fn guard(&self, identity: &Identity, now: Epoch) -> Result<&Session, Error> {
        let session = self
            .session(&identity.session_id)
            .ok_or(Error::Unauthorized(AuthFailure::SessionEnded(
                EndReason::NotRegistered,
            )))?;
        match session.lifetime.ended(now) {
            None => Ok(session),
            Some(reason) => Err(Error::Unauthorized(AuthFailure::SessionEnded(reason))),
        }
    }

    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.iter().find(|s| &s.id == id)
    }

    pub fn device(&self, id: &DeviceId) -> Option<&Device> {
        self.devices.iter().find(|d| &d.id == id)
    }

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

impl Store {
    /// The session guard alone, for a route that reads nothing else of the partition:
    /// one strongly consistent GetItem of the caller's session (a Query would read
    /// every device and session only to find it).
    pub async fn guard(&self, identity: &Identity, now: Epoch) -> Result<Session, Error> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                &identity.user_id,
                session_sk(&identity.session_id),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?
            .item;
        match item.as_ref().and_then(session_from) {
            Some(session) if session.lifetime.is_alive(now) => Ok(session),
            _ => Err(session_ended(item.as_ref(), now)),
        }
    }

    /// One strongly consistent Query of the user's partition (paged past 1 MB).
    pub async fn account(&self, user: &UserId) -> Result<Account, Error> {
        let mut account = Account::default();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK < :used")
                .expression_attribute_values(":pk", pk(user))
                .expression_attribute_values(":used", s(USED))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(fault)?;
            for item in page.items() {
                let sk = text(item, "SK").unwrap_or_default();
                if sk == ACCOUNT {
                    account.sign_ins = number(item, "signIns").unwrap_or(0);
                } else if sk.starts_with("DEVICE#") {
                    account.devices.extend(device_from(item));
                } else if sk.starts_with("SESSION#") {
                    account.sessions.extend(session_from(item));
                } else if let Some(hash) = sk.strip_prefix("FP#") {
                    let device = text(item, "deviceId").and_then(DeviceId::parse);
                    account
                        .fingerprints
                        .extend(device.map(|d| (hash.to_string(), d)));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(account);
            }
        }
    }
}
