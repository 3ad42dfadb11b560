//! DynamoDB: one table, one partition per user (DESIGN §4).
//!
//! | item        | PK             | SK                                      |
//! |-------------|----------------|-----------------------------------------|
//! | account     | `USER#<user>`  | `ACCOUNT`                               |
//! | device      | `USER#<user>`  | `DEVICE#<deviceId>`                     |
//! | fingerprint | `USER#<user>`  | `FP#<sha256(fingerprint)>`              |
//! | session     | `USER#<user>`  | `SESSION#<sessionId>`                   |
//! | used id     | `USER#<user>`  | `USED#<sessionId>`                      |
//! | write budget| `USER#<user>`  | `WRITES#SIGN-IN#<minute>`, `WRITES#SESSION#<sessionId>#<minute>` |
//!
//! Reads are one strongly consistent Query of the partition below `USED#`, which also
//! yields the caller's session for the guard (eventual consistency could let a
//! just-revoked session through). Writes are transactions in which the caller's session
//! is a condition, so a write made by a revoked session can never land.
//!
//! The account item counts the user's sign-ins. Every registration adds one in its
//! transaction, and a cascade's last transaction is conditioned on the count it read:
//! a sign-in that lands between a cascade's read and its last write makes the cascade
//! read again and end that session too (see [`Store::revoke_sessions`]).
//!
//! Every transaction carries one `ClientRequestToken` for all its tries, so a try the
//! SDK repeats after losing the answer of one that committed succeeds instead of
//! failing its own conditions.
//!
//! A session item goes (by TTL) once it can no longer be alive; its used-id marker,
//! written with it and never read, stays for the tombstone period after that, so ended
//! ids cannot come back and reads do not pay for them.
//!
//! DynamoDB does not queue writes to an item another transaction holds: it refuses
//! them (`TransactionConflict`), and the SDK does not retry that. Every write of a user
//! touches that user's rate-limit counter, so two writes at once are common; each
//! write is tried again after a short jittered pause (see [`CONFLICT_ATTEMPTS`]).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use sha2::{Digest, Sha256};

use crate::auth::Identity;
use crate::domain::{
    DeviceId, DeviceType, Epoch, Lifetime, SessionId, SessionStatus, TrustState, UserId,
    used_id_ttl,
};
use crate::error::{AuthFailure, Error};

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit of actions in one `TransactWriteItems`.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Tries of a write that meets another transaction on its items. A transaction holds
/// its items for tens of milliseconds; the pauses between tries grow from
/// [`CONFLICT_PAUSE`] (20, 40, 80 ms at most, jittered so racing writers spread out),
/// 140 ms in all: far inside the function's timeout. Past them: 409, retry later.
pub const CONFLICT_ATTEMPTS: u32 = 4;
const CONFLICT_PAUSE: Duration = Duration::from_millis(20);

/// What a write refused for a concurrent transaction answers, once out of tries.
const CHANGED_CONCURRENTLY: &str = "The resource changed concurrently, retry";

/// The partition and sort key the cold-start warm-up reads (never written).
pub const WARM_UP_KEY: &str = "WARMUP";

/// The name of the TTL attribute enabled on the table.
pub const TTL_ATTRIBUTE: &str = "ttl";

/// The sort key prefix of used-id markers: after every prefix a read needs (`ACCOUNT`,
/// `DEVICE#`, `FP#`, `SESSION#`), so the read's key condition leaves them out.
const USED: &str = "USED#";

/// The sort key prefix of write-budget counters: after `USED#`, so reads never fetch
/// them either, however many minutes of counters TTL has not removed yet.
const BUDGET: &str = "WRITES#";

/// The sort key of the account item, which counts the user's sign-ins.
const ACCOUNT: &str = "ACCOUNT";

/// A session is alive: active, and before both expiries. The same rule as
/// [`Lifetime::is_alive`], as a condition expression.
const ALIVE: &str = "#status = :active AND expiresAt > :now AND absoluteExpiresAt > :now";

