//! Security events: every change to a user's devices and sessions, written in the same
//! transaction as the change (so a write that fails leaves none), kept for the
//! retention period, shown to the user (`GET /security-events`) and published for the
//! platform from the table's stream.
//!
//! They live in a partition of their own, `EVENTS#<user>`, sorted by time: the device
//! and session routes read `USER#<user>` and never pay for them.
//!
//! | attribute    | type | what                                                        |
//! |--------------|------|-------------------------------------------------------------|
//! | `PK`         | S    | `EVENTS#<userId>`                                           |
//! | `SK`         | S    | `<epoch millis, 13 digits>#<eventId>`: newest last          |
//! | `eventId`    | S    | 32 hex digits, unique: consumers de-duplicate on it         |
//! | `userId`     | S    | whose devices and sessions changed                          |
//! | `type`       | S    | [`EventType`] (`DEVICE_TRUSTED`, `SESSION_REVOKED`, …)      |
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

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::Serialize;

use crate::domain::{EndReason, Epoch, UserId};
use crate::error::Error;

use super::codec::{n, number, owned, s, text};
use super::transact::{build_fault, fault};
use super::{Item, Store, TTL_ATTRIBUTE};

/// The partition key prefix of a user's events.
pub const EVENTS: &str = "EVENTS#";

/// What changed. The platform's names where it has one (`SUCCESSFUL_LOGIN`,
/// `DEVICE_TRUSTED`, `DEVICE_UNTRUSTED`, `DEVICE_REMOVED`); ours for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// A sign-in on a device the account knew.
    SuccessfulLogin,
    /// A sign-in that registered a new device.
    NewDeviceSignIn,
    DeviceTrusted,
    /// The user named the device.
    DeviceRenamed,
    /// Trust dropped, and the device's sessions ended.
    DeviceUntrusted,
    /// The device removed, and its sessions ended.
    DeviceRemoved,
    /// One session ended by its user (signing out, or from another session).
    SessionRevoked,
    /// A session ended to make room for a sign-in under the per-user cap.
    SessionEvicted,
    /// Every session ended by the user (revoke-all).
    AllSessionsRevoked,
    /// Sessions ended by a platform service (`/admin/…`).
    AdminSessionsRevoked,
    /// A session's item removed by DynamoDB's TTL after its absolute expiry: published
    /// from the stream, late (TTL deletes typically within a few days), never stored.
    SessionExpired,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SuccessfulLogin => "SUCCESSFUL_LOGIN",
            EventType::NewDeviceSignIn => "NEW_DEVICE_SIGN_IN",
            EventType::DeviceTrusted => "DEVICE_TRUSTED",
            EventType::DeviceRenamed => "DEVICE_RENAMED",
            EventType::DeviceUntrusted => "DEVICE_UNTRUSTED",
            EventType::DeviceRemoved => "DEVICE_REMOVED",
            EventType::SessionRevoked => "SESSION_REVOKED",
            EventType::SessionEvicted => "SESSION_EVICTED",
            EventType::AllSessionsRevoked => "ALL_SESSIONS_REVOKED",
            EventType::AdminSessionsRevoked => "ADMIN_SESSIONS_REVOKED",
            EventType::SessionExpired => "SESSION_EXPIRED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            EventType::SuccessfulLogin,
            EventType::NewDeviceSignIn,
            EventType::DeviceTrusted,
            EventType::DeviceRenamed,
            EventType::DeviceUntrusted,
            EventType::DeviceRemoved,
            EventType::SessionRevoked,
            EventType::SessionEvicted,
            EventType::AllSessionsRevoked,
            EventType::AdminSessionsRevoked,
            EventType::SessionExpired,
        ]
        .into_iter()
        .find(|t| t.as_str() == raw)
    }
}

impl EndReason {
    /// How the sessions a change ends are recorded as ended.
    pub fn of(event: EventType) -> Self {
        match event {
            EventType::AllSessionsRevoked => EndReason::RevokedAll,
            EventType::DeviceUntrusted => EndReason::DeviceUntrusted,
            EventType::DeviceRemoved => EndReason::DeviceRemoved,
            EventType::AdminSessionsRevoked => EndReason::Admin,
            _ => EndReason::Revoked,
        }
    }
}

/// Who made the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The user, through this session.
    Session(String),
    /// A platform service: the IAM principal's ARN.
    Service(String),
    /// The service itself (TTL).
    System(String),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Session(_) => "SESSION",
            Actor::Service(_) => "SERVICE",
            Actor::System(_) => "SYSTEM",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Actor::Session(id) | Actor::Service(id) | Actor::System(id) => id,
        }
    }
}

