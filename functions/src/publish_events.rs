//! `publish-events` — not a route: the consumer of the table's DynamoDB stream
//! (`NEW_AND_OLD_IMAGES`), which puts every security event on Amazon EventBridge for
//! the platform's services (notifications, fraud, audit).
//!
//! For each stream record, in order:
//!
//! - `INSERT` of an item in an `EVENTS#<userId>` partition (a security event, written
//!   in the transaction of its change: `shared::store::events`) → one EventBridge event:
//!   `source` [`SOURCE`], `detail-type` the event's type (`DEVICE_TRUSTED`, …), `detail`
//!   the event as `GET /security-events` shows it ([`SecurityEventView`]), `time` the
//!   event's time. `detail.id` is the event's id: delivery is at least once, so
//!   consumers de-duplicate on it.
//! - `REMOVE` of a still-active `SESSION#` item by DynamoDB's TTL (`userIdentity` is the
//!   service `dynamodb.amazonaws.com`) → a `SESSION_EXPIRED` event, built from the old
//!   image, never stored. It is late: TTL deletes an item typically within a few days
//!   after its `ttl`, which for a session is its absolute expiry. Its time is when the
//!   session expired (idle or absolute expiry, whichever came first), its id is derived
//!   from the stream record's `eventID`, so a retried record publishes the same id. A
//!   session that was revoked has had its event already: its removal publishes nothing.
//! - anything else is ignored (the template's filter lets little else through).
//!
//! PutEvents takes 10 entries per call: the events go in order, 10 at a time. The
//! answer is a partial-batch response (`ReportBatchItemFailures`): the sequence number
//! of the first record not published, after which Lambda retries that record and
//! everything after it, so nothing is skipped and an event published twice carries the
//! same id. A record that cannot be read is logged and counted as done: one bad record
//! never holds the stream back.
//!
//! Logs: one line per published event (type, id, user — never the IP address or the
//! User-Agent the event carries).

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::domain::{Actor, EventType, Origin, SecurityEvent, TargetType};
use shared::domain::{EndReason, SessionStatus};
use shared::store::{EVENTS, event_from, stored_session};
use shared::views::SecurityEventView;

/// The `source` of every event this service puts on the bus; rules select the
/// service's events with `{"source": ["flashback.device-sessions"]}`.
pub const SOURCE: &str = "flashback.device-sessions";

/// The bus when `EVENT_BUS_NAME` is not set: the account's default bus.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// Entries PutEvents accepts in one call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// The principal of DynamoDB's TTL deletions in a stream record's `userIdentity`.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// Time kept before the invocation's deadline: one PutEvents call is bounded to ~4 s by
/// the SDK configuration, so none starts with less than this left.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// An item as the AWS SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// What Lambda passes: the batch of stream records. Each record is read on its own, so
/// one malformed record cannot fail the batch.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<Value>,
}

/// The partial-batch response (`ReportBatchItemFailures`): empty when every record is
/// done, else the sequence number of the first record not published.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    fn retry_from(sequence_number: &str) -> Self {
        BatchResponse {
            batch_item_failures: vec![ItemFailure {
                item_identifier: sequence_number.to_string(),
            }],
        }
    }
}

/// One stream record, as Lambda delivers it (the fields used).
#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "eventName")]
    event_name: String,
    dynamodb: Change,
    #[serde(rename = "userIdentity")]
    user_identity: Option<UserIdentity>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(rename = "Keys", default)]
    keys: Map<String, Value>,
    #[serde(rename = "NewImage")]
    new_image: Option<Map<String, Value>>,
    #[serde(rename = "OldImage")]
    old_image: Option<Map<String, Value>>,
    #[serde(rename = "SequenceNumber")]
    sequence_number: String,
}

#[derive(Debug, Deserialize)]
struct UserIdentity {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "principalId")]
    principal_id: String,
}