#[derive(Debug, Clone)]
pub struct Device {
    pub id: DeviceId,
    /// `sha256(fingerprint)`: the raw fingerprint is what trust is claimed with, so it
    /// is never stored, nor handed back.
    pub fingerprint_hash: String,
    pub name: String,
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
        self.session(&identity.session_id)
            .filter(|s| s.lifetime.is_alive(now))
            .ok_or(Error::Unauthorized(AuthFailure::SessionEnded))
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

/// Whose write budget a write spends. Ending access spends none: nothing another
/// session does can stop a user from ending sessions or dropping a device.
#[derive(Debug, Clone, Copy)]
enum Budget<'a> {
    /// The user's sign-ins: only the identity provider mints new session ids, so a
    /// thief holding one session cannot spend it.
    SignIns,
    /// One session's own writes that grant (trusting a device).
    Session(&'a SessionId),
}

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
    Untrust(&'a DeviceId),
    Remove(&'a Device),
}

/// What an action in a transaction stands for, to explain a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The caller's own session (its condition is the guard).
    Caller,
    /// The session the caller asked to end.
    Target,
    /// The device the caller named.
    Device,
    /// Anything whose failure means a concurrent change: retry.
    Other,
    /// The session id's used-id marker: the id was registered before.
    UsedBefore,
    /// A write budget for this minute; seconds until the next one.
    RateLimited(u64),
    /// The account's sign-in count: a session was registered since the read.
    SignedInSince,
}

#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    /// Seconds an ended session id is kept (see `Config::tombstone`).
    tombstone: i64,
    /// Writes one session may make per minute (see `Config::writes_per_minute`).
    writes_per_minute: u32,
    /// Sign-ins one user may make per minute (see `Config::sign_ins_per_minute`).
    sign_ins_per_minute: u32,
}

impl Store {
    pub fn new(
        client: Client,
        table: String,
        tombstone: i64,
        writes_per_minute: u32,
        sign_ins_per_minute: u32,
    ) -> Self {
        Store {
            client,
            table,
            tombstone,
            writes_per_minute,
            sign_ins_per_minute,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the connection to DynamoDB (DNS, TCP, TLS) during the cold start, where
    /// Lambda gives the function a full CPU, instead of on the first request. One
    /// GetItem of a key that never exists; the template allows GetItem on that key
    /// alone. Its outcome does not matter: a failure only means the first request
    /// connects itself.
    pub async fn warm_up(&self) {
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([
                ("PK".to_string(), s(WARM_UP_KEY)),
                ("SK".to_string(), s(WARM_UP_KEY)),
            ])))
            .send()
            .await;
        if let Err(error) = result {
            tracing::debug!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error), "warm-up failed");
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
                    let device = text(item, "deviceId").and_then(|d| DeviceId::parse(d).ok());
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

