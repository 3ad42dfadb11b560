//! Reads, all strongly consistent (docs/design.md#reads): one Query of the user's
//! partition for a route that lists the account; for the others, the caller's session
//! and at most one more item by key, or the session items alone.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use crate::auth::Identity;
use crate::domain::{Account, Device, DeviceId, Epoch, Session, UserId, fingerprint_hash};
use crate::error::Error;

use super::codec::{device_from, device_sk, key, number, pk, s, session_from, session_sk, text};
use super::transact::{build_fault, fault};
use super::{ACCOUNT, Item, SESSION, Store, USED};

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
        self.guarded(item.as_ref(), identity, now).await
    }

    /// The session guard on the caller's session item as read: alive and, when bound,
    /// proved by this request's key; or the 401 saying why not ([`Store::ended`]), as
    /// `Account::guard` and `Session::admits` decide.
    async fn guarded(
        &self,
        item: Option<&Item>,
        identity: &Identity,
        now: Epoch,
    ) -> Result<Session, Error> {
        match item.and_then(session_from) {
            Some(session) if session.lifetime.is_alive(now) => {
                session.admits(identity.key.as_deref())?;
                Ok(session)
            }
            _ => Err(self
                .ended(&identity.user_id, &identity.session_id, item, now)
                .await),
        }
    }

    /// One device, by key (`None`: not in this user's partition).
    pub async fn device(&self, user: &UserId, id: &DeviceId) -> Result<Option<Device>, Error> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user, device_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?
            .item;
        Ok(item.as_ref().and_then(device_from))
    }

    /// The session guard and one device, in one BatchGetItem.
    pub async fn guard_and_device(
        &self,
        identity: &Identity,
        id: &DeviceId,
        now: Epoch,
    ) -> Result<(Session, Option<Device>), Error> {
        let (session, device) = self.guard_and(identity, device_sk(id), now).await?;
        Ok((session, device.as_ref().and_then(device_from)))
    }

    /// The session guard and the id of the device with this fingerprint, in one
    /// BatchGetItem of the session and the fingerprint item.
    pub async fn guard_and_fingerprint(
        &self,
        identity: &Identity,
        fingerprint: &str,
        now: Epoch,
    ) -> Result<(Session, Option<DeviceId>), Error> {
        let sk = format!("FP#{}", fingerprint_hash(fingerprint));
        let (session, found) = self.guard_and(identity, sk, now).await?;
        let device = found.as_ref().and_then(|item| text(item, "deviceId"));
        Ok((session, device.and_then(DeviceId::parse)))
    }

    /// The caller's session, guarded, and the item `sk` of their partition: one
    /// strongly consistent BatchGetItem (asked again for any key it left unprocessed).
    async fn guard_and(
        &self,
        identity: &Identity,
        sk: String,
        now: Epoch,
    ) -> Result<(Session, Option<Item>), Error> {
        let user = &identity.user_id;
        let session_key = session_sk(&identity.session_id);
        let keys = vec![key(user, session_key.clone()), key(user, sk.clone())];
        let mut found: HashMap<String, Item> = HashMap::new();
        let mut asked = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(build_fault)?;
        loop {
            let answer = self
                .client
                .batch_get_item()
                .request_items(&self.table, asked)
                .send()
                .await
                .map_err(fault)?;
            let items = answer.responses.into_iter().flatten().flat_map(|(_, i)| i);
            for item in items {
                found.insert(text(&item, "SK").unwrap_or_default().to_string(), item);
            }
            match answer
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(left) if !left.keys.is_empty() => asked = left,
                _ => break,
            }
        }
        let session = self.guarded(found.get(&session_key), identity, now).await?;
        Ok((session, found.remove(&sk)))
    }

    /// Every session item of the user (alive or not, until TTL removes them): one
    /// Query of the `SESSION#` prefix, paged past 1 MB; devices and fingerprints are
    /// not read.
    pub async fn sessions(&self, user: &UserId) -> Result<Vec<Session>, Error> {
        let mut sessions = Vec::new();
        self.query(user, "begins_with(SK, :from)", SESSION, |item| {
            sessions.extend(session_from(item))
        })
        .await?;
        Ok(sessions)
    }

    /// One strongly consistent Query of the user's partition (paged past 1 MB).
    pub async fn account(&self, user: &UserId) -> Result<Account, Error> {
        let mut account = Account::default();
        self.query(user, "SK < :from", USED, |item| {
            let sk = text(item, "SK").unwrap_or_default();
            if sk == ACCOUNT {
                account.sign_ins = number(item, "signIns").unwrap_or(0);
            } else if sk.starts_with("DEVICE#") {
                account.devices.extend(device_from(item));
            } else if sk.starts_with(SESSION) {
                account.sessions.extend(session_from(item));
            } else if let Some(hash) = sk.strip_prefix("FP#") {
                let device = text(item, "deviceId").and_then(DeviceId::parse);
                account
                    .fingerprints
                    .extend(device.map(|d| (hash.to_string(), d)));
            }
        })
        .await?;
        Ok(account)
    }

    /// A strongly consistent Query of the user's partition where `SK` meets
    /// `condition` (on `:from`), every page of it, each item handed to `each`.
    async fn query(
        &self,
        user: &UserId,
        condition: &str,
        from: &str,
        mut each: impl FnMut(&Item),
    ) -> Result<(), Error> {
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("PK = :pk AND {condition}"))
                .expression_attribute_values(":pk", pk(user))
                .expression_attribute_values(":from", s(from))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(fault)?;
            page.items().iter().for_each(&mut each);
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }
}
