//! Reads: one strongly consistent Query of the user's partition, and the account it
//! yields; or, for a route that needs nothing else, the caller's session alone.

use crate::auth::Identity;
use crate::domain::{Account, DeviceId, Epoch, Session, UserId};
use crate::error::Error;

use super::codec::{
    device_from, key, number, pk, s, session_ended, session_from, session_sk, text,
};
use super::transact::fault;
use super::{ACCOUNT, Store, USED};

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
