//! Writes of one request: sign-in, trust, rename, revoking one session, heartbeat,
//! each built of the actions in `actions.rs`.
//! Each write that changes a device or a session carries its security event in the
//! same transaction (heartbeats record activity, not a change: they carry none).

use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::auth::Identity;
use crate::domain::{
    Device, DeviceId, EndReason, Epoch, Lifetime, SecurityEvent, Session, SessionId, TrustState,
    UserId,
};
use crate::error::Error;

use super::actions::{Budget, Precondition};
use super::codec::{
    device_item, device_sk, device_ttl, fingerprint_item, key, n, s, session_from, session_item,
    session_sk,
};
use super::transact::{
    Cancelled, Conflict, Role, build_fault, condition_failed_item, explain, send_update,
};
use super::{ACCOUNT, ALIVE, HELD, Item, NOT_EXPIRED, Store, TTL_ATTRIBUTE};

/// A sign-in to write: the session, its device, its event, the sessions it evicts and
/// the devices it removes (each with its event), the account's sign-in count it was
/// decided on, and the highest count at which that decision still holds.
#[derive(Debug)]
pub struct SignInWrite<'a> {
    pub session: &'a Session,
    pub device: &'a Device,
    pub device_is_new: bool,
    pub event: &'a SecurityEvent,
    pub evicted: Vec<(&'a SessionId, SecurityEvent)>,
    pub removed: Vec<(&'a Device, SecurityEvent)>,
    pub sign_ins: i64,
    /// `sign_ins` plus how many sign-ins may land between the read and this write
    /// with the session cap and the device limit still holding: each adds at most one
    /// session and one device (docs/design.md, "Bursts of sign-ins").
    pub ceiling: i64,
}

impl Store {
    /// Binds a new session to a device: creates the session and its used-id marker
    /// (an id used before is refused: 401), and creates the device (and its fingerprint
    /// entry, so one fingerprint is one device; an entry past its TTL is replaced) or
    /// refreshes its descriptor and TTL, ends the sessions it evicts, removes the
    /// devices it makes room with, and counts the sign-in on the account item —
    /// conditioned on the count being at most `ceiling`, so however sign-ins
    /// interleave the cap on active sessions and the device limit hold, and any
    /// cascade in flight sees it. `Ok(false)` when another sign-in, a removal, a trust
    /// or a rename of the device got there first, or other sign-ins kept its items
    /// busy: read again and retry.
    pub async fn register(
        &self,
        user: &UserId,
        write: &SignInWrite<'_>,
        now: Epoch,
    ) -> Result<bool, Error> {
        let (session, device, event) = (write.session, write.device, write.event);
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, ACCOUNT.into())))
            .update_expression("ADD signIns :one")
            // An account never signed in has no item: a ceiling of 0 means exactly that.
            .condition_expression("attribute_not_exists(signIns) OR signIns <= :ceiling")
            .expression_attribute_values(":ceiling", n(write.ceiling))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(build_fault)?;
        let mut actions = vec![
            self.rate_limit(user, Budget::SignIns, now)?,
            (
                TransactWriteItem::builder().update(count).build(),
                Role::Other,
            ),
            (self.create(session_item(user, session))?, Role::Other),
            // After the session: when both fail, a concurrent registration of this
            // same session is what happened, and reading again finds it.
            (
                self.create(self.used_id_item(user, session))?,
                Role::UsedBefore,
            ),
            (self.event_action(event)?, Role::Other),
        ];
        for (id, eviction) in &write.evicted {
            let revoke = self.revoke(user, id, EndReason::Evicted, now, Precondition::Alive)?;
            actions.push((revoke, Role::Other));
            actions.push((self.event_action(eviction)?, Role::Other));
        }
        for (removed, removal) in &write.removed {
            for action in self.remove_unused_device(user, removed, now)? {
                actions.push((action, Role::Other));
            }
            actions.push((self.event_action(removal)?, Role::Other));
        }
        let ttl = device_ttl(
            session.lifetime.absolute_expires_at,
            device.trust_expires_at,
            self.device_retention,
        );
        if write.device_is_new {
            actions.push((self.create(device_item(user, device, ttl))?, Role::Other));
            let fingerprint = self.replace_expired(fingerprint_item(user, device, ttl), now)?;
            actions.push((fingerprint, Role::Other));
        } else {
            for action in self.refresh_device(user, device, ttl, now)? {
                actions.push((action, Role::Other));
            }
        }
        match self.transact(actions).await {
            Ok(()) => Ok(true),
            // Other sign-ins held its items through every try: read again, after a pause.
            Err(Cancelled(Role::Other) | Conflict) => Ok(false),
            // The id was registered before and its item is gone: its marker says why.
            Err(Cancelled(Role::UsedBefore)) => Err(self.ended(user, &session.id, None, now).await),
            Err(other) => Err(explain(other)),
        }
    }

    /// Marks a device trusted until `expires_at`, if the caller's session is alive, and
    /// keeps it and its fingerprint entry from TTL until `retention` after the later of
    /// that and the longest a session signed in until now can live.
    pub async fn trust_device(
        &self,
        identity: &Identity,
        device: &Device,
        expires_at: Epoch,
        event: &SecurityEvent,
        now: Epoch,
    ) -> Result<(), Error> {
        let ttl = device_ttl(
            now + self.absolute_timeout,
            Some(expires_at),
            self.device_retention,
        );
        let set = "SET trust = :trusted, trustExpiresAt = :expires, #ttl = :ttl";
        let values = [
            (":trusted", s(TrustState::Trusted.as_str())),
            (":expires", n(expires_at)),
            (":ttl", n(ttl)),
        ];
        let fingerprint = self.fingerprint_ttl(&identity.user_id, device, ttl)?;
        self.change_device(
            identity,
            &device.id,
            set,
            values,
            Some(fingerprint),
            event,
            now,
        )
        .await
    }

    /// Spends one write of the calling session's budget, with nothing else written:
    /// what a trust naming no device costs, so guessing fingerprints is as limited as
    /// trusting (docs/design.md "Fingerprints"). 429 past the budget.
    pub async fn spend_write(&self, identity: &Identity, now: Epoch) -> Result<(), Error> {
        let budget = Budget::Session(&identity.session_id);
        let actions = vec![
            self.caller_check(identity, now)?,
            self.rate_limit(&identity.user_id, budget, now)?,
        ];
        self.transact(actions).await.map_err(explain)
    }

    /// Names a device as the user chose, for good: later sign-ins keep the name. Spends
    /// the calling session's budget, like trust.
    pub async fn rename_device(
        &self,
        identity: &Identity,
        device: &DeviceId,
        name: &str,
        event: &SecurityEvent,
        now: Epoch,
    ) -> Result<(), Error> {
        let set = "SET deviceName = :name, nameChosen = :chosen";
        let values = [(":name", s(name)), (":chosen", AttributeValue::Bool(true))];
        self.change_device(identity, device, set, values, None, event, now)
            .await
    }

    /// A change the user makes to one of their devices (trust, name): the device must
    /// exist and not be past its TTL (else 404), the caller's session be alive, and the
    /// session's own budget allow it; the change and its event land together or not
    /// at all.
    #[allow(clippy::too_many_arguments)]
    async fn change_device<const N: usize>(
        &self,
        identity: &Identity,
        device: &DeviceId,
        set: &str,
        values: [(&str, AttributeValue); N],
        also: Option<TransactWriteItem>,
        event: &SecurityEvent,
        now: Epoch,
    ) -> Result<(), Error> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&identity.user_id, device_sk(device))))
            .update_expression(set)
            .condition_expression(format!("attribute_exists(PK) AND {NOT_EXPIRED}"))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now));
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let update = update.build().map_err(build_fault)?;
        let budget = Budget::Session(&identity.session_id);
        let mut actions = vec![
            self.caller_check(identity, now)?,
            self.rate_limit(&identity.user_id, budget, now)?,
            (
                TransactWriteItem::builder().update(update).build(),
                Role::Device,
            ),
            (self.event_action(event)?, Role::Other),
        ];
        actions.extend(also.map(|action| (action, Role::Other)));
        self.transact(actions).await.map_err(explain)
    }

    /// Ends one session. Ending another session of the user is conditioned on the
    /// caller's own being alive, in the same transaction. No budget: nothing another
    /// session spends can stop it.
    pub async fn revoke_session(
        &self,
        identity: &Identity,
        target: &SessionId,
        event: &SecurityEvent,
        now: Epoch,
    ) -> Result<(), Error> {
        let role = if target == &identity.session_id {
            Role::Caller
        } else {
            Role::Target
        };
        let mut actions = vec![
            (
                self.revoke(
                    &identity.user_id,
                    target,
                    EndReason::Revoked,
                    now,
                    Precondition::Alive,
                )?,
                role,
            ),
            (self.event_action(event)?, Role::Other),
        ];
        if role == Role::Target {
            actions.push(self.caller_check(identity, now)?);
        }
        self.transact(actions).await.map_err(explain)
    }

    /// Records activity on the caller's session and slides its idle expiry, never
    /// past the absolute cap. One conditional write when the cap is not near; a
    /// second one, pinned to the cap, when it is. `device`: the session must be on it.
    pub async fn heartbeat(
        &self,
        identity: &Identity,
        device: Option<&DeviceId>,
        now: Epoch,
        idle_timeout: i64,
    ) -> Result<Lifetime, Error> {
        let candidate = now + idle_timeout;
        let on_device = if device.is_some() {
            " AND deviceId = :device"
        } else {
            ""
        };
        let update = |expires: &str, condition: String| {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    &identity.user_id,
                    session_sk(&identity.session_id),
                )))
                .update_expression(format!("SET lastActivity = :now, expiresAt = {expires}"))
                .condition_expression(format!("{ALIVE}{HELD}{on_device}{condition}"))
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s("ACTIVE"))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":key", s(identity.key.as_deref().unwrap_or("-")))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                // The session as it now stands: its expiries for the answer.
                .return_values(ReturnValue::AllNew);
            if let Some(device) = device {
                request = request.expression_attribute_values(":device", s(device.as_str()));
            }
            request
        };

        let sliding = update(":candidate", " AND absoluteExpiresAt > :candidate".into())
            .expression_attribute_values(":candidate", n(candidate));
        let lifetime = |written: UpdateItemOutput| {
            written
                .attributes
                .as_ref()
                .and_then(session_from)
                .map(|s| s.lifetime)
                .ok_or_else(|| Error::Internal("heartbeat: no session came back".into()))
        };
        let sliding = send_update(sliding).await;
        let old = match sliding {
            Ok(written) => return lifetime(written),
            Err(error) => condition_failed_item(error)?,
        };
        // Why did it fail? Only "the cap is near" deserves the second write.
        let ended = |old: Option<Item>| async move {
            let (user, id) = (&identity.user_id, &identity.session_id);
            self.ended(user, id, old.as_ref(), now).await
        };
        let session = old.as_ref().and_then(session_from);
        match session {
            Some(s) if !s.lifetime.is_alive(now) => Err(ended(old).await),
            Some(s) if s.admits(identity.key.as_deref()).is_err() => {
                Err(s.admits(identity.key.as_deref()).unwrap_err().into())
            }
            Some(s) if device.is_some_and(|d| d != &s.device_id) => {
                Err(Error::SessionNotFoundOrExpired)
            }
            Some(_) => match send_update(update("absoluteExpiresAt", String::new())).await {
                Ok(written) => lifetime(written),
                Err(error) => Err(ended(condition_failed_item(error)?).await),
            },
            None => Err(ended(None).await),
        }
    }
}