/// A stream image (`{"PK": {"S": "…"}, "count": {"N": "3"}, …}`) as an SDK item, so
/// that the store's own readers (`event_from`) parse it.
pub fn image(image: &Map<String, Value>) -> Result<Item, String> {
    image
        .iter()
        .map(|(name, value)| {
            Ok((
                name.clone(),
                attribute(value).map_err(|e| format!("{name}: {e}"))?,
            ))
        })
        .collect()
}

/// One attribute value in DynamoDB's JSON: an object with exactly one type key.
pub fn attribute(value: &Value) -> Result<AttributeValue, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("not a typed value")?;
    let (kind, inner) = object.iter().next().ok_or("not a typed value")?;
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .ok_or(format!("{kind} is not a string"))
    };
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        v.as_array()
            .ok_or(format!("{kind} is not a list"))?
            .iter()
            .map(string)
            .collect()
    };
    let blob = |v: &Value| -> Result<Blob, String> {
        let encoded = v.as_str().ok_or(format!("{kind} is not base64"))?;
        aws_smithy_types::base64::decode(encoded)
            .map(Blob::new)
            .map_err(|_| format!("{kind} is not base64"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(string(inner)?),
        "N" => AttributeValue::N(string(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL is not a boolean")?),
        "NULL" => AttributeValue::Null(inner.as_bool().ok_or("NULL is not a boolean")?),
        "M" => AttributeValue::M(image(inner.as_object().ok_or("M is not a map")?)?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or("L is not a list")?
                .iter()
                .map(attribute)
                .collect::<Result<_, _>>()?,
        ),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BS" => AttributeValue::Bs(
            inner
                .as_array()
                .ok_or("BS is not a list")?
                .iter()
                .map(blob)
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unknown type {other}")),
    })
}

/// What a record asks for.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Put this event on the bus.
    Publish(Box<SecurityEvent>),
    /// Not an event: nothing to do.
    Ignore,
    /// Unreadable (logged and counted as done): why.
    Skip(String),
}

/// Decides one stream record. The sequence number is `None` only when the record is
/// too malformed to carry one.
pub fn decide(record: &Value) -> (Option<String>, Decision) {
    let sequence = record
        .pointer("/dynamodb/SequenceNumber")
        .and_then(Value::as_str)
        .map(str::to_string);
    let record: Record = match serde_json::from_value(record.clone()) {
        Ok(record) => record,
        Err(error) => {
            return (
                sequence,
                Decision::Skip(format!("not a stream record: {error}")),
            );
        }
    };
    let decision = match record.event_name.as_str() {
        "INSERT" if key(&record, "PK").is_some_and(|pk| pk.starts_with(EVENTS)) => {
            match record.dynamodb.new_image.as_ref().map(image) {
                None => Decision::Skip("an INSERT without its new image".into()),
                Some(Err(error)) => Decision::Skip(format!("unreadable new image: {error}")),
                Some(Ok(item)) => match event_from(&item) {
                    Some(event) => Decision::Publish(Box::new(event)),
                    None => Decision::Skip("an EVENTS# item that is not a security event".into()),
                },
            }
        }
        "REMOVE"
            if removed_by_ttl(&record)
                && key(&record, "PK").is_some_and(|pk| pk.starts_with(USER))
                && key(&record, "SK").is_some_and(|sk| sk.starts_with(SESSION)) =>
        {
            match record.dynamodb.old_image.as_ref().map(image) {
                None => Decision::Skip("a REMOVE without its old image".into()),
                Some(Err(error)) => Decision::Skip(format!("unreadable old image: {error}")),
                Some(Ok(item)) => match expired_session(&item, &record.event_id) {
                    Ok(Some(event)) => Decision::Publish(Box::new(event)),
                    Ok(None) => Decision::Ignore,
                    Err(why) => Decision::Skip(why),
                },
            }
        }
        _ => Decision::Ignore,
    };
    (Some(record.dynamodb.sequence_number), decision)
}

const USER: &str = "USER#";
const SESSION: &str = "SESSION#";

fn key<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record.dynamodb.keys.get(name)?.get("S")?.as_str()
}

