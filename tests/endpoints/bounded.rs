//! Reads bounded by what a route needs, not by the account's size
//! (docs/design.md#reads): on an account of hundreds of devices and sessions, every
//! route that needs only the caller's session (its device, or one named device) and
//! the authorizer read one or two items by key and make no Query of the partition,
//! and answer what the whole account's view answers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Value, json};
use shared::Deadline;
use shared::domain::fingerprint_hash;

use crate::front::{Front, Verdict};
use crate::support::*;

/// Seeded devices; each also gets `SESSIONS_PER_DEVICE` sessions.
const DEVICES: usize = 150;
const SESSIONS_PER_DEVICE: usize = 2;
const MAIN: &str = "bounded-main";

type Item = HashMap<String, AttributeValue>;

/// A signed-in caller on a large account, talking to DynamoDB through a counting
/// front that also keeps every Query's key condition.
struct Large {
    t: TestApp,
    front: Front,
    conditions: Arc<Mutex<Vec<String>>>,
    /// The caller's device.
    device: String,
    /// The seeded devices, by their raw fingerprints `seeded-<i>`.
    seeded: Vec<String>,
}

/// What one call read: Queries (with their key conditions) and key reads.
#[derive(Debug)]
struct Reads {
    queries: Vec<String>,
    by_key: usize,
}

impl Reads {
    #[track_caller]
    fn assert_by_key(&self, most: usize) {
        assert!(self.queries.is_empty(), "no Query: {self:?}");
        assert!(self.by_key <= most, "at most {most} key reads: {self:?}");
    }
}

impl Large {
    async fn new() -> Self {
        let conditions = Arc::new(Mutex::new(Vec::new()));
        let kept = conditions.clone();
        let front = Front::deciding(move |operation, request| {
            if operation == "Query" {
                kept.lock().unwrap().push(condition(request));
            }
            Verdict::Pass
        })
        .await;
        let t = TestApp::through(&front).await;
        let device = t.sign_in(MAIN).await;
        let seeded = seed(&t, &device).await;
        Large {
            t,
            front,
            conditions,
            device,
            seeded,
        }
    }

    /// What `call` read of DynamoDB, and its outcome.
    async fn reads<T>(&self, call: impl Future<Output = T>) -> (T, Reads) {
        let queries = self.conditions.lock().unwrap().len();
        let key_reads = || self.front.count("GetItem") + self.front.count("BatchGetItem");
        let before = key_reads();
        let outcome = call.await;
        let reads = Reads {
            queries: self.conditions.lock().unwrap()[queries..].to_vec(),
            by_key: key_reads() - before,
        };
        (outcome, reads)
    }

    /// The device as the whole account's list shows it.
    async fn listed_device(&self, id: &str) -> Value {
        let listed = self.t.request(Route::ListDevices).send().await;
        listed.assert_status(200);
        let devices = listed.body["data"].as_array().unwrap();
        assert_eq!(devices.len(), DEVICES + 1);
        devices.iter().find(|d| d["id"] == id).unwrap().clone()
    }

    /// The session as the whole account's list shows it.
    async fn listed_session(&self, id: &str) -> Value {
        let listed = self.t.request(Route::ListSessions).send().await;
        listed.assert_status(200);
        let sessions = listed.body["data"].as_array().unwrap();
        assert_eq!(sessions.len(), DEVICES * SESSIONS_PER_DEVICE + 1);
        sessions.iter().find(|s| s["id"] == id).unwrap().clone()
    }
}

/// A Query's key condition with its values put in.
fn condition(request: &Value) -> String {
    let mut text = request["KeyConditionExpression"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(values) = request["ExpressionAttributeValues"].as_object() {
        for (name, value) in values {
            let value = value["S"].as_str().unwrap_or_default();
            text = text.replace(name.as_str(), &format!("'{value}'"));
        }
    }
    text
}

/// Writes `DEVICES` devices (with their fingerprints) and their sessions straight into
/// the caller's partition, copies of the caller's own items: signing them all in
/// would take long. Returns the seeded device ids.
async fn seed(t: &TestApp, main: &str) -> Vec<String> {
    let device = t.stored(&format!("DEVICE#{main}")).await.unwrap();
    let fingerprint = t
        .stored(&format!("FP#{}", fingerprint_hash(MAIN)))
        .await
        .unwrap();
    let session = t.stored_session(&t.session).await.unwrap();
    let s = |v: &str| AttributeValue::S(v.to_string());
    let with = |template: &Item, fields: &[(&str, AttributeValue)]| {
        let mut item = template.clone();
        item.extend(fields.iter().map(|(k, v)| (k.to_string(), v.clone())));
        item
    };
    let mut items = Vec::new();
    let mut ids = Vec::new();
    for i in 0..DEVICES {
        let id = uuid::Uuid::new_v4().to_string();
        let hash = fingerprint_hash(&format!("seeded-{i}"));
        items.push(with(
            &device,
            &[
                ("SK", s(&format!("DEVICE#{id}"))),
                ("deviceId", s(&id)),
                ("fingerprintHash", s(&hash)),
                ("deviceName", s(&format!("Seeded {i}"))),
            ],
        ));
        items.push(with(
            &fingerprint,
            &[("SK", s(&format!("FP#{hash}"))), ("deviceId", s(&id))],
        ));
        for j in 0..SESSIONS_PER_DEVICE {
            let session_id = format!("seeded-{i}-{j}");
            items.push(with(
                &session,
                &[
                    ("SK", s(&format!("SESSION#{session_id}"))),
                    ("sessionId", s(&session_id)),
                    ("deviceId", s(&id)),
                ],
            ));
        }
        ids.push(id);
    }
    let client = t.app.store.client();
    for chunk in items.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        while !requests.is_empty() {
            let written = client
                .batch_write_item()
                .request_items(t.app.store.table(), requests)
                .send()
                .await
                .expect("BatchWriteItem");
            requests = written
                .unprocessed_items
                .and_then(|mut left| left.remove(t.app.store.table()))
                .unwrap_or_default();
        }
    }
    ids
}