    /// Binds a new session to a device: creates the session and its used-id marker
    /// (an id used before is refused: 401), and creates the device (and its fingerprint
    /// entry, so one fingerprint is one device) or refreshes its descriptor, and counts
    /// the sign-in on the account item (which any cascade in flight checks). `Ok(false)`
    /// when a concurrent registration or a removal of the device got there first: read
    /// again and retry.
    pub async fn register(
        &self,
        user: &UserId,
        session: &Session,
        device: &Device,
        device_is_new: bool,
        now: Epoch,
    ) -> Result<bool, Error> {
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, ACCOUNT.into())))
            .update_expression("ADD signIns :one")
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
        ];
        if device_is_new {
            let mut fingerprint = key(user, format!("FP#{}", device.fingerprint_hash));
            fingerprint.insert("deviceId".into(), s(device.id.as_str()));
            for item in [device_item(user, device), fingerprint] {
                actions.push((self.create(item)?, Role::Other));
            }
        } else {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(user, format!("DEVICE#{}", device.id.as_str()))))
                .update_expression(
                    "SET deviceName = :name, deviceType = :type, os = :os, browser = :browser, \
                     userAgent = :ua, ipAddress = :ip, country = :country, city = :city, lastSeen = :now",
                )
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":name", s(&device.name))
                .expression_attribute_values(":type", s(device.device_type.as_str()))
                .expression_attribute_values(":os", s(&device.os))
                .expression_attribute_values(":browser", s(&device.browser))
                .expression_attribute_values(":ua", s(&device.user_agent))
                .expression_attribute_values(":ip", optional(&device.ip_address))
                .expression_attribute_values(":country", optional(&device.country))
                .expression_attribute_values(":city", optional(&device.city))
                .expression_attribute_values(":now", n(device.last_seen))
                .build()
                .map_err(build_fault)?;
            actions.push((
                TransactWriteItem::builder().update(update).build(),
                Role::Other,
            ));
        }
        match self.transact(actions).await {
            Ok(()) => Ok(true),
            Err(Cancelled(Role::Other)) => Ok(false),
            Err(other) => Err(explain(other)),
        }
    }

    /// Marks a device trusted until `expires_at`, if the caller's session is alive.
    pub async fn trust_device(
        &self,
        identity: &Identity,
        device: &DeviceId,
        expires_at: Epoch,
        now: Epoch,
    ) -> Result<(), Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                &identity.user_id,
                format!("DEVICE#{}", device.as_str()),
            )))
            .update_expression("SET trust = :trusted, trustExpiresAt = :expires")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":trusted", s(TrustState::Trusted.as_str()))
            .expression_attribute_values(":expires", n(expires_at))
            .build()
            .map_err(build_fault)?;
        let budget = Budget::Session(&identity.session_id);
        let actions = vec![
            self.caller_check(identity, now)?,
            self.rate_limit(&identity.user_id, budget, now)?,
            (
                TransactWriteItem::builder().update(update).build(),
                Role::Device,
            ),
        ];
        self.transact(actions).await.map_err(explain)
    }

    /// Ends one session. Ending another session of the user is conditioned on the
    /// caller's own being alive, in the same transaction. No budget: nothing another
    /// session spends can stop it.
    pub async fn revoke_session(
        &self,
        identity: &Identity,
        target: &SessionId,
        now: Epoch,
    ) -> Result<(), Error> {
        let role = if target == &identity.session_id {
            Role::Caller
        } else {
            Role::Target
        };
        let mut actions = vec![(self.revoke(&identity.user_id, target, now)?, role)];
        if role == Role::Target {
            actions.push(self.caller_check(identity, now)?);
        }
        self.transact(actions).await.map_err(explain)
    }

    /// Ends the given sessions (all alive when read) and then applies `change` to
    /// their device. Any number of sessions: they go in transactions of at most 100
    /// actions, each guarded by the caller's session; the caller's own revocation and
    /// the device change come last, so a failure half-way leaves the device as it was
    /// and only ever more sessions ended, never fewer.
    ///
    /// The last transaction is also conditioned on the account's sign-in count being
    /// `sign_ins`, the count read with `sessions`: if a session was registered since,
    /// it may be one this cascade must end, so nothing of the last transaction lands
    /// and the pass answers `complete: false` — read again and repeat. No budget is
    /// spent: ending access is never refused for a rate.
    pub async fn revoke_sessions(
        &self,
        identity: &Identity,
        sessions: &[&SessionId],
        change: Option<DeviceChange<'_>>,
        sign_ins: i64,
        now: Epoch,
    ) -> Result<Cascaded, Error> {
        let user = &identity.user_id;
        let mut others = Vec::new();
        let mut last = Vec::new();
        for id in sessions {
            if *id == &identity.session_id {
                last.push((self.revoke(user, id, now)?, Role::Caller));
            } else {
                let action = self.revoke_condition(user, id, now, "attribute_exists(PK)")?;
                others.push((action, Role::Other));
            }
        }
        match change {
            Some(DeviceChange::Untrust(device)) => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(user, format!("DEVICE#{}", device.as_str()))))
                    .update_expression("SET trust = :untrusted REMOVE trustExpiresAt")
                    .condition_expression("attribute_exists(PK)")
                    .expression_attribute_values(":untrusted", s(TrustState::Untrusted.as_str()))
                    .build()
                    .map_err(build_fault)?;
                last.push((
                    TransactWriteItem::builder().update(update).build(),
                    Role::Device,
                ));
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
                    .set_key(Some(key(user, format!("FP#{}", device.fingerprint_hash))))
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
        if !caller_in_last {
            last.push(self.caller_check(identity, now)?);
        }
        last.push(self.no_sign_in_since(user, sign_ins)?);

        // Fill transactions with the other sessions, one slot kept for the guard; the
        // last transaction carries the caller's revocation and the device change.
        let mut ended = 0;
        let room = MAX_TRANSACTION_ITEMS - 1;
        while others.len() + last.len() > MAX_TRANSACTION_ITEMS {
            let rest = others.split_off(room.min(others.len()));
            let mut batch = std::mem::replace(&mut others, rest);
            let batch_size = batch.len();
            batch.push(self.caller_check(identity, now)?);
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
    fn no_sign_in_since(
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

    /// Records activity on the caller's session and slides its idle expiry, never
    /// past the absolute cap. One conditional write when the cap is not near; a
    /// second one, pinned to the cap, when it is. `device`: the session must be on it.
    pub async fn heartbeat(
        &self,
        identity: &Identity,
        device: Option<&DeviceId>,
        now: Epoch,
        idle_timeout: i64,
    ) -> Result<Epoch, Error> {
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
                .condition_expression(format!("{ALIVE}{on_device}{condition}"))
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s("ACTIVE"))
                .expression_attribute_values(":now", n(now))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            if let Some(device) = device {
                request = request.expression_attribute_values(":device", s(device.as_str()));
            }
            request
        };

        let sliding = update(":candidate", " AND absoluteExpiresAt > :candidate".into())
            .expression_attribute_values(":candidate", n(candidate));
        let sliding = send_update(sliding).await;
        let old = match sliding {
            Ok(_) => return Ok(candidate),
            Err(error) => condition_failed_item(error)?,
        };
        // Why did it fail? Only "the cap is near" deserves the second write.
        let session = old.as_ref().and_then(session_from);
        match session {
            Some(s) if !s.lifetime.is_alive(now) => {
                Err(Error::Unauthorized(AuthFailure::SessionEnded))
            }
            Some(s) if device.is_some_and(|d| d != &s.device_id) => {
                Err(Error::SessionNotFoundOrExpired)
            }
            Some(s) => match send_update(update("absoluteExpiresAt", String::new())).await {
                Ok(_) => Ok(s.lifetime.absolute_expires_at),
                Err(error) => {
                    condition_failed_item(error)?;
                    Err(Error::Unauthorized(AuthFailure::SessionEnded))
                }
            },
            None => Err(Error::Unauthorized(AuthFailure::SessionEnded)),
        }
    }

    /// A condition that the caller's session is alive, as a transaction action.
    fn caller_check(
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
            .build()
            .map_err(build_fault)?;
        Ok((
            TransactWriteItem::builder().condition_check(check).build(),
            Role::Caller,
        ))
    }

    /// Revoking a session that must be alive.
    fn revoke(
        &self,
        user: &UserId,
        id: &SessionId,
        now: Epoch,
    ) -> Result<TransactWriteItem, Error> {
        self.revoke_condition(user, id, now, ALIVE)
    }

    /// A write budget, as a transaction action: a counter item per budget and minute,
    /// incremented in the same transaction as the write it admits (no extra round
    /// trip; one more item written). Past the budget the whole transaction is
    /// cancelled, so a refused request writes nothing.
    fn rate_limit(
        &self,
        user: &UserId,
        budget: Budget<'_>,
        now: Epoch,
    ) -> Result<(TransactWriteItem, Role), Error> {
        let window = now - now.rem_euclid(60);
        let (sort_key, limit) = match budget {
            Budget::SignIns => (
                format!("{BUDGET}SIGN-IN#{window}"),
                self.sign_ins_per_minute,
            ),
            Budget::Session(id) => (
                format!("{BUDGET}SESSION#{}#{window}", id.as_str()),
                self.writes_per_minute,
            ),
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, sort_key)))
            .update_expression("ADD #count :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .expression_attribute_values(":ttl", n(window + 120))
            .build()
            .map_err(build_fault)?;
        let retry_after = (window + 60 - now).max(1) as u64;
        Ok((
            TransactWriteItem::builder().update(update).build(),
            Role::RateLimited(retry_after),
        ))
    }

    /// A Put that only creates: its condition fails when the item exists.
    fn create(&self, item: Item) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_fault)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The marker that the session id was registered, kept past any use of the id.
    fn used_id_item(&self, user: &UserId, session: &Session) -> Item {
        let mut item = key(user, format!("{USED}{}", session.id.as_str()));
        let ttl = used_id_ttl(&session.lifetime, self.tombstone);
        item.insert(TTL_ATTRIBUTE.into(), n(ttl));
        item
    }

    /// The session stays, revoked, until its TTL (its absolute expiry); its used-id
    /// marker keeps the id from coming back after that.
    fn revoke_condition(
        &self,
        user: &UserId,
        id: &SessionId,
        now: Epoch,
        condition: &str,
    ) -> Result<TransactWriteItem, Error> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, session_sk(id))))
            .update_expression("SET #status = :revoked, revokedAt = :now")
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":revoked", s("REVOKED"))
            .expression_attribute_values(":now", n(now));
        if condition == ALIVE {
            update = update.expression_attribute_values(":active", s("ACTIVE"));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_fault)?)
            .build())
    }

    /// One transaction, tried again while it only meets other transactions. One
    /// logical write is one `ClientRequestToken`, for our tries and the SDK's alike:
    /// a try repeated after one that committed (its answer lost to a timeout or a
    /// dropped connection) succeeds without writing again, instead of failing on the
    /// conditions its own first try changed. A cancelled try commits nothing, so
    /// DynamoDB runs the next one with the same token afresh.
    async fn transact(&self, actions: Vec<(TransactWriteItem, Role)>) -> Result<(), TransactError> {
        let (items, roles): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        let token = uuid::Uuid::new_v4().hyphenated().to_string();
        let attempt = || self.transact_once(items.clone(), &roles, &token);
        tried_again(attempt, |error| matches!(error, Conflict)).await
    }

    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
        roles: &[Role],
        token: &str,
    ) -> Result<(), TransactError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(context)) => match context.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let failed: Vec<Role> = reasons
                        .iter()
                        .zip(roles)
                        .filter(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"))
                        .map(|(_, role)| *role)
                        .collect();
                    let conflict = reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"));
                    // A dead caller learns nothing else: its failure is reported first.
                    let first = failed
                        .iter()
                        .find(|r| **r == Role::Caller)
                        .or(failed.first());
                    match first {
                        Some(role) => Err(Cancelled(*role)),
                        // Another transaction was writing the same items.
                        None if conflict => Err(Conflict),
                        None => Err(Failed(Error::Unavailable(format!(
                            "transaction cancelled: {cancelled}"
                        )))),
                    }
                }
                _ => Err(Failed(fault(SdkError::ServiceError(context)))),
            },
            Err(other) => Err(Failed(fault(other))),
        }
    }
}