fn removed_by_ttl(record: &Record) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|who| who.kind == "Service" && who.principal_id == TTL_PRINCIPAL)
}

/// The `SESSION_EXPIRED` event of a session item TTL removed (`Ok(None)`: the session
/// had been revoked, and that was its event). Its id is derived from the stream
/// record's id, so a retried record publishes the same event.
pub fn expired_session(
    item: &Item,
    stream_event_id: &str,
) -> Result<Option<SecurityEvent>, String> {
    let (user, session) = stored_session(item).ok_or("not a readable session item")?;
    if session.lifetime.status != SessionStatus::Active {
        return Ok(None);
    }
    // It ended at whichever expiry came first, for the reason that expiry gives.
    let lifetime = session.lifetime;
    let ended = lifetime.expires_at.min(lifetime.absolute_expires_at);
    let reason = lifetime
        .ended(ended)
        .map_or("ABSOLUTE_TIMEOUT", EndReason::as_str);
    let mut event = SecurityEvent::new(
        &user,
        EventType::SessionExpired,
        Actor::System("ttl".into()),
        (TargetType::Session, session.id.as_str()),
        Origin::default(),
    )
    .because(reason)
    .on_device(&session.device_id);
    event.id = expired_event_id(stream_event_id);
    event.at_millis = ended.saturating_mul(1000);
    Ok(Some(event))
}

/// 32 hex digits, like every event id, the same for the same stream record.
fn expired_event_id(stream_event_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"flashback-session-expired\0")
        .chain_update(stream_event_id)
        .finalize();
    hex::encode(&digest[..16])
}

/// The EventBridge entry of an event: what `GET /security-events` shows, as the detail.
pub fn entry(event: &SecurityEvent, bus: &str) -> PutEventsRequestEntry {
    let detail = serde_json::to_string(&SecurityEventView::new(event))
        .expect("a view of strings and numbers always serializes");
    PutEventsRequestEntry::builder()
        .source(SOURCE)
        .detail_type(event.event_type.as_str())
        .detail(detail)
        .time(DateTime::from_millis(event.at_millis))
        .event_bus_name(bus)
        .build()
}

/// Where entries go: EventBridge, or a stand-in in the tests.
pub trait Bus {
    /// Puts at most [`MAX_ENTRIES_PER_CALL`] entries. `Ok`: one outcome per entry, in
    /// order (`Err` with the error code of an entry refused). `Err`: the call failed.
    fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> impl Future<Output = Result<Vec<Result<(), String>>, String>> + Send;
}

impl Bus for aws_sdk_eventbridge::Client {
    async fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<Vec<Result<(), String>>, String> {
        let sent = entries.len();
        let output = self
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| match e.code() {
                // The service's answer: its code and message, not the raw response.
                Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
                None => aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string(),
            })?;
        if output.failed_entry_count() > 0 {
            tracing::warn!(
                failed = output.failed_entry_count(),
                sent,
                "PutEvents refused entries"
            );
        }
        let results = output.entries();
        // One result per entry, in order; an entry without a result was not put.
        Ok((0..sent)
            .map(|i| match results.get(i) {
                Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
                Some(r) => Err(r.error_code().unwrap_or("NoEventId").to_string()),
                None => Err("NoResult".to_string()),
            })
            .collect())
    }
}

