//! `/sessions…` and the heartbeats: listing, revoking one or all, keeping alive.

use serde_json::{Value, json};

use crate::devices::register_all;
use crate::support::*;

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn list_sessions_shows_the_active_ones_across_devices() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    t.sign_in_other("on-phone", "phone").await;
    t.sign_in_other("revoked", "phone").await;
    t.sign_in_other("idle", "phone").await;
    t.request(Route::RevokeSession)
        .id("revoked")
        .send()
        .await
        .assert_status(200);
    t.set_session("idle", &[("expiresAt", n(now() - 5))]).await;

    let answer = t.request(Route::ListSessions).send().await;
    answer.assert_status(200);
    assert_eq!(answer.body["sessions"], answer.body["data"]);
    let mut expected = vec![t.session.clone(), "on-phone".to_string()];
    expected.sort();
    assert_eq!(ids(&answer.body["sessions"]), expected);

    let mine = answer.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["isCurrent"] == true)
        .unwrap();
    assert_eq!(mine["id"], t.session.as_str());
    assert_eq!(mine["deviceId"], laptop.as_str());
    assert_eq!(mine["deviceName"], "Firefox on macOS");
    assert_eq!(mine["ipAddress"], "203.0.113.10");
    for key in [
        "id",
        "deviceName",
        "ipAddress",
        "location",
        "startedAt",
        "lastActivity",
        "expiresAt",
        "loginMethod",
        "deviceId",
        "isCurrent",
        "absoluteExpiresAt",
    ] {
        assert!(mine.get(key).is_some(), "missing {key}");
    }
}

#[tokio::test]
async fn revoking_a_session_ends_it_on_its_next_request() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;

    let answer = t.request(Route::RevokeSession).id("phone").send().await;
    answer.assert_status(200);
    assert_eq!(answer.body["message"], "Session revoked successfully");
    t.request(Route::ListSessions)
        .session("phone")
        .send()
        .await
        .assert_unauthorized();

    let again = t.request(Route::RevokeSession).id("phone").send().await;
    again.assert_status(404);
    assert_eq!(again.body["error"], "Session not found");
    let stored = t
        .stored_session("phone")
        .await
        .expect("kept as a tombstone");
    assert_eq!(stored["status"].as_s().unwrap(), "REVOKED");
    assert!(
        stored["ttl"].as_n().unwrap().parse::<i64>().unwrap() > now(),
        "TTL set for cleanup"
    );
}

#[tokio::test]
async fn revoking_your_own_session_signs_you_out() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    t.request(Route::ListSessions)
        .send()
        .await
        .assert_unauthorized();
}

#[tokio::test]
async fn another_users_session_is_not_found_and_stays_alive() {
    let mine = TestApp::new().await;
    mine.sign_in("laptop").await;
    let theirs = TestApp::new().await;
    theirs.sign_in("laptop").await;

    let answer = mine
        .request(Route::RevokeSession)
        .id(&theirs.session)
        .send()
        .await;
    answer.assert_status(404);
    assert_eq!(answer.body["error"], "Session not found");
    let heartbeat = mine
        .request(Route::SessionHeartbeat)
        .id(&theirs.session)
        .send()
        .await;
    heartbeat.assert_status(404);
    assert_eq!(heartbeat.body["error"], "Session not found or expired");

    let their_sessions = theirs.request(Route::ListSessions).send().await;
    their_sessions.assert_status(200);
    assert_eq!(
        ids(&their_sessions.body["sessions"]),
        vec![theirs.session.clone()]
    );
}

#[tokio::test]
async fn session_ids_are_validated() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let long = "s".repeat(129);
    for bad in ["has space", "a#b", "ü", long.as_str()] {
        for route in [Route::RevokeSession, Route::SessionHeartbeat] {
            let answer = t.request(route).id(bad).send().await;
            answer.assert_status(400);
            assert_eq!(answer.code(), "INVALID_SESSION_ID", "{route:?} {bad:?}");
        }
    }
}

#[tokio::test]
async fn revoke_all_ends_every_session_and_counts_them() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    t.sign_in_other("tablet", "tablet").await;
    t.sign_in_other("already-gone", "tablet").await;
    t.request(Route::RevokeSession)
        .id("already-gone")
        .send()
        .await
        .assert_status(200);

    let answer = t.request(Route::RevokeAllSessions).send().await;
    answer.assert_status(200);
    assert_eq!(answer.body["message"], "All sessions revoked successfully");
    assert_eq!(answer.body["data"]["revokedCount"], 3);
    for session in [t.session.as_str(), "phone", "tablet"] {
        t.request(Route::ListDevices)
            .session(session)
            .send()
            .await
            .assert_unauthorized();
    }
}

