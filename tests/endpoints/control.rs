//! Device control: naming devices, a cap on active sessions with a stated eviction
//! policy (and the ways Keycloak's shipped broken), step-up for the destructive
//! routes, and saying why a session ended and when it will.

use futures::future::join_all;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_chosen_name_survives_later_sign_ins_and_a_derived_one_does_not() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    let renamed = t
        .request(Route::RenameDevice)
        .id(&laptop)
        .json(json!({ "deviceName": "Work laptop" }))
        .send()
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["device"]["deviceName"], "Work laptop");
    assert_eq!(renamed.body["data"]["id"], laptop.as_str());
    // A later sign-in on the device, with a name of its own, keeps the user's.
    let again = t
        .request(Route::RegisterSession)
        .session("later")
        .json(
            json!({ "fingerprint": "laptop", "deviceInfo": { "deviceName": "Firefox on macOS" } }),
        )
        .send()
        .await;
    again.assert_status(201);
    assert_eq!(again.body["data"]["device"]["deviceName"], "Work laptop");
    let listed = t.request(Route::GetDevice).id(&laptop).send().await;
    assert_eq!(listed.body["device"]["deviceName"], "Work laptop");

    // Until renamed, each sign-in still names the device.
    t.sign_in_other("phone-1", "phone").await;
    let phone = t
        .request(Route::RegisterSession)
        .session("phone-2")
        .json(json!({ "fingerprint": "phone", "deviceInfo": { "deviceName": "Pixel 9" } }))
        .send()
        .await;
    assert_eq!(phone.body["data"]["device"]["deviceName"], "Pixel 9");

    // Another user's device is not found; bad names are 400, nothing renamed.
    let other = TestApp::new().await;
    other.sign_in("theirs").await;
    let theirs = other
        .request(Route::RenameDevice)
        .id(&laptop)
        .json(json!({ "deviceName": "Mine now" }))
        .send()
        .await;
    theirs.assert_status(404);
    for bad in [
        json!(""),
        json!("   "),
        json!("x".repeat(65)),
        json!("Chrome on \u{202E}SOcam"),
        json!("a\u{200B}b"),
        json!(7),
        json!(null),
    ] {
        let refused = t
            .request(Route::RenameDevice)
            .id(&laptop)
            .json(json!({ "deviceName": bad }))
            .send()
            .await;
        refused.assert_status(400);
        assert_eq!(refused.code(), "INVALID_FIELD", "{bad}");
    }
    let unchanged = t.request(Route::GetDevice).id(&laptop).send().await;
    assert_eq!(unchanged.body["device"]["deviceName"], "Work laptop");
}

/// Alive sessions of the test's user.
async fn alive(t: &TestApp) -> Vec<String> {
    let account = t.account().await;
    account
        .alive_sessions(now(), None)
        .map(|s| s.id.as_str().to_string())
        .collect()
}

#[tokio::test]
async fn many_parallel_sign_ins_never_leave_more_live_sessions_than_the_cap() {
    for policy in ["evict", "refuse"] {
        let t = TestApp::with(&[
            ("MAX_ACTIVE_SESSIONS_PER_USER", "3"),
            ("SESSION_LIMIT_POLICY", policy),
        ])
        .await;
        for round in 0..3 {
            let sessions: Vec<String> = (0..12).map(|i| format!("r{round}-{i}")).collect();
            let answers = join_all(
                sessions
                    .iter()
                    .enumerate()
                    .map(|(i, s)| t.register(s, if i % 2 == 0 { "laptop" } else { "phone" })),
            )
            .await;
            for answer in &answers {
                assert!(
                    matches!(
                        (answer.status, answer.code()),
                        (201, _) | (409, "CONFLICT" | "SESSION_LIMIT_REACHED")
                    ),
                    "{policy}: {:#}",
                    answer.body
                );
            }
            let live = alive(&t).await;
            assert!(
                live.len() <= 3,
                "{policy}: {} live sessions: {live:?}",
                live.len()
            );
            if policy == "evict" {
                let created = answers.iter().filter(|a| a.status == 201).count();
                assert!(created >= 1, "sign-ins still land under the cap");
            }
        }
    }
}

