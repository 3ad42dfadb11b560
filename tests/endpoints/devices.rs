//! `/devices…`: listing, detail, trust, untrust and removal, with their cascades.

use serde_json::{Value, json};

use crate::support::*;

fn device<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("device {id} not in {list:#}"))
}

#[tokio::test]
async fn list_devices_answers_the_documented_shape() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    let phone = t.sign_in_other("phone-session", "phone").await;

    let answer = t.request(Route::ListDevices).send().await;
    answer.assert_status(200);
    let body = &answer.body;
    assert_eq!(body["success"], true);
    assert_eq!(
        body["devices"], body["data"],
        "documented key and canonical payload agree"
    );
    assert_eq!(body["devices"].as_array().unwrap().len(), 2);

    let current = device(&body["devices"], &laptop);
    for key in [
        "id",
        "deviceName",
        "deviceType",
        "os",
        "browser",
        "ipAddress",
        "country",
        "city",
        "isTrusted",
        "trustLevel",
        "lastSeen",
        "createdAt",
        "trustExpiresAt",
        "isCurrent",
    ] {
        assert!(current.get(key).is_some(), "missing {key} in {current:#}");
    }
    // Named from the User-Agent, located from the request context.
    assert_eq!(current["deviceName"], "Firefox on macOS");
    assert_eq!(current["deviceType"], "DESKTOP");
    assert_eq!(current["ipAddress"], "203.0.113.10");
    assert_eq!(current["trustLevel"], "UNKNOWN");
    assert_eq!(current["isTrusted"], false);
    assert_eq!(current["isCurrent"], true);
    assert_eq!(device(&body["devices"], &phone)["isCurrent"], false);
}

#[tokio::test]
async fn get_device_shows_its_active_sessions_only() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    t.sign_in_other("second", "laptop").await;
    t.sign_in_other("ended", "laptop").await;
    t.sign_in_other("on-phone", "phone").await;
    t.request(Route::RevokeSession)
        .id("ended")
        .send()
        .await
        .assert_status(200);

    let answer = t.request(Route::GetDevice).id(&laptop).send().await;
    answer.assert_status(200);
    let detail = &answer.body["device"];
    assert_eq!(detail, &answer.body["data"]);
    assert_eq!(detail["id"], laptop.as_str());
    // A short digest, never the fingerprint itself (which is what claims trust).
    let digest = detail["deviceFingerprint"].as_str().unwrap();
    assert_eq!(digest.len(), 16, "{digest}");
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{digest}");
    assert_eq!(detail["userAgent"], FIREFOX_MAC);
    let mut sessions: Vec<_> = detail["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    sessions.sort();
    let mut expected = vec![t.session.clone(), "second".to_string()];
    expected.sort();
    assert_eq!(sessions, expected);
}

#[tokio::test]
async fn device_ids_are_validated_before_any_lookup() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let long = "a".repeat(5_000);
    for bad in [
        "not-a-uuid",
        "3F1C2A9E-8D4B-4C61-9A2F-6B7E5D4C3B2A",
        long.as_str(),
    ] {
        for route in [
            Route::GetDevice,
            Route::UntrustDevice,
            Route::DeleteDevice,
            Route::DeviceHeartbeat,
        ] {
            let answer = t.request(route).id(bad).send().await;
            answer.assert_status(400);
            assert_eq!(answer.code(), "INVALID_DEVICE_ID", "{route:?}");
        }
    }
    let absent = "3f1c2a9e-8d4b-4c61-9a2f-6b7e5d4c3b2a";
    for route in [Route::GetDevice, Route::UntrustDevice, Route::DeleteDevice] {
        let answer = t.request(route).id(absent).send().await;
        answer.assert_status(404);
        assert_eq!(answer.body["error"], "Device not found");
    }
}

#[tokio::test]
async fn another_users_device_is_not_found_and_stays_untouched() {
    let mine = TestApp::new().await;
    mine.sign_in("laptop").await;
    let theirs = TestApp::new().await;
    let their_device = theirs.sign_in("their-laptop").await;
    theirs
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": "their-laptop" }))
        .send()
        .await
        .assert_status(200);
    let before = theirs
        .request(Route::GetDevice)
        .id(&their_device)
        .send()
        .await
        .body;

    for route in [Route::GetDevice, Route::UntrustDevice, Route::DeleteDevice] {
        let answer = mine.request(route).id(&their_device).send().await;
        answer.assert_status(404);
        assert_eq!(answer.body["error"], "Device not found", "{route:?}");
    }
    let heartbeat = mine
        .request(Route::DeviceHeartbeat)
        .id(&their_device)
        .send()
        .await;
    heartbeat.assert_status(404);
    // Their fingerprint means nothing in my account either.
    let trust = mine
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": "their-laptop" }))
        .send()
        .await;
    trust.assert_status(404);

    let after = theirs
        .request(Route::GetDevice)
        .id(&their_device)
        .send()
        .await
        .body;
    assert_eq!(before["device"]["trustLevel"], "HIGH");
    assert_eq!(before["device"]["sessions"], after["device"]["sessions"]);
    assert_eq!(
        before["device"]["trustLevel"],
        after["device"]["trustLevel"]
    );
}

