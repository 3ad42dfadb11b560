//! DynamoDB: one table, one partition per user; the items and their keys are laid out
//! in docs/design.md. The store only stores: the entities and their rules are
//! `crate::domain`'s, `codec.rs` maps them to items and back, `actions.rs` builds the
//! transaction actions the writes (`writes.rs`, `cascades.rs`) are made of.
//!
//! Reads are strongly consistent (eventual consistency could let a just-revoked
//! session through): one Query of the partition below `USED#` for a route that lists
//! the account, which also yields the caller's session for the guard; for any other,
//! the caller's session and at most one more item by key (docs/design.md#reads).
//! Writes are transactions in which the caller's session is a condition, so a write
//! made by a revoked session can never land.
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

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::config::Config;

mod account;
mod actions;
mod activity;
mod cascades;
mod codec;
mod events;
mod handoff;
mod proofs;
mod report;
mod sweep;
mod transact;
mod writes;

pub use cascades::{Cascaded, DeviceChange};
pub use codec::{event_from, is_event_key, stored_session};
pub use events::EventPage;
pub use handoff::{PAGE_CODE, PAGE_CODE_SK, SealedHandoff};
pub use report::{NOT_ME_BUDGET, NOT_ME_CALLS_PER_MINUTE, REPORTED, ReportedSignIn, Spend};
pub use sweep::{MOST_SWEPT, SWEEP_GRACE_SECONDS};
pub use transact::{CONFLICT_ATTEMPTS, conflict_pause, fault};
pub use writes::SignInWrite;

use codec::s;

type Item = HashMap<String, AttributeValue>;

/// The partition and sort key the cold-start warm-up reads (never written).
pub const WARM_UP_KEY: &str = "WARMUP";

/// The name of the TTL attribute enabled on the table.
pub const TTL_ATTRIBUTE: &str = "ttl";

/// The sort key prefix of session items.
const SESSION: &str = "SESSION#";

/// The sort key prefix of used-id markers: after every prefix a read needs (`ACCOUNT`,
/// `DEVICE#`, `FP#`, `SESSION#`), so the read's key condition leaves them out.
const USED: &str = "USED#";

/// The sort key prefix of write-budget counters: after `USED#`, so reads never fetch
/// them either, however many minutes of counters TTL has not removed yet.
const BUDGET: &str = "WRITES#";

/// The partition key prefix of spent DPoP proofs, one partition per device key.
pub const PROOFS: &str = "PROOF#";

/// The partition key prefix of a user's security events.
pub const EVENTS: &str = "EVENTS#";

/// The sort key of the account item, which counts the user's sign-ins.
const ACCOUNT: &str = "ACCOUNT";

/// A session is alive: active, and before both expiries. The same rule as
/// [`Lifetime::is_alive`](crate::domain::Lifetime::is_alive), as a condition expression.
const ALIVE: &str = "#status = :active AND expiresAt > :now AND absoluteExpiresAt > :now";

/// The caller holds the session's key, if it has one (`:key`: the thumbprint of the
/// request's proof, `-` without one). The same rule as `Session::admits`; the heartbeat
/// writes without reading first, so its condition carries it.
const HELD: &str = " AND (attribute_not_exists(keyThumbprint) OR keyThumbprint = :key)";

/// An item is not past its TTL (`#ttl` names the attribute; items written before
/// devices had one have none). The same rule reads apply (`codec::device_from`).
const NOT_EXPIRED: &str = "(attribute_not_exists(#ttl) OR #ttl > :now)";

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
    /// Seconds a security event is kept (see `Config::event_retention`).
    event_retention: i64,
    /// Seconds a session lives at most, and an unused device is kept past its last
    /// session and trust: what a device's TTL is made of (see `codec::device_ttl`).
    absolute_timeout: i64,
    device_retention: i64,
}

impl Store {
    pub fn new(client: Client, config: &Config) -> Self {
        Store {
            client,
            table: config.table_name.clone(),
            tombstone: config.tombstone,
            writes_per_minute: config.writes_per_minute,
            sign_ins_per_minute: config.sign_ins_per_minute,
            event_retention: config.event_retention,
            absolute_timeout: config.absolute_timeout,
            device_retention: config.device_retention,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_before_the_used_ids_and_miss_nothing_else() {
        // Every kind of item a read needs sorts below `USED#` (the Query's `SK < :used`).
        for prefix in [ACCOUNT, "DEVICE#", "FP#", "KEY#", SESSION] {
            let largest = format!("{prefix}{}", '\u{10FFFF}');
            assert!(largest.as_str() < USED, "{prefix}");
        }
        // Used-id markers and write-budget counters sort at or after it: never read.
        for never_read in [USED, BUDGET] {
            assert!(format!("{never_read}any").as_str() >= USED, "{never_read}");
        }
    }
}