/// What the change was made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetType {
    Session,
    Device,
    Account,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Session => "SESSION",
            TargetType::Device => "DEVICE",
            TargetType::Account => "ACCOUNT",
        }
    }
}

/// Where a request came from, as the event records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: String,
    pub user: UserId,
    pub event_type: EventType,
    pub reason: Option<String>,
    pub actor: Actor,
    pub target: (TargetType, String),
    pub device_id: Option<String>,
    pub count: Option<usize>,
    pub origin: Origin,
    /// Epoch milliseconds: orders events within a second.
    pub at_millis: i64,
}

impl SecurityEvent {
    /// A new event of `event_type` made by `actor` to `target`, now.
    pub fn new(
        user: &UserId,
        event_type: EventType,
        actor: Actor,
        target: (TargetType, &str),
        origin: Origin,
    ) -> Self {
        SecurityEvent {
            id: uuid::Uuid::new_v4().simple().to_string(),
            user: user.clone(),
            event_type,
            reason: None,
            actor,
            target: (target.0, target.1.to_string()),
            device_id: None,
            count: None,
            origin,
            at_millis: time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000,
        }
    }

    pub fn on_device(mut self, device_id: &str) -> Self {
        self.device_id = Some(device_id.to_string());
        self
    }

    pub fn ended(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }

    pub fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn at(&self) -> Epoch {
        self.at_millis.div_euclid(1000)
    }
}

/// A page of a user's events, newest first.
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    /// The sort key to continue after, when more remain.
    pub next: Option<String>,
}

impl Store {
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

/// Whether `key` has the shape of an event's sort key (a cursor must).
pub fn is_event_key(key: &str) -> bool {
    match key.split_once('#') {
        Some((millis, id)) => {
            millis.len() == 13
                && millis.bytes().all(|b| b.is_ascii_digit())
                && id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }
        None => false,
    }
}

/// The sort key of an event: time first, so a partition reads in order.
pub fn event_sort_key(event: &SecurityEvent) -> String {
    format!("{:013}#{}", event.at_millis, event.id)
}

fn event_item(event: &SecurityEvent, retention: i64) -> Item {
    let mut item = Item::from([
        (
            "PK".to_string(),
            s(format!("{EVENTS}{}", event.user.as_str())),
        ),
        ("SK".to_string(), s(event_sort_key(event))),
        ("eventId".to_string(), s(&event.id)),
        ("userId".to_string(), s(event.user.as_str())),
        ("type".to_string(), s(event.event_type.as_str())),
        ("actorType".to_string(), s(event.actor.kind())),
        ("actorId".to_string(), s(event.actor.id())),
        ("targetType".to_string(), s(event.target.0.as_str())),
        ("targetId".to_string(), s(&event.target.1)),
        ("at".to_string(), n(event.at())),
        (TTL_ATTRIBUTE.to_string(), n(event.at() + retention)),
    ]);
    let optional = [
        ("reason", event.reason.as_deref()),
        ("deviceId", event.device_id.as_deref()),
        ("sourceIp", event.origin.source_ip.as_deref()),
        ("userAgent", event.origin.user_agent.as_deref()),
        ("location", event.origin.location.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_string(), s(value));
        }
    }
    if let Some(count) = event.count {
        item.insert("count".to_string(), n(count as i64));
    }
    item
}

/// An event as stored (or as a stream record's image holds it); `None` for anything
/// else.
pub fn event_from(item: &Item) -> Option<SecurityEvent> {
    let sk = text(item, "SK")?;
    let at_millis = sk.split('#').next()?.parse().ok()?;
    let actor_id = owned(item, "actorId")?;
    let actor = match text(item, "actorType")? {
        "SESSION" => Actor::Session(actor_id),
        "SERVICE" => Actor::Service(actor_id),
        _ => Actor::System(actor_id),
    };
    let target_type = match text(item, "targetType")? {
        "SESSION" => TargetType::Session,
        "DEVICE" => TargetType::Device,
        _ => TargetType::Account,
    };
    Some(SecurityEvent {
        id: owned(item, "eventId")?,
        user: UserId::parse(text(item, "userId")?)?,
        event_type: EventType::parse(text(item, "type")?)?,
        reason: owned(item, "reason"),
        actor,
        target: (target_type, owned(item, "targetId")?),
        device_id: owned(item, "deviceId"),
        count: number(item, "count").map(|c| c.max(0) as usize),
        origin: Origin {
            source_ip: owned(item, "sourceIp"),
            user_agent: owned(item, "userAgent"),
            location: owned(item, "location"),
        },
        at_millis,
    })
}
