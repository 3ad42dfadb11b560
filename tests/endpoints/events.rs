//! Security events: every write that changes a device or a session records exactly
//! one event, in its own transaction (a refused write records none); the user reads
//! them newest first, a page at a time; platform services end sessions with IAM.

use serde_json::{Value, json};

use crate::support::*;

const SERVICE_ARN: &str = "arn:aws:sts::123456789012:assumed-role/password-reset/worker";

/// The user's events as `session` reads them, newest first, every page.
async fn events(t: &TestApp, session: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = t
            .request(Route::SecurityEvents)
            .session(session)
            .query("limit", "100");
        if let Some(cursor) = &cursor {
            request = request.queries(&[("limit", "100"), ("cursor", cursor)]);
        }
        let page = request.send().await;
        page.assert_status(200);
        all.extend(page.body["events"].as_array().unwrap().iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

/// The types of the caller's events, oldest first.
async fn types(t: &TestApp) -> Vec<String> {
    let mut types: Vec<String> = events(t, &t.session)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    types.reverse();
    types
}

#[tokio::test]
async fn every_change_records_exactly_one_event_and_a_refused_write_none() {
    let t = TestApp::with(&[("RATE_LIMIT_WRITES_PER_MINUTE", "1")]).await;
    let laptop = t.sign_in("laptop").await;
    let phone = t.sign_in_other("phone-1", "phone").await;
    t.sign_in_other("phone-2", "phone").await;
    t.sign_in_other("laptop-2", "laptop").await;
    // The same registration again changes nothing, and records nothing.
    t.register("phone-2", "phone").await.assert_status(200);
    assert_eq!(
        types(&t).await,
        [
            "NEW_DEVICE_SIGN_IN",
            "NEW_DEVICE_SIGN_IN",
            "SUCCESSFUL_LOGIN",
            "SUCCESSFUL_LOGIN"
        ]
    );

    let trust = || {
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": "laptop" }))
            .send()
    };
    trust().await.assert_status(200);
    trust().await.assert_status(429); // refused: the session's budget is 1
    t.request(Route::RevokeSession)
        .id("unknown")
        .send()
        .await
        .assert_status(404);
    t.request(Route::RevokeSession)
        .id("laptop-2")
        .send()
        .await
        .assert_status(200);
    t.request(Route::UntrustDevice)
        .id(&phone)
        .send()
        .await
        .assert_status(200);
    t.sign_in_other("phone-3", "phone").await;
    t.request(Route::DeleteDevice)
        .id(&phone)
        .send()
        .await
        .assert_status(200);
    t.sign_in_other("tablet-1", "tablet").await;
    let all = t
        .request(Route::RevokeAllSessions)
        .query("keepCurrent", "true")
        .send()
        .await;
    all.assert_status(200);
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);

    // Sign in again to read the log (the last revocation signed the caller out).
    t.sign_in_other("reader", "laptop").await;
    let log = events(&t, "reader").await;
    let of = |kind: &str| -> Vec<&Value> { log.iter().filter(|e| e["type"] == kind).collect() };
    assert_eq!(
        of("DEVICE_TRUSTED").len(),
        1,
        "the refused trust recorded nothing"
    );
    let revoked = of("SESSION_REVOKED");
    assert_eq!(revoked.len(), 2, "the 404 recorded nothing");
    assert_eq!(revoked[0]["reason"], "SIGNED_OUT");
    assert_eq!(revoked[0]["target"]["id"], t.session.as_str());
    assert_eq!(revoked[1]["target"]["id"], "laptop-2");
    assert_eq!(revoked[1]["reason"], Value::Null);
    let untrusted = of("DEVICE_UNTRUSTED");
    assert_eq!(
        (untrusted.len(), untrusted[0]["count"].as_i64()),
        (1, Some(2))
    );
    assert_eq!(
        untrusted[0]["target"],
        json!({ "type": "DEVICE", "id": phone })
    );
    let removed = of("DEVICE_REMOVED");
    assert_eq!((removed.len(), removed[0]["count"].as_i64()), (1, Some(1)));
    let all_revoked = of("ALL_SESSIONS_REVOKED");
    assert_eq!(all_revoked[0]["count"], all.body["revokedCount"]);
    // Who and from where: the caller's session, the request's source and agent.
    let trusted = &of("DEVICE_TRUSTED")[0];
    assert_eq!(
        trusted["actor"],
        json!({ "type": "SESSION", "id": t.session })
    );
    assert_eq!(trusted["deviceId"], laptop.as_str());
    assert_eq!(trusted["sourceIp"], "203.0.113.10");
    assert_eq!(trusted["userAgent"], FIREFOX_MAC);
    assert_eq!(trusted["userId"], t.user.as_str());
    let ids: std::collections::HashSet<_> = log.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids.len(), log.len(), "event ids are unique");
}

