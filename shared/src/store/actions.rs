//! The transaction actions the writes and the cascades are built of: the caller's
//! guard, write budgets, creating, revoking, refreshing a device, recording an event.
//! Why each write is conditioned as it is: see `mod.rs` and docs/design.md.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use crate::auth::Identity;
use crate::domain::{
    Device, EndReason, Epoch, SecurityEvent, Session, SessionId, TrustState, UserId, used_id_ttl,
};
use crate::error::Error;

use super::codec::{
    device_sk, event_item, fingerprint_sk, key, n, optional, s, session_sk, used_sk,
};
use super::transact::{Role, build_fault};
use super::{ALIVE, BUDGET, Item, NOT_EXPIRED, Store, TTL_ATTRIBUTE};

/// Whose write budget a write spends. Ending access spends none: nothing another
/// session does can stop a user from ending sessions or dropping a device.
#[derive(Debug, Clone, Copy)]
pub(super) enum Budget<'a> {
    /// The user's sign-ins: only the identity provider mints new session ids, so a
    /// thief holding one session cannot spend it.
    SignIns,
    /// One session's own writes that grant (trusting a device).
    Session(&'a SessionId),
}

/// The minute a budget's counter counts: one item per budget and minute.
#[derive(Debug, Clone, Copy)]
pub(super) struct Minute {
    pub window: Epoch,
}

impl Minute {
    pub fn of(now: Epoch) -> Self {
        Minute {
            window: now - now.rem_euclid(60),
        }
    }

    /// Seconds until the next minute's budget (`Retry-After`).
    pub fn retry_after(&self, now: Epoch) -> u64 {
        (self.window + 60 - now).max(1) as u64
    }
}

/// A budget's counter counted up, refused at `limit`, gone by TTL two minutes on: the
/// same expressions on a transaction's `Update` and on an `UpdateItem` request (their
/// builders share these methods).
macro_rules! counted {
    ($builder:expr, $limit:expr, $minute:expr) => {
        $builder
            .update_expression("ADD #count :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n($limit))
            .expression_attribute_values(":ttl", n($minute.window + 120))
    };
}
pub(super) use counted;

/// What a session must be for its revocation to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precondition {
    /// Alive: a refusal hands back the old item, which says how it ended.
    Alive,
    /// Stored at all (a cascade's other sessions, which may have ended meanwhile).
    Exists,
}

