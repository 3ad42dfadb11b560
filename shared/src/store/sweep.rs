//! Revoked sessions swept out of the account's reads (docs/design.md, "Revoked
//! sessions are swept"): a revoked session's item would otherwise stay in every Query
//! of the partition until its absolute expiry and DynamoDB's TTL lag, so a client
//! signing in over and over (each sign-in past the cap evicting one) would make every
//! listing read thousands of them. After each sign-in, the revoked items it read go,
//! and each one's reason moves onto its used-id marker, which reads skip; a 401 for a
//! session whose item is gone reads that marker ([`Store::ended`]).

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use crate::domain::SessionId;
use crate::domain::{Account, Device, DeviceId, EndReason, Epoch, Session, SessionEnded};
use crate::domain::{SessionStatus, UserId, used_id_ttl};
use crate::error::Error;

use super::codec::{device_sk, key, n, s, session_ended, session_sk, text, used_sk};
use super::transact::{Role, build_fault, explain, fault};
use super::{Item, SESSION, Store, TTL_ATTRIBUTE};

/// Seconds a revoked session's item stays before it is swept: longer than any function
/// runs, so no cascade that read the session alive can still be writing to it (its
/// revocation of another session is conditioned on that session's item existing).
pub const SWEEP_GRACE_SECONDS: i64 = 300;

/// Sessions one sign-in sweeps at most: one transaction of two actions each. A
/// sign-in adds one session, so a backlog shrinks by at least 24 per sign-in.
pub const MOST_SWEPT: usize = 25;

impl Store {
    /// Deletes the revoked session items of `account` (as read) revoked at least
    /// [`SWEEP_GRACE_SECONDS`] ago, at most [`MOST_SWEPT`], in one transaction that
    /// also writes each one's reason on its used-id marker. No condition is needed on
    /// them: a revocation is final, and an ended id never comes back, so the item can
    /// only be as read or already gone (swept by a sign-in alongside: then the same
    /// writes again). A device's last activity is its sessions' too
    /// ([`Account::last_seen`]), so what a swept session knew of it moves onto the
    /// device item first, conditioned on the device still being there and not seen
    /// since: a device removed, or signed in on, since the read cancels the sweep, and
    /// the next sign-in reads again. The device the sign-in itself just wrote
    /// (`signed_in`) is left alone: its `lastSeen` is now, past anything a swept session
    /// saw, and the read predates it. Answers how many went.
    pub async fn sweep(
        &self,
        user: &UserId,
        account: &Account,
        signed_in: &DeviceId,
        now: Epoch,
    ) -> Result<usize, Error> {
        let revoked: Vec<&Session> = account
            .sessions
            .iter()
            .filter(|session| {
                let lifetime = &session.lifetime;
                lifetime.status == SessionStatus::Revoked
                    && lifetime
                        .revoked_at
                        .is_some_and(|at| at <= now - SWEEP_GRACE_SECONDS)
            })
            .take(MOST_SWEPT)
            .collect();
        if revoked.is_empty() {
            return Ok(0);
        }
        let mut actions = Vec::new();
        for device in account.devices.iter().filter(|d| &d.id != signed_in) {
            let seen = revoked
                .iter()
                .filter(|session| session.device_id == device.id)
                .map(|session| session.last_activity)
                .max();
            if let Some(seen) = seen.filter(|seen| *seen > device.last_seen) {
                actions.push(self.seen_until(user, device, seen)?);
            }
        }
        for session in &revoked {
            actions.extend(self.swept(user, session)?);
        }
        self.transact(actions).await.map_err(explain)?;
        Ok(revoked.len())
    }

    /// A device's `lastSeen` moved on to `seen`, if it is still there and was not seen
    /// since the read.
    fn seen_until(
        &self,
        user: &UserId,
        device: &Device,
        seen: Epoch,
    ) -> Result<(TransactWriteItem, Role), Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, device_sk(&device.id))))
            .update_expression("SET lastSeen = :seen")
            .condition_expression("attribute_exists(PK) AND lastSeen = :read")
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":read", n(device.last_seen))
            .build()
            .map_err(build_fault)?;
        Ok((
            TransactWriteItem::builder().update(update).build(),
            Role::Other,
        ))
    }

    /// A revoked session's two actions: its item deleted, its reason kept on its marker
    /// (recreated with its own TTL if TTL took it meanwhile).
    fn swept(
        &self,
        user: &UserId,
        session: &Session,
    ) -> Result<[(TransactWriteItem, Role); 2], Error> {
        let reason = session
            .lifetime
            .revoked_because
            .unwrap_or(EndReason::Revoked);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, session_sk(&session.id))))
            .build()
            .map_err(build_fault)?;
        let marker = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, used_sk(&session.id))))
            .update_expression("SET endReason = :reason, #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":reason", s(reason.as_str()))
            .expression_attribute_values(":ttl", n(used_id_ttl(&session.lifetime, self.tombstone)))
            .build()
            .map_err(build_fault)?;
        Ok([
            (
                TransactWriteItem::builder().delete(delete).build(),
                Role::Other,
            ),
            (
                TransactWriteItem::builder().update(marker).build(),
                Role::Other,
            ),
        ])
    }

    /// The 401 for the session `id` of `user` found not alive (see [`Store::ended_at`]).
    pub async fn ended(
        &self,
        user: &UserId,
        id: &SessionId,
        old: Option<&Item>,
        now: Epoch,
    ) -> Error {
        self.ended_at(key(user, session_sk(id)), old, now).await
    }

    /// The 401 for the session at `session_key` found not alive: why it ended, from
    /// its item as read (`old`) when there was one, else from its used-id marker — the
    /// reason a sweep kept there, or the absolute timeout when TTL took the item — and
    /// `NOT_REGISTERED` when there is no marker either. The marker is read only here,
    /// on the way to a 401.
    pub(super) async fn ended_at(
        &self,
        mut session_key: Item,
        old: Option<&Item>,
        now: Epoch,
    ) -> Error {
        if old.is_some() {
            return session_ended(old, now);
        }
        let id = session_key.get("SK").and_then(|sk| sk.as_s().ok());
        let Some(id) = id
            .and_then(|sk| sk.strip_prefix(SESSION))
            .and_then(SessionId::parse)
        else {
            return session_ended(None, now);
        };
        let marker = used_sk(&id);
        session_key.insert("SK".into(), s(marker));
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(session_key))
            .consistent_read(true)
            .send()
            .await;
        let reason = match found {
            Err(error) => return fault(error),
            Ok(found) => match found.item {
                None => EndReason::NotRegistered,
                Some(marker) => text(&marker, "endReason")
                    .and_then(EndReason::parse)
                    .unwrap_or(EndReason::AbsoluteTimeout),
            },
        };
        SessionEnded(reason).into()
    }
}