#[tokio::test]
async fn the_log_pages_newest_first_and_a_cursor_reaches_nothing_else() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    for i in 0..4 {
        t.sign_in_other(&format!("other-{i}"), "laptop").await;
    }
    let first = t
        .request(Route::SecurityEvents)
        .query("limit", "2")
        .send()
        .await;
    first.assert_status(200);
    let page = |a: &Answer| -> Vec<String> {
        a.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["target"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(page(&first), ["other-3", "other-2"]);
    assert_eq!(first.body["data"], first.body["events"]);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_string();
    let second = t
        .request(Route::SecurityEvents)
        .queries(&[("limit", "2"), ("cursor", &cursor)])
        .send()
        .await;
    assert_eq!(page(&second), ["other-1", "other-0"]);
    let cursor = second.body["nextCursor"].as_str().unwrap().to_string();
    let last = t
        .request(Route::SecurityEvents)
        .queries(&[("limit", "2"), ("cursor", &cursor)])
        .send()
        .await;
    assert_eq!(page(&last), std::slice::from_ref(&t.session));
    assert_eq!(last.body["nextCursor"], Value::Null);

    // Another user's cursor only names a position in time: it reads the caller's own.
    let other = TestApp::new().await;
    other.sign_in("their-laptop").await;
    let theirs = other
        .request(Route::SecurityEvents)
        .queries(&[("limit", "5"), ("cursor", &cursor)])
        .send()
        .await;
    theirs.assert_status(200);
    assert!(
        page(&theirs).iter().all(|id| id == &other.session),
        "{:?}",
        page(&theirs)
    );

    for (name, value) in [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "ten"),
        ("cursor", "zz"),
        ("cursor", &hex_of("DEVICE#x")),
    ] {
        let refused = t
            .request(Route::SecurityEvents)
            .query(name, value)
            .send()
            .await;
        refused.assert_status(400);
        assert!(
            matches!(refused.code(), "INVALID_QUERY" | "INVALID_CURSOR"),
            "{name}={value}"
        );
    }
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_current_session_says_who_is_calling_until_it_ends() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);
    let me = t.request(Route::CurrentSession).send().await;
    me.assert_status(200);
    assert_eq!(me.body["data"]["userId"], t.user.as_str());
    assert_eq!(me.body["session"]["id"], t.session.as_str());
    assert_eq!(me.body["session"]["isCurrent"], true);
    assert_eq!(me.body["device"]["id"], laptop.as_str());
    assert_eq!(me.body["device"]["trustLevel"], "HIGH");
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    t.request(Route::CurrentSession)
        .send()
        .await
        .assert_unauthorized();
}

#[tokio::test]
async fn services_end_a_users_sessions_with_iam_and_nothing_else_can() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let phone = t.sign_in_other("phone-1", "phone").await;
    t.sign_in_other("phone-2", "phone").await;

    // No IAM identity (a user's Bearer token, or nothing): 403, nothing ends.
    for route in Route::ADMIN {
        let bearer = t.request(route).id(&phone);
        let bearer = bearer
            .signed_by(None)
            .authorization(Some(&format!("Bearer {}", t.token())));
        let refused = bearer.send().await;
        refused.assert_status(403);
        assert_eq!(refused.code(), "IAM_REQUIRED");
    }
    assert_eq!(t.account().await.alive_sessions(now(), None).count(), 3);

    // One device's sessions, with the reason recorded.
    let device = t
        .request(Route::AdminRevokeDevice)
        .id(&phone)
        .signed_by(Some(SERVICE_ARN))
        .json(json!({ "reason": "FRAUD" }))
        .send()
        .await;
    device.assert_status(200);
    assert_eq!(device.body["revokedCount"], 2);
    let account = t.account().await;
    assert_eq!(account.alive_sessions(now(), None).count(), 1);
    assert!(
        account
            .device(&shared::domain::DeviceId::parse(&phone).unwrap())
            .is_some(),
        "the device stays"
    );
    let missing = t
        .request(Route::AdminRevokeDevice)
        .id("3f1c2a9e-8d4b-4c61-9a2f-6b7e5d4c3b2a")
        .signed_by(Some(SERVICE_ARN))
        .send()
        .await;
    missing.assert_status(404);

    // Every session of the user, the caller's token not needed.
    let all = t
        .request(Route::AdminRevokeUser)
        .signed_by(Some(SERVICE_ARN))
        .body(None, None)
        .send()
        .await;
    all.assert_status(200);
    assert_eq!(all.body["revokedCount"], 1);
    t.request(Route::ListDevices)
        .send()
        .await
        .assert_unauthorized();

    t.sign_in_other("after", "laptop").await;
    let log = t
        .request(Route::SecurityEvents)
        .session("after")
        .send()
        .await;
    let admin: Vec<&Value> = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ADMIN_SESSIONS_REVOKED")
        .collect();
    assert_eq!(admin.len(), 2);
    assert_eq!(
        admin[0]["actor"],
        json!({ "type": "SERVICE", "id": SERVICE_ARN })
    );
    assert_eq!(admin[0]["target"]["type"], "ACCOUNT");
    assert_eq!(admin[1]["target"], json!({ "type": "DEVICE", "id": phone }));
    assert_eq!(admin[1]["reason"], "FRAUD");
}