#[derive(Debug)]
enum TransactError {
    Cancelled(Role),
    /// Only other transactions in the way: worth another try.
    Conflict,
    Failed(Error),
}
use TransactError::{Cancelled, Conflict, Failed};

/// An UpdateItem, tried again while another transaction holds the item.
async fn send_update(
    request: UpdateItemFluentBuilder,
) -> Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>> {
    let conflict = |error: &SdkError<UpdateItemError, HttpResponse>| {
        matches!(
            error.as_service_error(),
            Some(UpdateItemError::TransactionConflictException(_))
        )
    };
    tried_again(|| request.clone().send(), conflict).await
}

/// Runs `attempt` up to [`CONFLICT_ATTEMPTS`] times, pausing between tries, while it
/// fails with a conflict.
async fn tried_again<T, E, F>(
    attempt: impl Fn() -> F,
    conflict: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if conflict(&error) && tries < CONFLICT_ATTEMPTS => {
                conflict_pause(tries).await;
                tries += 1;
            }
            done => return done,
        }
    }
}

/// The pause after try `tries`: between half and all of 20 ms × 2^(tries - 1), at
/// random, so writers that met do not meet again.
async fn conflict_pause(tries: u32) {
    let ceiling = CONFLICT_PAUSE * 2u32.pow(tries - 1);
    let pause = ceiling / 2 + ceiling.mul_f64(fastrand::f64()) / 2;
    tokio::time::sleep(pause).await;
}