#[tokio::test]
async fn revoke_all_can_keep_the_current_session() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    t.sign_in_other("tablet", "tablet").await;

    let answer = t
        .request(Route::RevokeAllSessions)
        .query("keepCurrent", "true")
        .send()
        .await;
    answer.assert_status(200);
    assert_eq!(answer.body["revokedCount"], 2);
    let left = t.request(Route::ListSessions).send().await;
    assert_eq!(ids(&left.body["sessions"]), vec![t.session.clone()]);

    let bad = t
        .request(Route::RevokeAllSessions)
        .query("keepCurrent", "yes")
        .send()
        .await;
    bad.assert_status(400);
    assert_eq!(bad.code(), "INVALID_QUERY");
}

#[tokio::test]
async fn revoke_all_handles_more_sessions_than_one_transaction_holds() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    // The cap's largest (100 live sessions): 99 revocations and the cascade's own
    // actions (caller, sign-in count, event) are more than one transaction's 100.
    let sessions: Vec<String> = (0..99).map(|i| format!("phone-{i}")).collect();
    register_all(&t, &sessions, "phone").await;

    let answer = t
        .request(Route::RevokeAllSessions)
        .query("keepCurrent", "true")
        .send()
        .await;
    answer.assert_status(200);
    assert_eq!(answer.body["data"]["revokedCount"], 99);
    let account = t.account().await;
    let alive: Vec<_> = account
        .alive_sessions(now(), None)
        .map(|s| s.id.as_str().to_string())
        .collect();
    assert_eq!(alive, vec![t.session.clone()]);
}

#[tokio::test]
async fn heartbeat_slides_the_idle_expiry() {
    let t = TestApp::with(&[("SESSION_IDLE_TIMEOUT_SECONDS", "600")]).await;
    let laptop = t.sign_in("laptop").await;
    t.set_session(&t.session, &[("expiresAt", n(now() + 60))])
        .await;

    let answer = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .send()
        .await;
    answer.assert_status(200);
    assert_eq!(answer.body["message"], "Session updated successfully");
    let expected = shared::domain::rfc3339(now() + 600);
    let new_expiry = answer.body["newExpiry"].as_str().unwrap();
    assert!(
        new_expiry <= expected.as_str()
            && new_expiry >= shared::domain::rfc3339(now() + 590).as_str()
    );

    // The seed's path: the caller's session on device {id}.
    let on_device = t.request(Route::DeviceHeartbeat).id(&laptop).send().await;
    on_device.assert_status(200);
    assert!(on_device.body["newExpiry"].is_string());
    let stored = t.stored_session(&t.session).await.unwrap();
    assert!(stored["expiresAt"].as_n().unwrap().parse::<i64>().unwrap() >= now() + 590);
}

#[tokio::test]
async fn heartbeat_never_passes_the_absolute_cap() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let cap = now() + 20;
    t.set_session(
        &t.session,
        &[("absoluteExpiresAt", n(cap)), ("expiresAt", n(now() + 10))],
    )
    .await;

    let answer = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .send()
        .await;
    answer.assert_status(200);
    assert_eq!(answer.body["newExpiry"], shared::domain::rfc3339(cap));
    let stored = t.stored_session(&t.session).await.unwrap();
    assert_eq!(stored["expiresAt"].as_n().unwrap(), &cap.to_string());
}

#[tokio::test]
async fn heartbeat_only_keeps_the_callers_own_session_alive() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let phone = t.sign_in_other("phone", "phone").await;

    let other = t.request(Route::SessionHeartbeat).id("phone").send().await;
    other.assert_status(404);
    assert_eq!(other.body["error"], "Session not found or expired");
    let wrong_device = t.request(Route::DeviceHeartbeat).id(&phone).send().await;
    wrong_device.assert_status(404);
    assert_eq!(wrong_device.body["error"], "Session not found or expired");
}

#[tokio::test]
async fn body_less_posts_accept_no_body_and_no_content_type() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    let calls = [
        t.request(Route::SessionHeartbeat).id(&t.session),
        t.request(Route::RevokeSession).id("phone"),
        t.request(Route::UntrustDevice).id(&laptop),
    ];
    for call in calls {
        call.body(None, None).send().await.assert_status(200);
    }
    let sessions = TestApp::new().await;
    sessions.sign_in("x").await;
    sessions
        .request(Route::RevokeAllSessions)
        .body(None, None)
        .send()
        .await
        .assert_status(200);
    assert!(json!(null).is_null());
}
