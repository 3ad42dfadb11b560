//! DynamoDB unreachable or stalled: the answer is a 503 in the envelope, in bounded
//! time, never a hang or a leaked SDK message.

use std::time::Duration;

use serde_json::json;

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

#[tokio::test]
async fn a_listener_that_never_answers_is_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept connections and hold them open without a byte of answer.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let t = TestApp::with_dynamodb_at(&format!("http://127.0.0.1:{port}")).await;
    assert_unavailable(&t).await;
}