impl Store {
    /// A condition that the caller's session is alive, as a transaction action.
    pub(super) fn caller_check(
        &self,
        identity: &Identity,
        now: Epoch,
    ) -> Result<(TransactWriteItem, Role), Error> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                &identity.user_id,
                session_sk(&identity.session_id),
            )))
            .condition_expression(ALIVE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("ACTIVE"))
            .expression_attribute_values(":now", n(now))
            // Why it failed: the session's old item says how it ended.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_fault)?;
        Ok((
            TransactWriteItem::builder().condition_check(check).build(),
            Role::Caller,
        ))
    }

    /// A write budget, as a transaction action: a counter item per budget and minute,
    /// incremented in the same transaction as the write it admits (no extra round
    /// trip; one more item written). Past the budget the whole transaction is
    /// cancelled, so a refused request writes nothing.
    pub(super) fn rate_limit(
        &self,
        user: &UserId,
        budget: Budget<'_>,
        now: Epoch,
    ) -> Result<(TransactWriteItem, Role), Error> {
        let minute = Minute::of(now);
        let (sort_key, limit) = match budget {
            Budget::SignIns => (
                format!("{BUDGET}SIGN-IN#{}", minute.window),
                self.sign_ins_per_minute,
            ),
            Budget::Session(id) => (
                format!("{BUDGET}SESSION#{}#{}", id.as_str(), minute.window),
                self.writes_per_minute,
            ),
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, sort_key)));
        let update = counted!(update, i64::from(limit), minute)
            .build()
            .map_err(build_fault)?;
        Ok((
            TransactWriteItem::builder().update(update).build(),
            Role::RateLimited(minute.retry_after(now)),
        ))
    }

    /// A Put that only creates: its condition fails when the item exists.
    pub(super) fn create(&self, item: Item) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_fault)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The marker that the session id was registered, kept past any use of the id.
    pub(super) fn used_id_item(&self, user: &UserId, session: &Session) -> Item {
        let mut item = key(user, used_sk(&session.id));
        let ttl = used_id_ttl(&session.lifetime, self.tombstone);
        item.insert(TTL_ATTRIBUTE.into(), n(ttl));
        item
    }

    /// Revoking a session for `reason`, if it is as `precondition` says. The session
    /// stays, revoked, until its TTL (its absolute expiry); its used-id marker keeps
    /// the id from coming back after that.
    pub(super) fn revoke(
        &self,
        user: &UserId,
        id: &SessionId,
        reason: EndReason,
        now: Epoch,
        precondition: Precondition,
    ) -> Result<TransactWriteItem, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, session_sk(id))))
            .update_expression("SET #status = :revoked, revokedAt = :now, endReason = :reason")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":revoked", s("REVOKED"))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .expression_attribute_values(":now", n(now));
        let update = match precondition {
            Precondition::Alive => update
                .condition_expression(ALIVE)
                .expression_attribute_values(":active", s("ACTIVE"))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                ),
            Precondition::Exists => update.condition_expression("attribute_exists(PK)"),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_fault)?)
            .build())
    }

    /// A sign-in's refresh of a known device's descriptor (type, OS, browser, where,
    /// when) and of its and its fingerprint entry's TTL. A name the user chose is never
    /// overwritten: left out when the read saw one, and conditioned on there being none
    /// when this sign-in names it (a rename landing meanwhile makes it read again). The
    /// TTL is made of the trust the read saw, so a trust or untrust landing meanwhile
    /// makes it read again too; a device past its TTL is gone, not refreshed.
    pub(super) fn refresh_device(
        &self,
        user: &UserId,
        device: &Device,
        ttl: Epoch,
        now: Epoch,
    ) -> Result<[TransactWriteItem; 2], Error> {
        let (name, no_chosen_name) = match device.name_chosen {
            true => ("", ""),
            false => (
                "deviceName = :name, ",
                " AND (attribute_not_exists(nameChosen) OR nameChosen = :unchosen)",
            ),
        };
        let same_trust = match device.trust_expires_at {
            Some(_) => "trustExpiresAt = :trustUntil",
            None => "attribute_not_exists(trustExpiresAt)",
        };
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, device_sk(&device.id))))
            .update_expression(format!(
                "SET {name}deviceType = :type, os = :os, browser = :browser, \
                 userAgent = :ua, ipAddress = :ip, country = :country, city = :city, \
                 lastSeen = :seen, #ttl = :ttl"
            ))
            .condition_expression(format!(
                "attribute_exists(PK) AND {NOT_EXPIRED} AND {same_trust}{no_chosen_name}"
            ))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":type", s(device.device_type.as_str()))
            .expression_attribute_values(":os", s(&device.os))
            .expression_attribute_values(":browser", s(&device.browser))
            .expression_attribute_values(":ua", s(&device.user_agent))
            .expression_attribute_values(":ip", optional(&device.ip_address))
            .expression_attribute_values(":country", optional(&device.country))
            .expression_attribute_values(":city", optional(&device.city))
            .expression_attribute_values(":seen", n(device.last_seen))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":now", n(now));
        if let Some(until) = device.trust_expires_at {
            update = update.expression_attribute_values(":trustUntil", n(until));
        }
        if !device.name_chosen {
            update = update
                .expression_attribute_values(":name", s(&device.name))
                .expression_attribute_values(":unchosen", AttributeValue::Bool(false));
        }
        let update = update.build().map_err(build_fault)?;
        Ok([
            TransactWriteItem::builder().update(update).build(),
            self.fingerprint_ttl(user, device, ttl)?,
        ])
    }

    /// The device's fingerprint entry takes the device's TTL, if it is still the
    /// device's (a removal meanwhile deleted it: read again).
    pub(super) fn fingerprint_ttl(
        &self,
        user: &UserId,
        device: &Device,
        ttl: Epoch,
    ) -> Result<TransactWriteItem, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, fingerprint_sk(device))))
            .update_expression("SET #ttl = :ttl")
            .condition_expression("deviceId = :device")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":device", s(device.id.as_str()))
            .build()
            .map_err(build_fault)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A Put that creates, or replaces an item whose TTL has passed (TTL deletes
    /// lazily, and reads already ignore it): a fingerprint whose device aged out makes
    /// a new device.
    pub(super) fn replace_expired(
        &self,
        item: Item,
        now: Epoch,
    ) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists(PK) OR NOT {NOT_EXPIRED}"))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_fault)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A sign-in's removal of a device to stay within the device limit, and of its
    /// fingerprint entry. The device must still be untrusted (a trust landing
    /// meanwhile makes the sign-in read again); that no session was bound to it since
    /// the read, the sign-in's exact count condition ensures.
    pub(super) fn remove_unused_device(
        &self,
        user: &UserId,
        device: &Device,
        now: Epoch,
    ) -> Result<[TransactWriteItem; 2], Error> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, device_sk(&device.id))))
            .condition_expression(
                "attribute_exists(PK) AND NOT (trust = :trusted AND trustExpiresAt > :now)",
            )
            .expression_attribute_values(":trusted", s(TrustState::Trusted.as_str()))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_fault)?;
        let fingerprint = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, fingerprint_sk(device))))
            .condition_expression("attribute_not_exists(PK) OR deviceId = :device")
            .expression_attribute_values(":device", s(device.id.as_str()))
            .build()
            .map_err(build_fault)?;
        Ok([
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().delete(fingerprint).build(),
        ])
    }

    /// The event as a transaction action: a Put that only creates (an event is never
    /// rewritten).
    pub(super) fn event_action(&self, event: &SecurityEvent) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(event_item(event, self.event_retention)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_fault)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