#[tokio::test]
async fn trusting_a_device_is_for_the_trust_period() {
    let t = TestApp::with(&[("TRUST_PERIOD_SECONDS", "86400")]).await;
    let laptop = t.sign_in("laptop").await;
    let answer = t
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await;
    answer.assert_status(200);
    assert_eq!(answer.body["message"], "Device trusted successfully");
    let expires = answer.body["trustExpiresAt"].as_str().unwrap();
    assert_eq!(answer.body["data"]["trustExpiresAt"], expires);
    let expected = shared::domain::rfc3339(now() + 86_400);
    assert!(
        expires <= expected.as_str() && expires >= shared::domain::rfc3339(now() + 86_390).as_str()
    );

    let listed = t.request(Route::GetDevice).id(&laptop).send().await.body;
    assert_eq!(listed["device"]["isTrusted"], true);
    assert_eq!(listed["device"]["trustLevel"], "HIGH");
    assert_eq!(listed["device"]["trustExpiresAt"], expires);
}

#[tokio::test]
async fn lapsed_trust_is_medium_and_not_trusted() {
    let t = TestApp::with(&[("TRUST_PERIOD_SECONDS", "1")]).await;
    let laptop = t.sign_in("laptop").await;
    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let device = t.request(Route::GetDevice).id(&laptop).send().await.body["device"].clone();
    assert_eq!(device["trustLevel"], "MEDIUM");
    assert_eq!(device["isTrusted"], false);
    assert!(
        device["trustExpiresAt"].is_string(),
        "the lapse time stays visible"
    );
}