/// What a cancelled transaction means to the caller.
fn explain(error: TransactError) -> Error {
    match error {
        Cancelled(Role::Caller) => Error::Unauthorized(AuthFailure::SessionEnded),
        Cancelled(Role::Target) => Error::SessionNotFound,
        Cancelled(Role::Device) => Error::DeviceNotFound,
        Cancelled(Role::UsedBefore) => Error::Unauthorized(AuthFailure::SessionEnded),
        Cancelled(Role::Other | Role::SignedInSince) | Conflict => {
            Error::Conflict(CHANGED_CONCURRENTLY)
        }
        Cancelled(Role::RateLimited(retry_after)) => Error::RateLimited { retry_after },
        Failed(error) => error,
    }
}

/// The old item when an update failed its condition; any other failure is a fault.
fn condition_failed_item<R: std::fmt::Debug>(
    error: SdkError<UpdateItemError, R>,
) -> Result<Option<Item>, Error> {
    match error {
        SdkError::ServiceError(context) => match context.err() {
            UpdateItemError::ConditionalCheckFailedException(failed) => Ok(failed.item().cloned()),
            _ => Err(fault(SdkError::ServiceError(context))),
        },
        other => Err(fault(other)),
    }
}

/// An SDK failure as our error: DynamoDB unreachable, slow or throttling (after the
/// SDK's own retries) is 503; an item another transaction still held after our tries
/// is 409; anything else 500. The detail is only logged.
pub fn fault<E, R>(error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&error));
    if let SdkError::ServiceError(context) = &error
        && context.err().code() == Some("TransactionConflictException")
    {
        return Error::Conflict(CHANGED_CONCURRENTLY);
    }
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => matches!(
            context.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    };
    if transient {
        Error::Unavailable(detail)
    } else {
        Error::Internal(detail)
    }
}

