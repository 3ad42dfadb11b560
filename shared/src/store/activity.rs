//! Activity seen by the authorizer other APIs attach: a call it allows slides the
//! session's idle expiry exactly as a heartbeat does, at most once per interval per
//! session, in one conditional write.

use crate::domain::{Epoch, Session, UserId, sliding_expiry};
use crate::error::Error;

use super::codec::{key, n, s, session_sk};
use super::transact::{condition_failed_item, send_update};
use super::{ALIVE, Store};

impl Store {
    /// Records activity on `session` (just read alive by the guard): `lastActivity =
    /// now`, `expiresAt = min(now + idle_timeout, absoluteExpiresAt)` — unless it was
    /// last active less than `every` seconds ago, or it is no longer alive. One
    /// UpdateItem whose condition decides both, so concurrent calls write once.
    ///
    /// `Some(expiresAt)` when written; `None` when the condition failed — someone slid
    /// it within the interval, or it ended since the read. Neither is an error: the
    /// guard already decided this call, and the next call's read sees any ending.
    pub async fn touch(
        &self,
        user: &UserId,
        session: &Session,
        now: Epoch,
        idle_timeout: i64,
        every: i64,
    ) -> Result<Option<Epoch>, Error> {
        // The cap never moves once written (heartbeats never change it), so the one
        // just read is the one stored; the condition checks it all the same.
        let expires = sliding_expiry(now, idle_timeout, session.lifetime.absolute_expires_at);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user, session_sk(&session.id))))
            .update_expression("SET lastActivity = :now, expiresAt = :expires")
            .condition_expression(format!(
                "lastActivity <= :since AND {ALIVE} AND absoluteExpiresAt >= :expires"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("ACTIVE"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":since", n(now - every))
            .expression_attribute_values(":expires", n(expires));
        match send_update(update).await {
            Ok(_) => Ok(Some(expires)),
            Err(error) => condition_failed_item(error).map(|_| None),
        }
    }
}
