//! DynamoDB unreachable or stalled: the answer is a 503 in the envelope, in bounded
//! time, never a hang or a leaked SDK message.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::front::{self, Front, Verdict};
use crate::support::*;

/// Far above the SDK's bound (~4 s): only a hang would hit it.
const HANG: Duration = Duration::from_secs(30);

async fn assert_unavailable(t: &TestApp) {
    let routes = [
        (Route::ListDevices, None),
        (
            Route::RegisterSession,
            Some(json!({ "fingerprint": "laptop" })),
        ),
        (Route::RevokeSession, None),
    ];
    for (route, body) in routes {
        let mut call = t.request(route);
        if route == Route::RevokeSession {
            call = call.id("some-session");
        }
        if let Some(body) = body {
            call = call.json(body);
        }
        let answer = tokio::time::timeout(HANG, call.send())
            .await
            .expect("answered, not hung");
        answer.assert_status(503);
        assert_eq!(answer.code(), "SERVICE_UNAVAILABLE", "{route:?}");
        let message = answer.body["error"].as_str().unwrap();
        assert_eq!(message, "Service temporarily unavailable, retry later");
    }
}

#[tokio::test]
async fn a_closed_port_is_503() {
    // Bind and drop: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = TestApp::with_dynamodb_at(&format!("http://127.0.0.1:{port}")).await;
    assert_unavailable(&t).await;
}

/// A DynamoDB endpoint that accepts connections and holds them open without a byte
/// of answer.
async fn stalled_listener() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_listener_that_never_answers_is_503() {
    let t = TestApp::with_dynamodb_at(&stalled_listener().await).await;
    assert_unavailable(&t).await;
}

#[tokio::test]
async fn a_request_near_its_invocation_deadline_is_503_before_it() {
    // The SDK alone would wait ~4 s on a stalled DynamoDB (its bound), and a request
    // may make several calls; the invocation has 1.5 s left.
    let t = TestApp::with_dynamodb_at(&stalled_listener().await).await;
    let left = Duration::from_millis(1_500);
    let calls = [
        t.request(Route::ListDevices),
        t.request(Route::RevokeSession).id("some-session"),
    ];
    for call in calls {
        let started = std::time::Instant::now();
        let answer = call.deadline_in(left).send().await;
        let took = started.elapsed();
        answer.assert_status(503);
        assert_eq!(answer.code(), "SERVICE_UNAVAILABLE");
        assert!(took < left, "answered after its deadline: {took:?}");
    }
}

#[tokio::test]
async fn the_emulator_stopped_mid_test_is_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let endpoint = format!("http://127.0.0.1:{port}");
    // A DynamoDB Local of its own, to stop.
    let mut emulator = std::process::Command::new("scripts/dynamodb-local/run.sh")
        .arg(port.to_string())
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the emulator starts (run through `make test`)");
    // The table from template.yaml, once the emulator listens.
    let create_table = || {
        std::process::Command::new(&python)
            .args(["scripts/create_table.py", "template.yaml"])
            .current_dir(&root)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut created = false;
    for _ in 0..100 {
        created = create_table();
        if created {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(created, "table created on the private emulator");

    let t = TestApp::with_dynamodb_at(&endpoint).await;
    t.sign_in("laptop").await;
    t.request(Route::ListDevices)
        .send()
        .await
        .assert_status(200);
    emulator.kill().unwrap();
    emulator.wait().unwrap();
    assert_unavailable(&t).await;
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_503() {
    // A DynamoDB that throttles every request.
    let front = Front::start(|_, _| {
        Some(front::error(
            "ThrottlingException",
            json!({ "message": "Rate of requests exceeds the allowed throughput." }),
        ))
    })
    .await;
    let t = TestApp::with_dynamodb_at(&front.endpoint).await;
    let answer = tokio::time::timeout(HANG, t.request(Route::RevokeSession).id("any").send())
        .await
        .expect("answered, not hung");
    answer.assert_status(503);
    assert_eq!(answer.code(), "SERVICE_UNAVAILABLE");
    // The first call, the guard's read of the caller's session: tried three times.
    assert_eq!(front.count("GetItem"), 3, "one call and two retries");
    assert_eq!(front.count("TransactWriteItems"), 0);
}

/// What the front does to the next transactions, in order; then it passes them all.
#[derive(Debug, Clone, Copy)]
enum Mishap {
    /// It runs, and its answer is lost (the SDK sees the connection close).
    LoseAnswer,
    /// Refused for a conflict with another transaction: nothing runs.
    Conflict,
}

async fn with_mishaps() -> (Front, Arc<Mutex<VecDeque<Mishap>>>) {
    let script = Arc::new(Mutex::new(VecDeque::new()));
    let next = script.clone();
    let front = Front::deciding(move |operation, request| {
        let mishap = match operation {
            "TransactWriteItems" => next.lock().unwrap().pop_front(),
            _ => None,
        };
        match mishap {
            Some(Mishap::LoseAnswer) => Verdict::LoseAnswer,
            Some(Mishap::Conflict) => Verdict::Refuse(front::transaction_conflict(request)),
            None => Verdict::Pass,
        }
    })
    .await;
    (front, script)
}

#[tokio::test]
async fn a_write_that_committed_but_lost_its_answer_still_answers_success() {
    let (front, script) = with_mishaps().await;
    let t = TestApp::through(&front).await;
    let play = |mishaps: &[Mishap]| script.lock().unwrap().extend(mishaps.iter().copied());

    // The SDK tries again after the lost answer; the try after it meets a conflict and
    // is tried again by the service. Every try carries the first one's token, so the
    // last is answered with the first one's success instead of failing the conditions
    // the first one changed (the session it created exists; the session it revoked is
    // no longer alive).
    let lost_then_conflict = [Mishap::LoseAnswer, Mishap::Conflict];
    play(&lost_then_conflict);
    t.register(&t.session, "laptop").await.assert_status(201);

    t.sign_in_other("phone-session", "phone").await;
    play(&lost_then_conflict);
    let before = front.count("TransactWriteItems");
    t.request(Route::RevokeSession)
        .id("phone-session")
        .send()
        .await
        .assert_status(200);
    assert_eq!(
        front.count("TransactWriteItems") - before,
        3,
        "lost, refused, answered"
    );
    let stored = t.stored_session("phone-session").await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "REVOKED");

    // Signing out: the caller's own revocation, whose repeat would otherwise be a 401.
    play(&lost_then_conflict);
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    assert!(script.lock().unwrap().is_empty(), "every mishap happened");
}