#[tokio::test]
async fn the_least_recently_active_session_is_evicted_not_the_oldest() {
    let t = TestApp::with(&[("MAX_ACTIVE_SESSIONS_PER_USER", "2")]).await;
    t.sign_in_other("oldest-but-busy", "laptop").await;
    t.sign_in_other("newer-but-idle", "phone").await;
    t.set_session(
        "oldest-but-busy",
        &[
            ("startedAt", n(now() - 3_000)),
            ("lastActivity", n(now() - 5)),
        ],
    )
    .await;
    t.set_session(
        "newer-but-idle",
        &[
            ("startedAt", n(now() - 1_000)),
            ("lastActivity", n(now() - 900)),
        ],
    )
    .await;

    // A sign-in on a known device and one on a new device: neither path bypasses the cap.
    t.sign_in_other("third", "laptop").await;
    let ended = t
        .request(Route::ListDevices)
        .session("newer-but-idle")
        .send()
        .await;
    ended.assert_unauthorized();
    assert_eq!(ended.body["reason"], "EVICTED");
    t.request(Route::ListDevices)
        .session("oldest-but-busy")
        .send()
        .await
        .assert_status(200);

    t.set_session("oldest-but-busy", &[("lastActivity", n(now() - 100))])
        .await;
    t.sign_in_other("fourth", "tablet").await;
    let mut live = alive(&t).await;
    live.sort();
    assert_eq!(live, ["fourth", "third"]);
    // The same live session registered again is no new sign-in: nothing evicted.
    t.register("third", "laptop").await.assert_status(200);
    assert_eq!(alive(&t).await.len(), 2);

    // Refuse instead of evicting: 409 with its own code, nothing written.
    let strict = TestApp::with(&[
        ("MAX_ACTIVE_SESSIONS_PER_USER", "1"),
        ("SESSION_LIMIT_POLICY", "refuse"),
    ])
    .await;
    strict.sign_in("laptop").await;
    let refused = strict.register("second", "laptop").await;
    refused.assert_status(409);
    assert_eq!(refused.code(), "SESSION_LIMIT_REACHED");
    assert_eq!(strict.account().await.sessions.len(), 1);
}

#[tokio::test]
async fn destructive_routes_need_a_recent_sign_in_when_step_up_is_on() {
    let t = TestApp::with(&[("STEP_UP_MAX_AGE_SECONDS", "300")]).await;
    let laptop = t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    let token = |auth_time: Option<i64>| t.bearer_signed_in_at(auth_time);
    // Without `auth_time`, the session's registration counts as the sign-in.
    t.set_session(&t.session, &[("startedAt", n(now() - 3_600))])
        .await;
    for stale in [None, Some(now() - 3_600)] {
        let calls = [
            t.request(Route::RevokeAllSessions),
            t.request(Route::UntrustDevice).id(&laptop),
            t.request(Route::DeleteDevice).id(&laptop),
        ];
        for call in calls {
            let refused = call.authorization(Some(&token(stale))).send().await;
            refused.assert_status(401);
            assert_eq!(refused.code(), "STEP_UP_REQUIRED");
            let challenge = refused.headers["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.contains(r#"error="insufficient_user_authentication""#),
                "{challenge}"
            );
            assert!(challenge.contains("max_age=300"), "{challenge}");
        }
    }
    assert_eq!(alive(&t).await.len(), 2, "nothing changed");
    // Ending another session needs it too (with a recent sign-in here).
    t.request(Route::RevokeSession)
        .id("phone")
        .authorization(Some(&token(Some(now() - 60))))
        .send()
        .await
        .assert_status(200);
    let fresh = t
        .request(Route::UntrustDevice)
        .id(&laptop)
        .authorization(Some(&token(Some(now() - 60))))
        .send()
        .await;
    fresh.assert_status(200);
}