/// Publishes the batch's events in order, 10 per call, and says where the stream must
/// resume: nowhere (all done), or at the first record not published. Stops there;
/// events after it in the same call that were put are put again on the retry (same id).
pub async fn publish(
    bus: &impl Bus,
    bus_name: &str,
    records: &[Value],
    deadline: Option<SystemTime>,
) -> BatchResponse {
    let mut pending = Vec::new();
    for record in records {
        match decide(record) {
            (Some(sequence), Decision::Publish(event)) => pending.push((sequence, event)),
            (_, Decision::Ignore) => {}
            (sequence, decision) => {
                let why = match decision {
                    Decision::Skip(why) => why,
                    _ => "a record without a sequence number".to_string(),
                };
                let event_id = record.get("eventID").and_then(Value::as_str);
                tracing::warn!(sequence, event_id, why, "stream record skipped");
            }
        }
    }
    for chunk in pending.chunks(MAX_ENTRIES_PER_CALL) {
        let first = &chunk[0].0;
        if deadline.is_some_and(|d| left(d) < DEADLINE_MARGIN) {
            tracing::warn!(sequence = %first, "the invocation's deadline is near: the rest is retried");
            return BatchResponse::retry_from(first);
        }
        let entries = chunk
            .iter()
            .map(|(_, event)| entry(event, bus_name))
            .collect();
        let results = match bus.put(entries).await {
            Ok(results) => results,
            Err(error) => {
                tracing::warn!(sequence = %first, %error, "PutEvents failed: retried from this record");
                return BatchResponse::retry_from(first);
            }
        };
        let mut failed = None;
        for (i, (sequence, event)) in chunk.iter().enumerate() {
            match results.get(i) {
                Some(Ok(())) => tracing::info!(
                    event_type = event.event_type.as_str(),
                    event_id = %event.id,
                    user = event.user.as_str(),
                    "published"
                ),
                outcome => {
                    let code = match outcome {
                        Some(Err(code)) => code.as_str(),
                        _ => "NoResult",
                    };
                    tracing::warn!(event_id = %event.id, %sequence, code, "event not published");
                    failed = failed.or(Some(sequence));
                }
            }
        }
        if let Some(sequence) = failed {
            return BatchResponse::retry_from(sequence);
        }
    }
    BatchResponse::default()
}

fn left(deadline: SystemTime) -> Duration {
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
}