#[tokio::test]
async fn trust_rejects_malformed_bodies() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let huge = format!(r#"{{"fingerprint":"{}"}}"#, "x".repeat(20_000));
    let long = format!(r#"{{"fingerprint":"{}"}}"#, "x".repeat(600));
    let cases: [(Option<&str>, Option<&str>, u16, &str); 8] = [
        (None, None, 400, "INVALID_JSON"),
        (Some("{"), Some("application/json"), 400, "INVALID_JSON"),
        (Some("{}"), Some("application/json"), 400, "INVALID_FIELD"),
        (
            Some(r#"{"fingerprint":42}"#),
            Some("application/json"),
            400,
            "INVALID_FIELD",
        ),
        (
            Some(r#"{"fingerprint":""}"#),
            Some("application/json"),
            400,
            "INVALID_FIELD",
        ),
        (Some(&long), Some("application/json"), 400, "INVALID_FIELD"),
        (
            Some(&huge),
            Some("application/json"),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            Some(r#"{"fingerprint":"laptop"}"#),
            Some("text/plain"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let answer = t
            .request(Route::TrustDevice)
            .body(body, content_type)
            .send()
            .await;
        answer.assert_status(status);
        assert_eq!(answer.code(), code, "{body:?}");
        assert_eq!(answer.body["success"], false);
    }
    let missing = t
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": "never-seen" }))
        .send()
        .await;
    missing.assert_status(404);
    assert_eq!(missing.body["error"], "Device not found");
}

#[tokio::test]
async fn untrust_drops_trust_and_ends_every_session_on_the_device() {
    let t = TestApp::new().await;
    let laptop = t.sign_in("laptop").await;
    t.sign_in_other("laptop-2", "laptop").await;
    t.sign_in_other("phone", "phone").await;
    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);

    let answer = t.request(Route::UntrustDevice).id(&laptop).send().await;
    answer.assert_status(200);
    assert_eq!(answer.body["message"], "Device untrusted successfully");
    assert_eq!(answer.body["data"]["revokedCount"], 2);

    // The caller was on that device: its session ended too.
    t.request(Route::ListDevices)
        .send()
        .await
        .assert_unauthorized();
    t.request(Route::ListDevices)
        .session("laptop-2")
        .send()
        .await
        .assert_unauthorized();
    let from_phone = t
        .request(Route::GetDevice)
        .id(&laptop)
        .session("phone")
        .send()
        .await;
    from_phone.assert_status(200);
    assert_eq!(from_phone.body["device"]["trustLevel"], "LOW");
    assert_eq!(from_phone.body["device"]["isTrusted"], false);
    assert!(from_phone.body["device"]["trustExpiresAt"].is_null());
    assert_eq!(from_phone.body["device"]["sessions"], json!([]));
}

#[tokio::test]
async fn delete_removes_the_device_and_its_fingerprint_and_tombstones_its_sessions() {
    let t = TestApp::new().await;
    t.sign_in("phone").await;
    let laptop = t.sign_in_other("laptop-1", "laptop").await;
    t.sign_in_other("laptop-2", "laptop").await;

    let answer = t.request(Route::DeleteDevice).id(&laptop).send().await;
    answer.assert_status(200);
    assert_eq!(answer.body["message"], "Device removed successfully");
    assert_eq!(answer.body["data"]["revokedCount"], 2);

    t.request(Route::GetDevice)
        .id(&laptop)
        .send()
        .await
        .assert_status(404);
    t.request(Route::DeleteDevice)
        .id(&laptop)
        .send()
        .await
        .assert_status(404);
    t.request(Route::ListSessions)
        .session("laptop-1")
        .send()
        .await
        .assert_unauthorized();
    // Its sessions can never come back...
    t.register("laptop-1", "laptop").await.assert_unauthorized();
    // ...but a new sign-in on that fingerprint is a new device.
    let again = t.sign_in_other("laptop-3", "laptop").await;
    assert_ne!(again, laptop);
    let account = t.account().await;
    assert_eq!(account.devices.len(), 2);
}

#[tokio::test]
async fn device_cascades_handle_more_sessions_than_one_transaction_holds() {
    let t = TestApp::new().await;
    t.sign_in("phone").await;
    let laptop = t.sign_in_other("laptop-0", "laptop").await;
    // The cap's largest (100 live sessions): 99 revocations and the removal's own
    // actions (device, fingerprint, caller, sign-in count, event) are more than one
    // transaction's 100.
    let sessions: Vec<String> = (1..99).map(|i| format!("laptop-{i}")).collect();
    register_all(&t, &sessions, "laptop").await;

    let answer = t.request(Route::DeleteDevice).id(&laptop).send().await;
    answer.assert_status(200);
    assert_eq!(answer.body["data"]["revokedCount"], 99);
    let account = t.account().await;
    assert_eq!(account.devices.len(), 1);
    assert_eq!(
        account.alive_sessions(now(), None).count(),
        1,
        "only the phone's session is left"
    );
}

/// Registers many sessions of `t`'s user on one device, a few at a time.
pub async fn register_all(t: &TestApp, sessions: &[String], fingerprint: &str) {
    for chunk in sessions.chunks(8) {
        let answers =
            futures::future::join_all(chunk.iter().map(|s| t.register(s, fingerprint))).await;
        for answer in answers {
            answer.assert_status(201);
        }
    }
}

#[tokio::test]
async fn no_read_hands_back_the_raw_fingerprint_and_none_is_stored() {
    let t = TestApp::new().await;
    let fingerprint = "raw-fingerprint-4f1c2e9a";
    let registered = t.register(&t.session, fingerprint).await;
    registered.assert_status(201);
    let device = registered.body["data"]["device"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let trusted = t
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": fingerprint }))
        .send()
        .await;
    trusted.assert_status(200);
    let answers = [
        registered,
        trusted,
        t.request(Route::ListDevices).send().await,
        t.request(Route::GetDevice).id(&device).send().await,
        t.request(Route::ListSessions).send().await,
    ];
    for answer in answers {
        assert!(
            !answer.body.to_string().contains(fingerprint),
            "handed back: {:#}",
            answer.body
        );
    }
    let stored = t.stored(&format!("DEVICE#{device}")).await.unwrap();
    assert!(
        !format!("{stored:?}").contains(fingerprint),
        "stored: {stored:?}"
    );
    // Two users' digests of one fingerprint differ: a digest says nothing across accounts.
    let other = TestApp::new().await;
    let theirs = other.register(&other.session, fingerprint).await;
    let their_device = theirs.body["data"]["device"]["id"].as_str().unwrap();
    let digest = |a: &Answer| {
        a.body["device"]["deviceFingerprint"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mine = t.request(Route::GetDevice).id(&device).send().await;
    let theirs = other
        .request(Route::GetDevice)
        .id(their_device)
        .send()
        .await;
    assert_ne!(digest(&mine), digest(&theirs));
}

/// The digest shown is keyed by the deployment (`FINGERPRINT_DIGEST_KEY`, docs/design.md
/// "Fingerprints"): no session can recompute it from a guessed fingerprint, which takes
/// the key; the same user and device under another key show another digest.
#[tokio::test]
async fn the_fingerprint_digest_is_keyed_by_the_deployment() {
    let key = "FINGERPRINT_DIGEST_KEY";
    let t = TestApp::with(&[(key, "first-deployment-key-0123456789abcdef")]).await;
    let laptop = t.sign_in("laptop").await;
    let mut other = TestApp::with(&[(key, "second-deployment-key-0123456789abcdef")]).await;
    (other.user, other.session) = (t.user.clone(), t.session.clone());
    let mut shown = Vec::new();
    for app in [&t, &other] {
        let answer = app.request(Route::GetDevice).id(&laptop).send().await;
        answer.assert_status(200);
        let digest = answer.body["device"]["deviceFingerprint"].as_str().unwrap();
        assert_eq!(digest.len(), 16, "{digest}");
        shown.push(digest.to_string());
    }
    assert_ne!(shown[0], shown[1], "the key decides the digest");
}