/// Every act that ends another session or grants trust needs the step-up, one by one
/// included; signing oneself out never does. A token without `auth_time` counts as
/// signed in when its session was registered (docs/design.md, "Step-up").
#[tokio::test]
async fn step_up_covers_revoking_another_session_and_trust() {
    let t = TestApp::with(&[("STEP_UP_MAX_AGE_SECONDS", "300")]).await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    let token = |auth_time: Option<i64>| t.bearer_signed_in_at(auth_time);
    let refused = |answer: Answer| {
        answer.assert_status(401);
        assert_eq!(answer.code(), "STEP_UP_REQUIRED");
    };
    let stale = token(Some(now() - 7_200));
    refused(
        t.request(Route::RevokeSession)
            .id("phone")
            .authorization(Some(&stale))
            .send()
            .await,
    );
    refused(
        t.request(Route::TrustDevice)
            .authorization(Some(&stale))
            .json(json!({ "fingerprint": "laptop" }))
            .send()
            .await,
    );
    // No `auth_time`: the session's registration is the sign-in, two hours ago here.
    t.set_session(&t.session, &[("startedAt", n(now() - 7_200))])
        .await;
    refused(t.request(Route::RevokeSession).id("phone").send().await);
    refused(
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": "laptop" }))
            .send()
            .await,
    );
    assert_eq!(alive(&t).await.len(), 2, "nothing changed");
    let fresh = token(Some(now() - 60));
    t.request(Route::TrustDevice)
        .authorization(Some(&fresh))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);
    t.request(Route::RevokeSession)
        .id("phone")
        .authorization(Some(&fresh))
        .send()
        .await
        .assert_status(200);
    // Signing oneself out never needs it.
    t.request(Route::RevokeSession)
        .id(&t.session)
        .authorization(Some(&stale))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_401_says_why_the_session_ended_and_the_heartbeat_says_when_it_will() {
    let t = TestApp::with(&[
        ("SESSION_IDLE_TIMEOUT_SECONDS", "600"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "3600"),
    ])
    .await;
    let laptop = t.sign_in("laptop").await;
    let beat = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .send()
        .await;
    beat.assert_status(200);
    let data = &beat.body["data"];
    assert!(
        (595..=600).contains(&data["idleSecondsLeft"].as_i64().unwrap()),
        "{data}"
    );
    assert!(
        (3_590..=3_600).contains(&data["absoluteSecondsLeft"].as_i64().unwrap()),
        "{data}"
    );
    assert_eq!(data["expiresAt"], beat.body["newExpiry"]);
    assert!(data["absoluteExpiresAt"].is_string());

    let reason = |answer: &Answer| {
        answer.body["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for (session, fingerprint) in [
        ("a", "laptop"),
        ("b", "phone"),
        ("c", "tablet"),
        ("d", "laptop"),
        ("e", "laptop"),
    ] {
        t.sign_in_other(session, fingerprint).await;
    }
    t.set_session("d", &[("expiresAt", n(now() - 1))]).await;
    t.set_session("e", &[("absoluteExpiresAt", n(now() - 1))])
        .await;
    t.request(Route::RevokeSession)
        .id("a")
        .send()
        .await
        .assert_status(200);
    let phone = t
        .account()
        .await
        .sessions
        .iter()
        .find(|s| s.id.as_str() == "b")
        .unwrap()
        .device_id
        .clone();
    t.request(Route::UntrustDevice)
        .id(phone.as_str())
        .send()
        .await
        .assert_status(200);
    let tablet = t
        .account()
        .await
        .sessions
        .iter()
        .find(|s| s.id.as_str() == "c")
        .unwrap()
        .device_id
        .clone();
    t.request(Route::DeleteDevice)
        .id(tablet.as_str())
        .send()
        .await
        .assert_status(200);
    for (session, expected) in [
        ("a", "REVOKED"),
        ("b", "DEVICE_UNTRUSTED"),
        ("c", "DEVICE_REMOVED"),
        ("d", "IDLE_TIMEOUT"),
        ("e", "ABSOLUTE_TIMEOUT"),
        ("never-registered", "NOT_REGISTERED"),
    ] {
        let refused = t.request(Route::ListSessions).session(session).send().await;
        refused.assert_unauthorized();
        assert_eq!(refused.code(), "SESSION_ENDED", "{session}");
        assert_eq!(reason(&refused), expected, "{session}");
        // Writes say the same, from the transaction's own view of the session.
        let write = t
            .request(Route::TrustDevice)
            .session(session)
            .json(json!({ "fingerprint": "laptop" }))
            .send()
            .await;
        assert_eq!(reason(&write), expected, "{session} (write)");
    }
    t.request(Route::RevokeAllSessions)
        .send()
        .await
        .assert_status(200);
    let all = t.request(Route::GetDevice).id(&laptop).send().await;
    assert_eq!(reason(&all), "REVOKED_ALL");
}

#[tokio::test]
async fn devices_and_sessions_page_with_a_cursor_and_stay_whole_without_one() {
    let t = TestApp::new().await;
    t.sign_in("device-0").await;
    for i in 1..5 {
        t.sign_in_other(&format!("s{i}"), &format!("device-{i}"))
            .await;
    }
    for (route, key) in [
        (Route::ListDevices, "devices"),
        (Route::ListSessions, "sessions"),
    ] {
        // Without limit or cursor: all of them, and no key the published client
        // does not know.
        let whole = t.request(route).send().await;
        whole.assert_status(200);
        assert_eq!(whole.body[key].as_array().unwrap().len(), 5);
        assert!(whole.body.get("nextCursor").is_none(), "{:#}", whole.body);

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let request = match &cursor {
                Some(cursor) => t
                    .request(route)
                    .queries(&[("limit", "2"), ("cursor", cursor)]),
                None => t.request(route).query("limit", "2"),
            };
            let page = request.send().await;
            page.assert_status(200);
            let ids: Vec<String> = page.body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_string())
                .collect();
            assert!(ids.len() <= 2);
            assert_eq!(page.body["data"], page.body[key]);
            seen.extend(ids);
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        let mut all: Vec<String> = whole.body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect();
        all.sort();
        assert_eq!(seen, all, "{key}: every item once, in order");

        for (name, value) in [
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "x"),
            ("cursor", "nothex"),
            ("cursor", "2f2f"),
        ] {
            let refused = t.request(route).query(name, value).send().await;
            refused.assert_status(400);
            assert!(
                matches!(refused.code(), "INVALID_QUERY" | "INVALID_CURSOR"),
                "{name}={value}"
            );
        }
    }
    // Another user's cursor names a position, never their items.
    let other = TestApp::new().await;
    other.sign_in("theirs").await;
    let first = t
        .request(Route::ListDevices)
        .query("limit", "1")
        .send()
        .await;
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let theirs = other
        .request(Route::ListDevices)
        .queries(&[("limit", "5"), ("cursor", cursor)])
        .send()
        .await;
    theirs.assert_status(200);
    let mine: Vec<_> = t
        .account()
        .await
        .devices
        .iter()
        .map(|d| d.id.as_str().to_string())
        .collect();
    for device in theirs.body["devices"].as_array().unwrap() {
        assert!(!mine.contains(&device["id"].as_str().unwrap().to_string()));
    }
}