/// Runs the consumer as a Lambda function (`src/bin/publish-events.rs`).
pub async fn run() -> Result<(), lambda_runtime::Error> {
    shared::app::init_logging();
    let bus_name = std::env::var("EVENT_BUS_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_EVENT_BUS.to_string());
    // The same time bounds as the DynamoDB client of every route.
    let client = aws_sdk_eventbridge::Client::new(&shared::App::sdk_config().await);
    let (client, bus_name) = (&client, bus_name.as_str());
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| async move {
        // `cargo lambda watch` sends a deadline long past: no deadline then.
        let deadline = Some(event.context.deadline()).filter(|d| *d > SystemTime::now());
        let response = publish(client, bus_name, &event.payload.records, deadline).await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// A record without `userIdentity`: a write by a request.
    const BY_REQUEST: Value = Value::Null;

    fn ttl_identity() -> Value {
        json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    }

    /// An event item exactly as the module doc of `shared::store::events` lays it out.
    fn event_image(id: &str, millis: i64, event_type: &str) -> Value {
        json!({
            "PK": {"S": "EVENTS#alice"},
            "SK": {"S": format!("{millis:013}#{id}")},
            "eventId": {"S": id},
            "userId": {"S": "alice"},
            "type": {"S": event_type},
            "actorType": {"S": "SESSION"},
            "actorId": {"S": "laptop-1"},
            "targetType": {"S": "DEVICE"},
            "targetId": {"S": "0b3c1f6e-2f4a-4d0e-9b7a-1c2d3e4f5a6b"},
            "deviceId": {"S": "0b3c1f6e-2f4a-4d0e-9b7a-1c2d3e4f5a6b"},
            "count": {"N": "2"},
            "sourceIp": {"S": "203.0.113.9"},
            "userAgent": {"S": "Firefox"},
            "at": {"N": (millis / 1000).to_string()},
            "ttl": {"N": (millis / 1000 + 90 * 86_400).to_string()},
        })
    }

    fn record(
        sequence: &str,
        name: &str,
        keys: Value,
        new: Option<Value>,
        old: Option<Value>,
        who: Value,
    ) -> Value {
        let mut change = json!({
            "Keys": keys,
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(new) = new {
            change["NewImage"] = new;
        }
        if let Some(old) = old {
            change["OldImage"] = old;
        }
        let mut record = json!({
            "eventID": format!("stream-{sequence}"),
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "dynamodb": change,
        });
        if !who.is_null() {
            record["userIdentity"] = who;
        }
        record
    }

    fn inserted_event(sequence: &str, id: &str) -> Value {
        let image = event_image(id, 1_767_225_600_123, "DEVICE_TRUSTED");
        let keys = json!({"PK": image["PK"], "SK": image["SK"]});
        record(sequence, "INSERT", keys, Some(image), None, BY_REQUEST)
    }

    fn session_image(status: &str, expires: i64, absolute: i64) -> Value {
        json!({
            "PK": {"S": "USER#alice"},
            "SK": {"S": "SESSION#laptop-1"},
            "sessionId": {"S": "laptop-1"},
            "deviceId": {"S": "0b3c1f6e-2f4a-4d0e-9b7a-1c2d3e4f5a6b"},
            "status": {"S": status},
            "startedAt": {"N": "1767200000"},
            "lastActivity": {"N": "1767201000"},
            "expiresAt": {"N": expires.to_string()},
            "absoluteExpiresAt": {"N": absolute.to_string()},
            "ipAddress": {"S": "203.0.113.9"},
            "location": {"NULL": true},
            "loginMethod": {"NULL": true},
            "ttl": {"N": absolute.to_string()},
        })
    }

    fn removed_session(sequence: &str, image: Value, who: Value) -> Value {
        let keys = json!({"PK": image["PK"], "SK": image["SK"]});
        record(sequence, "REMOVE", keys, None, Some(image), who)
    }

    fn id(n: usize) -> String {
        format!("{n:032x}")
    }

    #[test]
    fn images_convert_every_attribute_type() {
        let converted = image(
            json!({
                "s": {"S": "text"},
                "n": {"N": "-12.5"},
                "t": {"BOOL": true},
                "null": {"NULL": true},
                "m": {"M": {"inner": {"S": "x"}, "deeper": {"M": {"n": {"N": "1"}}}}},
                "l": {"L": [{"S": "a"}, {"N": "2"}, {"NULL": true}, {"L": []}]},
                "ss": {"SS": ["a", "b"]},
                "ns": {"NS": ["1", "2"]},
                "b": {"B": "aGVsbG8="},
                "bs": {"BS": ["aGk="]},
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(converted["s"], AttributeValue::S("text".into()));
        assert_eq!(
            converted["n"],
            AttributeValue::N("-12.5".into()),
            "numbers stay exact"
        );
        assert_eq!(converted["t"], AttributeValue::Bool(true));
        assert_eq!(converted["null"], AttributeValue::Null(true));
        let m = converted["m"].as_m().unwrap();
        assert_eq!(m["inner"], AttributeValue::S("x".into()));
        assert_eq!(
            m["deeper"].as_m().unwrap()["n"],
            AttributeValue::N("1".into())
        );
        assert_eq!(
            converted["l"],
            AttributeValue::L(vec![
                AttributeValue::S("a".into()),
                AttributeValue::N("2".into()),
                AttributeValue::Null(true),
                AttributeValue::L(vec![]),
            ])
        );
        assert_eq!(
            converted["ss"],
            AttributeValue::Ss(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            converted["ns"],
            AttributeValue::Ns(vec!["1".into(), "2".into()])
        );
        assert_eq!(
            converted["b"],
            AttributeValue::B(Blob::new(b"hello".to_vec()))
        );
        assert_eq!(
            converted["bs"],
            AttributeValue::Bs(vec![Blob::new(b"hi".to_vec())])
        );
    }

    #[test]
    fn malformed_values_are_refused_with_the_attribute_named() {
        for (bad, why) in [
            (json!({"a": "plain"}), "a: not a typed value"),
            (json!({"a": {"S": "x", "N": "1"}}), "a: not a typed value"),
            (json!({"a": {"S": 1}}), "a: S is not a string"),
            (json!({"a": {"N": 1}}), "a: N is not a string"),
            (json!({"a": {"X": "?"}}), "a: unknown type X"),
            (
                json!({"a": {"M": {"b": {"BOOL": "yes"}}}}),
                "a: b: BOOL is not a boolean",
            ),
            (
                json!({"a": {"L": [{"S": "x"}, {}]}}),
                "a: not a typed value",
            ),
            (json!({"a": {"B": "not base64!"}}), "a: B is not base64"),
        ] {
            assert_eq!(
                image(bad.as_object().unwrap()),
                Err(why.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_inserted_event_item_is_published_as_the_store_reads_it() {
        let (sequence, decision) = decide(&inserted_event("100", &id(1)));
        assert_eq!(sequence.as_deref(), Some("100"));
        let Decision::Publish(event) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(event.id, id(1));
        assert_eq!(event.user.as_str(), "alice");
        assert_eq!(event.event_type, EventType::DeviceTrusted);
        assert_eq!(event.actor, Actor::Session("laptop-1".into()));
        assert_eq!(event.count, Some(2));
        assert_eq!(event.at_millis, 1_767_225_600_123);
    }

    #[test]
    fn the_entry_carries_the_view_of_the_event() {
        let Decision::Publish(event) = decide(&inserted_event("100", &id(7))).1 else {
            panic!()
        };
        let entry = entry(&event, "platform-bus");
        assert_eq!(entry.source(), Some(SOURCE));
        assert_eq!(entry.detail_type(), Some("DEVICE_TRUSTED"));
        assert_eq!(entry.event_bus_name(), Some("platform-bus"));
        assert_eq!(
            entry.time(),
            Some(&DateTime::from_millis(1_767_225_600_123))
        );
        let detail: Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
        assert_eq!(
            detail,
            serde_json::to_value(SecurityEventView::new(&event)).unwrap()
        );
        assert_eq!(detail["id"], id(7), "consumers de-duplicate on detail.id");
        assert_eq!(detail["occurredAt"], "2026-01-01T00:00:00.123Z");
        assert_eq!(detail["type"], "DEVICE_TRUSTED");
    }

    #[test]
    fn only_event_inserts_and_ttl_removals_of_sessions_are_published() {
        let event = event_image(&id(1), 1_767_225_600_123, "SESSION_REVOKED");
        let event_keys = json!({"PK": event["PK"], "SK": event["SK"]});
        let session = session_image("ACTIVE", 1_767_210_000, 1_767_243_200);
        let session_keys = json!({"PK": session["PK"], "SK": session["SK"]});
        let device_keys = json!({"PK": {"S": "USER#alice"}, "SK": {"S": "DEVICE#d"}});
        let ignored = [
            // The routes' own items, written or changed.
            record(
                "1",
                "INSERT",
                session_keys.clone(),
                Some(session.clone()),
                None,
                BY_REQUEST,
            ),
            record(
                "2",
                "MODIFY",
                session_keys.clone(),
                Some(session.clone()),
                Some(session.clone()),
                BY_REQUEST,
            ),
            // An event item changed or removed (by its own TTL, after the retention).
            record(
                "3",
                "MODIFY",
                event_keys.clone(),
                Some(event.clone()),
                Some(event.clone()),
                BY_REQUEST,
            ),
            record(
                "4",
                "REMOVE",
                event_keys.clone(),
                None,
                Some(event.clone()),
                ttl_identity(),
            ),
            // A session deleted by a request, not by TTL.
            record(
                "5",
                "REMOVE",
                session_keys.clone(),
                None,
                Some(session.clone()),
                BY_REQUEST,
            ),
            record(
                "6",
                "REMOVE",
                session_keys.clone(),
                None,
                Some(session.clone()),
                json!({"type": "Service", "principalId": "someone.else.amazonaws.com"}),
            ),
            // Other items TTL removes: devices never, markers and counters often.
            record(
                "7",
                "REMOVE",
                device_keys,
                None,
                Some(json!({})),
                ttl_identity(),
            ),
            removed_session(
                "8",
                session_image("REVOKED", 1_767_210_000, 1_767_243_200),
                ttl_identity(),
            ),
        ];
        for record in &ignored {
            assert_eq!(decide(record).1, Decision::Ignore, "{record}");
        }
        let published = [
            record("9", "INSERT", event_keys, Some(event), None, BY_REQUEST),
            removed_session("10", session, ttl_identity()),
        ];
        for record in &published {
            assert!(matches!(decide(record).1, Decision::Publish(_)), "{record}");
        }
    }

    #[test]
    fn unreadable_records_are_skipped_not_fatal() {
        let mut no_image = inserted_event("11", &id(1));
        no_image["dynamodb"]
            .as_object_mut()
            .unwrap()
            .remove("NewImage");
        let mut not_an_event = inserted_event("12", &id(1));
        not_an_event["dynamodb"]["NewImage"]["type"] = json!({"S": "NOT_A_TYPE"});
        let mut bad_value = inserted_event("13", &id(1));
        bad_value["dynamodb"]["NewImage"]["count"] = json!({"N": 2});
        for record in [no_image, not_an_event, bad_value] {
            let (sequence, decision) = decide(&record);
            assert!(sequence.is_some());
            assert!(matches!(decision, Decision::Skip(_)), "{decision:?}");
        }
        let (sequence, decision) = decide(&json!({"eventName": "INSERT"}));
        assert_eq!(sequence, None);
        assert!(matches!(decision, Decision::Skip(_)));
    }

    #[test]
    fn a_ttl_removal_of_a_live_session_is_its_late_expiry() {
        // Idle expiry first: it ended then (and TTL came at the absolute expiry, later).
        let removed = removed_session(
            "20",
            session_image("ACTIVE", 1_767_210_000, 1_767_243_200),
            ttl_identity(),
        );
        let Decision::Publish(event) = decide(&removed).1 else {
            panic!()
        };
        assert_eq!(event.event_type, EventType::SessionExpired);
        assert_eq!(event.user.as_str(), "alice");
        assert_eq!(event.target, (TargetType::Session, "laptop-1".to_string()));
        assert_eq!(
            event.device_id.as_deref(),
            Some("0b3c1f6e-2f4a-4d0e-9b7a-1c2d3e4f5a6b")
        );
        assert_eq!(event.actor, Actor::System("ttl".into()));
        assert_eq!(event.reason.as_deref(), Some("IDLE_TIMEOUT"));
        assert_eq!(event.at_millis, 1_767_210_000_000);
        assert_eq!(
            event.origin,
            Origin::default(),
            "no request: no IP, no User-Agent"
        );
        // Same stream record, same id (a retry); another record, another id.
        assert!(event.id.len() == 32 && event.id.bytes().all(|b| b.is_ascii_hexdigit()));
        let Decision::Publish(again) = decide(&removed).1 else {
            panic!()
        };
        assert_eq!(again.id, event.id);
        let other = removed_session(
            "21",
            session_image("ACTIVE", 1_767_210_000, 1_767_243_200),
            ttl_identity(),
        );
        let Decision::Publish(other) = decide(&other).1 else {
            panic!()
        };
        assert_ne!(other.id, event.id);
        // Kept alive to its cap: it ended at the absolute expiry.
        let capped = removed_session(
            "22",
            session_image("ACTIVE", 1_767_243_200, 1_767_243_200),
            ttl_identity(),
        );
        let Decision::Publish(capped) = decide(&capped).1 else {
            panic!()
        };
        assert_eq!(capped.reason.as_deref(), Some("ABSOLUTE_TIMEOUT"));
        assert_eq!(capped.at_millis, 1_767_243_200_000);
        assert_eq!(
            entry(&capped, "default").detail_type(),
            Some("SESSION_EXPIRED")
        );
    }

    /// PutEvents' stand-in: records every call; refuses the entries and calls it is told to.
    #[derive(Default)]
    struct FakeBus {
        calls: Mutex<Vec<Vec<String>>>,
        /// (call, entry) pairs answered with an error code.
        refused: Vec<(usize, usize)>,
        /// A call that fails as a whole.
        failing_call: Option<usize>,
    }

    impl Bus for FakeBus {
        async fn put(
            &self,
            entries: Vec<PutEventsRequestEntry>,
        ) -> Result<Vec<Result<(), String>>, String> {
            assert!(entries.len() <= MAX_ENTRIES_PER_CALL);
            let mut calls = self.calls.lock().unwrap();
            let call = calls.len();
            calls.push(
                entries
                    .iter()
                    .map(|e| {
                        serde_json::from_str::<Value>(e.detail().unwrap()).unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect(),
            );
            if self.failing_call == Some(call) {
                return Err("ServiceUnavailable".into());
            }
            Ok((0..entries.len())
                .map(|i| match self.refused.contains(&(call, i)) {
                    true => Err("ThrottlingException".into()),
                    false => Ok(()),
                })
                .collect())
        }
    }

    fn batch(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| inserted_event(&(1000 + i).to_string(), &id(i)))
            .collect()
    }

    fn retry_from(sequence: &str) -> BatchResponse {
        BatchResponse::retry_from(sequence)
    }

    #[tokio::test]
    async fn a_batch_goes_out_in_order_ten_per_call() {
        let bus = FakeBus::default();
        assert_eq!(
            publish(&bus, "default", &batch(25), None).await,
            BatchResponse::default()
        );
        let calls = bus.calls.into_inner().unwrap();
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(calls.concat(), (0..25).map(id).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_refused_entry_is_where_the_stream_resumes_and_nothing_after_it_is_sent() {
        // The 4th entry of the 2nd call (record 13) and the 6th (record 15) refused.
        let bus = FakeBus {
            refused: vec![(1, 3), (1, 5)],
            ..FakeBus::default()
        };
        let response = publish(&bus, "default", &batch(25), None).await;
        assert_eq!(response, retry_from("1013"));
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "1013"}]})
        );
        assert_eq!(
            bus.calls.into_inner().unwrap().len(),
            2,
            "stops at the first failure"
        );
    }

    #[tokio::test]
    async fn a_failed_call_resumes_at_its_first_record() {
        let bus = FakeBus {
            failing_call: Some(1),
            ..FakeBus::default()
        };
        assert_eq!(
            publish(&bus, "default", &batch(25), None).await,
            retry_from("1010")
        );
        assert_eq!(bus.calls.into_inner().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn skipped_and_ignored_records_count_as_done() {
        let mut records = batch(3);
        records.insert(0, json!({"garbage": true}));
        records.insert(
            2,
            json!({"eventID": "x", "eventName": "MODIFY", "dynamodb": {"SequenceNumber": "5"}}),
        );
        let mut unreadable = inserted_event("1001", &id(1));
        unreadable["dynamodb"]["NewImage"]["type"] = json!({"S": "?"});
        records[3] = unreadable;
        // Only the readable events are sent; a refusal of the first of them points at
        // its own record, not at the junk before it.
        let bus = FakeBus {
            refused: vec![(0, 0)],
            ..FakeBus::default()
        };
        assert_eq!(
            publish(&bus, "default", &records, None).await,
            retry_from("1000")
        );
        assert_eq!(bus.calls.into_inner().unwrap(), vec![vec![id(0), id(2)]]);
        let bus = FakeBus::default();
        assert_eq!(
            publish(&bus, "default", &records, None).await,
            BatchResponse::default()
        );
        let only_junk = [json!({}), json!({"Records": 1})];
        assert_eq!(
            publish(&bus, "default", &only_junk, None).await,
            BatchResponse::default()
        );
    }

    #[tokio::test]
    async fn near_the_deadline_nothing_more_is_sent() {
        let bus = FakeBus::default();
        let soon = SystemTime::now() + Duration::from_secs(2);
        assert_eq!(
            publish(&bus, "default", &batch(3), Some(soon)).await,
            retry_from("1000")
        );
        assert!(bus.calls.into_inner().unwrap().is_empty());
    }
}
