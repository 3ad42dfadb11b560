//! The consumer's tests: records in, decisions, the bus out.

use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::json;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::domain::{Actor, EventType, Origin, TargetType};
use shared::views::SecurityEventView;

use super::*;

/// A record without `userIdentity`: a write by a request.
const BY_REQUEST: Value = Value::Null;

fn ttl_identity() -> Value {
    json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
}

/// An event item exactly as the store writes it out.
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
    let entry = entry(&event, "platform-bus", None);
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
fn a_new_device_sign_in_carries_its_report_link_and_no_other_event_does() {
    let keys = shared::report::ReportKeys::new(&[9; 32], None);
    let links = Links {
        keys: keys.clone(),
        ttl: 3600,
        base_url: "https://api.example.com/".into(),
    };
    let Decision::Publish(mut event) = decide(&inserted_event("100", &id(7))).1 else {
        panic!()
    };
    event.event_type = EventType::NewDeviceSignIn;
    event.target = (TargetType::Session, "phone-1".into());
    let detail = |event, links| -> Value {
        serde_json::from_str(entry(event, "default", links).detail().unwrap()).unwrap()
    };
    let with_link = detail(&event, Some(&links));
    let link = with_link["reportLink"].as_str().unwrap();
    let code = link
        .strip_prefix("https://api.example.com/account/not-me#")
        .unwrap();
    let parsed = shared::report::ReportCode::parse(code).unwrap();
    assert!(parsed.admits(&keys, &event, event.at()));
    assert_eq!(with_link["reportLinkExpiresAt"], "2026-01-01T01:00:00Z");
    // Everything else is the view the user's log shows, which never has the link.
    let view = serde_json::to_value(SecurityEventView::new(&event)).unwrap();
    let mut rest = with_link.clone();
    rest.as_object_mut().unwrap().remove("reportLink");
    rest.as_object_mut().unwrap().remove("reportLinkExpiresAt");
    assert_eq!(rest, view);
    assert!(!view.to_string().contains(code));
    // Links off, or any other event: no link.
    assert!(detail(&event, None).get("reportLink").is_none());
    let mut trusted = event.clone();
    trusted.event_type = EventType::DeviceTrusted;
    assert!(detail(&trusted, Some(&links)).get("reportLink").is_none());
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
    // The devices page's hand-off codes: made, redeemed (deleted), or removed by TTL.
    let code_keys = json!({"PK": {"S": "PAGECODE#ab12"}, "SK": {"S": "CODE"}});
    let code = json!({
        "PK": {"S": "PAGECODE#ab12"}, "SK": {"S": "CODE"},
        "sealed": {"B": "c2VhbGVk"}, "expiresAt": {"N": "1767225660"}, "ttl": {"N": "1767225660"},
    });
    for (sequence, name, new, old, who) in [
        ("11", "INSERT", Some(code.clone()), None, BY_REQUEST),
        ("12", "REMOVE", None, Some(code.clone()), BY_REQUEST),
        ("13", "REMOVE", None, Some(code.clone()), ttl_identity()),
    ] {
        let record = record(sequence, name, code_keys.clone(), new, old, who);
        assert_eq!(decide(&record).1, Decision::Ignore, "{record}");
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
        entry(&capped, "default", None).detail_type(),
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
        publish(&bus, "default", None, &batch(25), Deadline::NONE).await,
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
    let response = publish(&bus, "default", None, &batch(25), Deadline::NONE).await;
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
        publish(&bus, "default", None, &batch(25), Deadline::NONE).await,
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
        publish(&bus, "default", None, &records, Deadline::NONE).await,
        retry_from("1000")
    );
    assert_eq!(bus.calls.into_inner().unwrap(), vec![vec![id(0), id(2)]]);
    let bus = FakeBus::default();
    assert_eq!(
        publish(&bus, "default", None, &records, Deadline::NONE).await,
        BatchResponse::default()
    );
    let only_junk = [json!({}), json!({"Records": 1})];
    assert_eq!(
        publish(&bus, "default", None, &only_junk, Deadline::NONE).await,
        BatchResponse::default()
    );
}

#[tokio::test]
async fn near_the_deadline_nothing_more_is_sent() {
    let bus = FakeBus::default();
    let soon = SystemTime::now() + Duration::from_secs(2);
    assert_eq!(
        publish(&bus, "default", None, &batch(3), Deadline::at(soon)).await,
        retry_from("1000")
    );
    assert!(bus.calls.into_inner().unwrap().is_empty());
}

#[tokio::test]
async fn the_metrics_count_what_was_put_and_what_the_stream_retries() {
    // Call 1 refuses records 13 and 15: 13 were published before the first refusal,
    // 5 more put after it (put again on the retry), and 12 go back to the stream.
    let bus = FakeBus {
        refused: vec![(1, 3), (1, 5)],
        ..FakeBus::default()
    };
    let records = batch(25);
    let work = publish(&bus, "default", None, &records, Deadline::NONE);
    let (response, counts) = shared::metrics::counted(work).await;
    assert_eq!(response, retry_from("1013"));
    assert!(
        counts.contains(&(shared::metrics::EVENTS_PUBLISHED, 18.0)),
        "{counts:?}"
    );
    assert!(
        counts.contains(&(shared::metrics::EVENTS_RETRIED, 12.0)),
        "{counts:?}"
    );
}
