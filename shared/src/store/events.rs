//! Security events: every change to a user's devices and sessions, written in the same
//! transaction as the change (so a write that fails leaves none), kept for the
//! retention period, shown to the user (`GET /security-events`) and published for the
//! platform from the table's stream.
//!
//! They live in a partition of their own, `EVENTS#<user>`, sorted by time: the device
//! and session routes read `USER#<user>` and never pay for them (`codec.rs` maps the
//! item):
//!
//! | attribute    | type | what                                                        |
//! |--------------|------|-------------------------------------------------------------|
//! | `PK`         | S    | `EVENTS#<userId>`                                           |
//! | `SK`         | S    | `<epoch millis, 13 digits>#<eventId>`: newest last          |
//! | `eventId`    | S    | 32 hex digits, unique: consumers de-duplicate on it         |
//! | `userId`     | S    | whose devices and sessions changed                          |
//! | `type`       | S    | [`EventType`](crate::domain::EventType) (`DEVICE_TRUSTED`, `SESSION_REVOKED`, …)      |
//! | `reason`     | S?   | why, when the type alone does not say                       |
//! | `actorType`  | S    | `SESSION` (the user, through one of their sessions), `SERVICE` (an IAM principal), `SYSTEM` |
//! | `actorId`    | S    | the session id, the IAM principal's ARN, or `ttl`          |
//! | `targetType` | S    | `SESSION`, `DEVICE` or `ACCOUNT`                            |
//! | `targetId`   | S    | the session id, the device id, or the user id               |
//! | `deviceId`   | S?   | the device concerned, when there is one                     |
//! | `count`      | N?   | sessions ended by a cascade                                  |
//! | `sourceIp`   | S?   | where the request came from (API Gateway's `sourceIp`)      |
//! | `userAgent`  | S?   | the request's User-Agent                                     |
//! | `location`   | S?   | "City, Country" when the sign-in said                        |
//! | `at`         | N    | epoch seconds                                                |
//! | `ttl`        | N    | `at` + the retention period (`SECURITY_EVENT_RETENTION_DAYS`) |

use crate::domain::{SecurityEvent, UserId};
use crate::error::Error;

use super::codec::{event_from, s, text};
use super::transact::fault;
use super::{EVENTS, Item, Store};

/// A page of a user's events, newest first.
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    /// The sort key to continue after, when more remain.
    pub next: Option<String>,
}

impl Store {
    /// Up to `limit` of the user's events, newest first, continuing before `after` (a
    /// sort key a previous page answered). One strongly consistent Query of the
    /// user's own events partition: a sort key from anywhere cannot reach another's.
    pub async fn security_events(
        &self,
        user: &UserId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<EventPage, Error> {
        let pk = s(format!("{EVENTS}{}", user.as_str()));
        let start =
            after.map(|sk| Item::from([("PK".to_string(), pk.clone()), ("SK".to_string(), s(sk))]));
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", pk)
            .scan_index_forward(false)
            .limit(limit as i32)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(fault)?;
        let events = page.items().iter().filter_map(event_from).collect();
        let next = page
            .last_evaluated_key
            .as_ref()
            .and_then(|key| text(key, "SK"))
            .map(str::to_string);
        Ok(EventPage { events, next })
    }
}