fn build_fault(error: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(format!("request build: {error}"))
}

/// The fingerprint's key: a hash, so the key is fixed-size whatever the client sends.
pub fn fingerprint_hash(fingerprint: &str) -> String {
    hex::encode(Sha256::digest(fingerprint.as_bytes()))
}

/// What reads show of a fingerprint (`deviceFingerprint`): 16 hex digits of a per-user
/// digest of its hash. Enough to tell devices apart; useless for claiming a device's
/// trust, which takes the raw fingerprint, and not the key it is stored under.
pub fn fingerprint_digest(user: &UserId, hash: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"flashback-device-fingerprint\0")
        .chain_update(user.as_str())
        .chain_update(b"\0")
        .chain_update(hash)
        .finalize();
    hex::encode(&digest[..8])
}

fn pk(user: &UserId) -> AttributeValue {
    s(format!("USER#{}", user.as_str()))
}

fn session_sk(id: &SessionId) -> String {
    format!("SESSION#{}", id.as_str())
}

fn key(user: &UserId, sk: String) -> Item {
    HashMap::from([("PK".to_string(), pk(user)), ("SK".to_string(), s(sk))])
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn optional(value: &Option<String>) -> AttributeValue {
    value.as_ref().map_or(AttributeValue::Null(true), s)
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn owned(item: &Item, name: &str) -> Option<String> {
    text(item, name).map(str::to_string)
}

fn number(item: &Item, name: &str) -> Option<Epoch> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn device_item(user: &UserId, device: &Device) -> Item {
    let mut item = key(user, format!("DEVICE#{}", device.id.as_str()));
    let fields = [
        ("deviceId", s(device.id.as_str())),
        ("fingerprintHash", s(&device.fingerprint_hash)),
        ("deviceName", s(&device.name)),
        ("deviceType", s(device.device_type.as_str())),
        ("os", s(&device.os)),
        ("browser", s(&device.browser)),
        ("userAgent", s(&device.user_agent)),
        ("ipAddress", optional(&device.ip_address)),
        ("country", optional(&device.country)),
        ("city", optional(&device.city)),
        ("trust", s(device.trust.as_str())),
        ("lastSeen", n(device.last_seen)),
        ("createdAt", n(device.created_at)),
    ];
    item.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let Some(expires) = device.trust_expires_at {
        item.insert("trustExpiresAt".into(), n(expires));
    }
    item
}

fn device_from(item: &Item) -> Option<Device> {
    Some(Device {
        id: DeviceId::parse(text(item, "deviceId")?).ok()?,
        // Devices stored before hashes were: the raw value, hashed as it is read.
        fingerprint_hash: owned(item, "fingerprintHash")
            .or_else(|| text(item, "fingerprint").map(fingerprint_hash))?,
        name: owned(item, "deviceName")?,
        device_type: DeviceType::parse(text(item, "deviceType")?).unwrap_or(DeviceType::Unknown),
        os: owned(item, "os").unwrap_or_default(),
        browser: owned(item, "browser").unwrap_or_default(),
        user_agent: owned(item, "userAgent").unwrap_or_default(),
        ip_address: owned(item, "ipAddress"),
        country: owned(item, "country"),
        city: owned(item, "city"),
        trust: TrustState::parse(text(item, "trust").unwrap_or_default()),
        trust_expires_at: number(item, "trustExpiresAt"),
        last_seen: number(item, "lastSeen")?,
        created_at: number(item, "createdAt")?,
    })
}

fn session_item(user: &UserId, session: &Session) -> Item {
    let mut item = key(user, session_sk(&session.id));
    let status = match session.lifetime.status {
        SessionStatus::Active => "ACTIVE",
        SessionStatus::Revoked => "REVOKED",
    };
    let fields = [
        ("sessionId", s(session.id.as_str())),
        ("deviceId", s(session.device_id.as_str())),
        ("status", s(status)),
        ("startedAt", n(session.started_at)),
        ("lastActivity", n(session.last_activity)),
        ("expiresAt", n(session.lifetime.expires_at)),
        ("absoluteExpiresAt", n(session.lifetime.absolute_expires_at)),
        ("ipAddress", optional(&session.ip_address)),
        ("location", optional(&session.location)),
        ("loginMethod", optional(&session.login_method)),
        // It can be alive no longer; heartbeats never move the cap, so never the TTL.
        (TTL_ATTRIBUTE, n(session.lifetime.absolute_expires_at)),
    ];
    item.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    item
}

fn session_from(item: &Item) -> Option<Session> {
    let status = match text(item, "status")? {
        "ACTIVE" => SessionStatus::Active,
        _ => SessionStatus::Revoked,
    };
    Some(Session {
        id: SessionId::parse(text(item, "sessionId")?).ok()?,
        device_id: DeviceId::parse(text(item, "deviceId")?).ok()?,
        lifetime: Lifetime {
            status,
            expires_at: number(item, "expiresAt")?,
            absolute_expires_at: number(item, "absoluteExpiresAt")?,
        },
        started_at: number(item, "startedAt")?,
        last_activity: number(item, "lastActivity")?,
        ip_address: owned(item, "ipAddress"),
        location: owned(item, "location"),
        login_method: owned(item, "loginMethod"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_before_the_used_ids_and_miss_nothing_else() {
        // Every kind of item a read needs sorts below `USED#` (the Query's `SK < :used`).
        for prefix in [ACCOUNT, "DEVICE#", "FP#", "SESSION#"] {
            let largest = format!("{prefix}{}", '\u{10FFFF}');
            assert!(largest.as_str() < USED, "{prefix}");
        }
        // Used-id markers and write-budget counters sort at or after it: never read.
        for never_read in [USED, BUDGET] {
            assert!(format!("{never_read}any").as_str() >= USED, "{never_read}");
        }
    }
}