#[tokio::test]
async fn the_current_session_reads_two_items_by_key_and_answers_as_the_lists_do() {
    let large = Large::new().await;
    let t = &large.t;
    let (answer, reads) = large.reads(t.request(Route::CurrentSession).send()).await;
    answer.assert_status(200);
    reads.assert_by_key(2);
    assert_eq!(answer.body["data"]["userId"], t.user.as_str());
    assert_eq!(
        answer.body["data"]["device"],
        large.listed_device(&large.device).await
    );
    assert_eq!(
        answer.body["data"]["session"],
        large.listed_session(&t.session).await
    );

    t.set_session(
        &t.session,
        &[("status", AttributeValue::S("REVOKED".into()))],
    )
    .await;
    let (answer, reads) = large.reads(t.request(Route::CurrentSession).send()).await;
    answer.assert_unauthorized();
    reads.assert_by_key(1);
}

#[tokio::test]
async fn heartbeats_read_nothing_but_the_callers_session() {
    let large = Large::new().await;
    let t = &large.t;
    let (answer, reads) = large
        .reads(t.request(Route::SessionHeartbeat).id("seeded-0-0").send())
        .await;
    answer.assert_status(404);
    assert_eq!(answer.code(), "SESSION_NOT_FOUND");
    reads.assert_by_key(1);

    let (answer, reads) = large
        .reads(t.request(Route::SessionHeartbeat).id(&t.session).send())
        .await;
    answer.assert_status(200);
    // The caller's own: one conditional write, nothing read.
    reads.assert_by_key(0);
    let (answer, reads) = large
        .reads(t.request(Route::DeviceHeartbeat).id(&large.device).send())
        .await;
    answer.assert_status(200);
    reads.assert_by_key(0);

    // An ended caller naming another session: the guard's 401 first, not a hint.
    t.set_session(
        &t.session,
        &[("status", AttributeValue::S("REVOKED".into()))],
    )
    .await;
    let (answer, reads) = large
        .reads(t.request(Route::SessionHeartbeat).id("seeded-0-0").send())
        .await;
    answer.assert_unauthorized();
    reads.assert_by_key(1);
}

#[tokio::test]
async fn trust_reads_the_session_the_fingerprint_and_the_device_by_key() {
    let large = Large::new().await;
    let t = &large.t;
    for (fingerprint, device) in [
        (MAIN.to_string(), large.device.clone()),
        ("seeded-7".to_string(), large.seeded[7].clone()),
    ] {
        let trust = t
            .request(Route::TrustDevice)
            .json(json!({ "fingerprint": fingerprint }));
        let (answer, reads) = large.reads(trust.send()).await;
        answer.assert_status(200);
        reads.assert_by_key(2);
        assert_eq!(answer.body["data"]["deviceId"], device.as_str());
        let listed = large.listed_device(&device).await;
        assert_eq!(listed["trustLevel"], "HIGH");
        assert_eq!(listed["trustExpiresAt"], answer.body["trustExpiresAt"]);
    }
    let unknown = t
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": "never-signed-in" }));
    let (answer, reads) = large.reads(unknown.send()).await;
    answer.assert_status(404);
    assert_eq!(answer.code(), "DEVICE_NOT_FOUND");
    reads.assert_by_key(2);
}

