//! Cascades: ending any number of sessions, then changing their device, so that no
//! sign-in landing meanwhile is missed.

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem, Update};

use crate::auth::Identity;
use crate::domain::{Device, EndReason, Epoch, SecurityEvent, SessionId, TrustState, UserId};
use crate::error::Error;

use super::actions::Precondition;
use super::codec::{device_sk, device_ttl, fingerprint_sk, key, n, s};
use super::report::Spend;
use super::transact::{Cancelled, MAX_TRANSACTION_ITEMS, Role, build_fault, explain};
use super::{ACCOUNT, Store, TTL_ATTRIBUTE};

/// What one pass of a cascade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cascaded {
    /// Sessions this pass ended.
    pub ended: usize,
    /// False when a sign-in landed after the read: its last transaction (the caller's
    /// own revocation, the device change) did not commit. Read again and repeat.
    pub complete: bool,
}

/// A change made to a device at the end of a cascade, once its sessions are revoked.
#[derive(Debug)]
pub enum DeviceChange<'a> {
    Untrust(&'a Device),
    Remove(&'a Device),
}

impl Store {
    /// Ends the given sessions of `user` (all alive when read) and then applies
    /// `change` to their device. Any number of sessions: they go in transactions of at
    /// most 100 actions, each guarded by the caller's session (`caller`: none when a
    /// platform service asks); the caller's own revocation, the device change and the
    /// security event come last, so a failure half-way leaves the device as it was, no
    /// event, and only ever more sessions ended, never fewer.
    ///
    /// The last transaction is also conditioned on the account's sign-in count being
    /// `sign_ins`, the count read with `sessions`: if a session was registered since,
    /// it may be one this cascade must end, so nothing of the last transaction lands
    /// and the pass answers `complete: false` — read again and repeat. No budget is
    /// spent: ending access is never refused for a rate. With `spend`, the last
    /// transaction also spends a "This wasn't me" code (404 when it was spent before).
    #[allow(clippy::too_many_arguments)]
    pub async fn revoke_sessions(
        &self,
        user: &UserId,
        caller: Option<&Identity>,
        sessions: &[&SessionId],
        change: Option<DeviceChange<'_>>,
        sign_ins: i64,
        event: &SecurityEvent,
        spend: Option<&Spend>,
        now: Epoch,
    ) -> Result<Cascaded, Error> {
        let reason = EndReason::of(event.event_type);
        let mut others = Vec::new();
        let mut last = Vec::new();
        for id in sessions {
            if caller.is_some_and(|caller| *id == &caller.session_id) {
                let revoke = self.revoke(user, id, reason, now, Precondition::Alive)?;
                last.push((revoke, Role::Caller));
            } else {
                let action = self.revoke(user, id, reason, now, Precondition::Exists)?;
                others.push((action, Role::Other));
            }
        }
        match change {
            Some(DeviceChange::Untrust(device)) => {
                // No trust keeps it now: it goes the retention after its last sign-in's
                // session could end, it and its fingerprint entry (docs/design.md). A
                // sign-in since the read fails the count check below.
                let ttl = device_ttl(
                    device.last_seen + self.absolute_timeout,
                    None,
                    self.device_retention,
                );
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user, device_sk(&device.id))))
                    .update_expression("SET trust = :untrusted, #ttl = :ttl REMOVE trustExpiresAt")
                    .condition_expression("attribute_exists(PK)")
                    .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                    .expression_attribute_values(":untrusted", s(TrustState::Untrusted.as_str()))
                    .expression_attribute_values(":ttl", n(ttl))
                    .build()
                    .map_err(build_fault)?;
                last.push((
                    TransactWriteItem::builder().update(update).build(),
                    Role::Device,
                ));
                last.push((self.fingerprint_ttl(user, device, ttl)?, Role::Other));
            }
            Some(DeviceChange::Remove(device)) => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user, format!("DEVICE#{}", device.id.as_str()))))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .map_err(build_fault)?;
                last.push((
                    TransactWriteItem::builder().delete(delete).build(),
                    Role::Device,
                ));
                let fingerprint = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user, fingerprint_sk(device))))
                    .build()
                    .map_err(build_fault)?;
                last.push((
                    TransactWriteItem::builder().delete(fingerprint).build(),
                    Role::Other,
                ));
            }
            None => {}
        }
        let caller_in_last = last.iter().any(|(_, role)| *role == Role::Caller);
        let guard = |last: &mut Vec<_>| -> Result<(), Error> {
            if let Some(caller) = caller {
                last.push(self.caller_check(caller, now)?);
            }
            Ok(())
        };
        if !caller_in_last {
            guard(&mut last)?;
        }
        last.push(self.no_sign_in_since(user, sign_ins)?);
        last.push((self.event_action(event)?, Role::Other));
        // A reported sign-in's code is spent with its event, or not at all.
        if let Some(spend) = spend {
            last.push(self.spend_action(spend)?);
        }

        // Fill transactions with the other sessions, one slot kept for the guard; the
        // last transaction carries the caller's revocation and the device change.
        let mut ended = 0;
        let room = MAX_TRANSACTION_ITEMS - 1;
        while others.len() + last.len() > MAX_TRANSACTION_ITEMS {
            let rest = others.split_off(room.min(others.len()));
            let mut batch = std::mem::replace(&mut others, rest);
            let batch_size = batch.len();
            guard(&mut batch)?;
            self.transact(batch).await.map_err(explain)?;
            ended += batch_size;
        }
        let last_size = others.len() + usize::from(caller_in_last);
        others.extend(last);
        match self.transact(others).await {
            Ok(()) => Ok(Cascaded {
                ended: ended + last_size,
                complete: true,
            }),
            Err(Cancelled(Role::SignedInSince)) => Ok(Cascaded {
                ended,
                complete: false,
            }),
            Err(other) => Err(explain(other)),
        }
    }

    /// A condition that no session was registered since the account was read with
    /// `sign_ins` sign-ins (an account never signed in has no item).
    pub(super) fn no_sign_in_since(
        &self,
        user: &UserId,
        sign_ins: i64,
    ) -> Result<(TransactWriteItem, Role), Error> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, ACCOUNT.into())));
        let check = if sign_ins == 0 {
            check.condition_expression("attribute_not_exists(signIns)")
        } else {
            check
                .condition_expression("signIns = :seen")
                .expression_attribute_values(":seen", n(sign_ins))
        };
        Ok((
            TransactWriteItem::builder()
                .condition_check(check.build().map_err(build_fault)?)
                .build(),
            Role::SignedInSince,
        ))
    }
}