#[tokio::test]
async fn rename_reads_the_session_and_the_device_by_key() {
    let large = Large::new().await;
    let t = &large.t;
    for (device, name) in [
        (large.device.as_str(), "My laptop"),
        (large.seeded[3].as_str(), "The old phone"),
    ] {
        let rename = t
            .request(Route::RenameDevice)
            .id(device)
            .json(json!({ "deviceName": name }));
        let (answer, reads) = large.reads(rename.send()).await;
        answer.assert_status(200);
        reads.assert_by_key(2);
        assert_eq!(answer.body["data"]["deviceName"], name);
        assert_eq!(answer.body["data"], large.listed_device(device).await);
    }
    let other = TestApp::through(&large.front).await;
    let theirs = other.sign_in(MAIN).await;
    for absent in [theirs, uuid::Uuid::new_v4().to_string()] {
        let rename = t
            .request(Route::RenameDevice)
            .id(&absent)
            .json(json!({ "deviceName": "Mine now" }));
        let (answer, reads) = large.reads(rename.send()).await;
        answer.assert_status(404);
        assert_eq!(answer.code(), "DEVICE_NOT_FOUND");
        reads.assert_by_key(2);
    }
}

#[tokio::test]
async fn one_device_reads_it_by_key_and_queries_the_sessions_only() {
    let large = Large::new().await;
    let t = &large.t;
    let sessions_only = |reads: &Reads| {
        assert!(reads.by_key <= 1, "{reads:?}");
        assert_eq!(reads.queries.len(), 1, "{reads:?}");
        let sessions = "begins_with(SK, 'SESSION#')";
        assert!(reads.queries[0].contains(sessions), "{reads:?}");
    };
    for (device, sessions) in [
        (large.device.as_str(), vec![t.session.clone()]),
        (
            large.seeded[5].as_str(),
            (0..SESSIONS_PER_DEVICE)
                .map(|j| format!("seeded-5-{j}"))
                .collect(),
        ),
    ] {
        let (answer, reads) = large
            .reads(t.request(Route::GetDevice).id(device).send())
            .await;
        answer.assert_status(200);
        sessions_only(&reads);
        let mut detail = answer.body["data"].as_object().unwrap().clone();
        let shown = detail.remove("sessions").unwrap();
        let mut expected = Vec::new();
        for id in &sessions {
            expected.push(large.listed_session(id).await);
        }
        assert_eq!(shown, json!(expected));
        detail.remove("userAgent").unwrap();
        detail.remove("deviceFingerprint").unwrap();
        assert_eq!(Value::Object(detail), large.listed_device(device).await);
    }
    let absent = uuid::Uuid::new_v4().to_string();
    let (answer, reads) = large
        .reads(t.request(Route::GetDevice).id(&absent).send())
        .await;
    answer.assert_status(404);
    sessions_only(&reads);
}

/// The HTTP API authorizer's answer to a call with the caller's token.
async fn authorize(t: &TestApp, session: &str) -> Value {
    let path = format!(
        "{}/../events/authorize-http-api.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let header = format!("Bearer {}", t.token_for(&t.user, session));
    event["headers"]["authorization"] = json!(header);
    event["identitySource"] = json!([header]);
    functions::authorize::handle(&t.app, event, Deadline::NONE).await
}

#[tokio::test]
async fn the_authorizer_reads_the_session_and_its_device_by_key() {
    let large = Large::new().await;
    let t = &large.t;
    let trust = t
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": MAIN }));
    trust.send().await.assert_status(200);

    let (answer, reads) = large.reads(authorize(t, &t.session)).await;
    assert_eq!(answer["isAuthorized"], true, "{answer:#}");
    reads.assert_by_key(2);
    let listed = large.listed_session(&t.session).await;
    assert_eq!(
        answer["context"],
        json!({
            "userId": t.user,
            "sessionId": t.session,
            "deviceId": large.device,
            "trustLevel": "HIGH",
            "isTrusted": true,
            "expiresAt": listed["expiresAt"],
            "absoluteExpiresAt": listed["absoluteExpiresAt"],
            "keyBound": false,
        })
    );

    let (answer, reads) = large.reads(authorize(t, "never-registered")).await;
    assert_eq!(answer["isAuthorized"], false, "{answer:#}");
    assert_eq!(answer["context"], json!({ "reason": "UNAUTHORIZED" }));
    // No session item: its used-id marker says whether it ended (and why) or never was.
    reads.assert_by_key(2);
}

#[tokio::test]
async fn revoking_one_session_and_the_security_log_never_read_the_partition() {
    let large = Large::new().await;
    let t = &large.t;
    let (answer, reads) = large.reads(t.request(Route::SecurityEvents).send()).await;
    answer.assert_status(200);
    assert!(reads.by_key <= 1, "{reads:?}");
    let events = format!("PK = 'EVENTS#{}'", t.user);
    assert!(
        reads.queries.iter().all(|q| q.contains(&events)),
        "{reads:?}"
    );

    let (answer, reads) = large
        .reads(t.request(Route::RevokeSession).id("seeded-1-0").send())
        .await;
    answer.assert_status(200);
    // The caller's session alone (the guard: alive, its key, step-up).
    reads.assert_by_key(1);
}
