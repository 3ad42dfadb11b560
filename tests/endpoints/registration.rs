//! `POST /sessions`: binding a session to its device at sign-in.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_first_registration_creates_device_and_session() {
    let t = TestApp::new().await;
    let answer = t
        .request(Route::RegisterSession)
        .json(json!({
            "fingerprint": "laptop",
            "deviceInfo": {
                "deviceName": "Work laptop",
                "deviceType": "DESKTOP",
                "os": "Linux",
                "browser": "Firefox",
                "ipAddress": "198.51.100.7",
                "screenResolution": "2560x1440"
            },
            "geolocation": { "country": "Portugal", "city": "Lisbon", "region": "Lisboa" },
            "loginMethod": "GOOGLE"
        }))
        .send()
        .await;
    answer.assert_status(201);
    let device = &answer.body["data"]["device"];
    let session = &answer.body["data"]["session"];
    assert_eq!(device["deviceName"], "Work laptop");
    assert_eq!(device["os"], "Linux");
    // The address the request came from (the event's sourceIp), never the one the
    // body claims.
    assert_eq!(device["ipAddress"], "203.0.113.10");
    assert_eq!(session["ipAddress"], "203.0.113.10");
    assert_eq!(device["country"], "Portugal");
    assert_eq!(device["trustLevel"], "UNKNOWN");
    assert_eq!(session["id"], t.session.as_str());
    assert_eq!(session["deviceId"], device["id"]);
    assert_eq!(session["location"], "Lisbon, Portugal");
    assert_eq!(session["loginMethod"], "GOOGLE");
    assert_eq!(session["isCurrent"], true);

    // The session item may go once it can be alive no longer; its id is remembered
    // longer, in an item reads never fetch.
    let stored = t.stored_session(&t.session).await.unwrap();
    let absolute = number(&stored, "absoluteExpiresAt");
    assert_eq!(number(&stored, "ttl"), absolute);
    let used = t.stored(&format!("USED#{}", t.session)).await.unwrap();
    assert!(
        number(&used, "ttl") >= absolute + 3600,
        "the id outlives the session"
    );
}

#[tokio::test]
async fn registering_again_is_idempotent_and_another_fingerprint_conflicts() {
    let t = TestApp::new().await;
    let first = t.register(&t.session, "laptop").await;
    first.assert_status(201);
    let again = t.register(&t.session, "laptop").await;
    again.assert_status(200);
    assert_eq!(
        again.body["data"]["device"]["id"],
        first.body["data"]["device"]["id"]
    );

    let elsewhere = t.register(&t.session, "phone").await;
    elsewhere.assert_status(409);
    assert_eq!(elsewhere.code(), "CONFLICT");
    assert_eq!(
        t.account().await.devices.len(),
        1,
        "the conflict wrote nothing"
    );
}

#[tokio::test]
async fn one_fingerprint_is_one_device() {
    let t = TestApp::new().await;
    let a = t.sign_in("laptop").await;
    let b = t.sign_in_other("second", "laptop").await;
    assert_eq!(a, b);
    let c = t.sign_in_other("third", "phone").await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn an_ended_session_can_never_be_registered_again() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    for session in ["revoked", "expired", "revoked-gone", "expired-gone"] {
        t.sign_in_other(session, "laptop").await;
    }
    for session in ["revoked", "revoked-gone"] {
        let revoke = t.request(Route::RevokeSession).id(session);
        revoke.send().await.assert_status(200);
    }
    let past = n(now() - 1);
    t.set_session("expired", &[("expiresAt", past.clone())])
        .await;
    let aged = [("expiresAt", past.clone()), ("absoluteExpiresAt", past)];
    t.set_session("expired-gone", &aged).await;
    // DynamoDB's TTL deletes ended session items in time; their ids stay unusable.
    for session in ["revoked-gone", "expired-gone"] {
        t.expire_by_ttl(session).await;
    }

    for session in ["revoked", "expired", "revoked-gone", "expired-gone"] {
        let answer = t.register(session, "laptop").await;
        answer.assert_unauthorized();
        assert_eq!(answer.code(), "SESSION_ENDED", "{session}");
        // Not even on another device.
        t.register(session, "phone").await.assert_unauthorized();
    }
    assert_eq!(t.account().await.devices.len(), 1);
    for session in ["revoked-gone", "expired-gone"] {
        let stored = t.stored_session(session).await;
        assert!(stored.is_none(), "{session}: nothing came back");
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn invisible_characters_are_refused_in_every_text_field() {
    let t = TestApp::new().await;
    // "Chrome on \u{202E}SOcam" reads "Chrome on macOS" on screen.
    for invisible in ["\u{202E}", "\u{200B}", "\u{2066}", "\u{FEFF}"] {
        let text = format!("Chrome on {invisible}SOcam");
        let bodies = [
            json!({ "fingerprint": text }),
            json!({ "fingerprint": "a", "deviceInfo": { "deviceName": text } }),
            json!({ "fingerprint": "a", "deviceInfo": { "os": text } }),
            json!({ "fingerprint": "a", "deviceInfo": { "browser": text } }),
            json!({ "fingerprint": "a", "deviceInfo": { "userAgent": text } }),
            json!({ "fingerprint": "a", "geolocation": { "country": text } }),
            json!({ "fingerprint": "a", "geolocation": { "city": text } }),
            json!({ "fingerprint": "a", "loginMethod": text }),
        ];
        for body in bodies {
            invalid_field(&t, &body).await;
        }
    }
    assert!(t.account().await.devices.is_empty());
}

#[tokio::test]
async fn registration_rejects_malformed_bodies() {
    let t = TestApp::new().await;
    let cases = [
        json!({}),
        json!({ "fingerprint": ["a"] }),
        json!({ "fingerprint": "x".repeat(513) }),
        json!({ "fingerprint": "a", "deviceInfo": { "deviceType": "PHONE" } }),
        json!({ "fingerprint": "a", "deviceInfo": { "deviceName": "n".repeat(129) } }),
        json!({ "fingerprint": "a", "deviceInfo": "laptop" }),
        json!({ "fingerprint": "a", "geolocation": { "city": 5 } }),
        json!({ "fingerprint": "a", "loginMethod": "" }),
    ];
    for body in cases {
        invalid_field(&t, &body).await;
    }
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_a_400_and_write_nothing() {
    let t = TestApp::new().await;
    let answer = t
        .request(Route::RegisterSession)
        .bytes(b"{\"fingerprint\":\"\xff\xfe\"}", "application/json")
        .send()
        .await;
    answer.assert_status(400);
    assert_eq!(answer.code(), "INVALID_JSON");
    assert!(t.account().await.devices.is_empty());
}

#[tokio::test]
async fn concurrent_sign_ins_of_one_device_make_one_device() {
    let t = TestApp::new().await;
    let sessions: Vec<String> = (0..6).map(|i| format!("parallel-{i}")).collect();
    let answers = futures::future::join_all(sessions.iter().map(|s| t.register(s, "laptop"))).await;
    for answer in &answers {
        answer.assert_status(201);
    }
    let account = t.account().await;
    assert_eq!(account.devices.len(), 1);
    assert_eq!(account.sessions.len(), 6);
}

#[tokio::test]
async fn every_string_field_is_bounded() {
    let t = TestApp::new().await;
    let huge = "x".repeat(2_000);
    let bodies = [
        json!({ "fingerprint": huge }),
        json!({ "fingerprint": "a", "deviceInfo": { "deviceName": huge } }),
        json!({ "fingerprint": "a", "deviceInfo": { "deviceType": huge } }),
        json!({ "fingerprint": "a", "deviceInfo": { "os": huge } }),
        json!({ "fingerprint": "a", "deviceInfo": { "browser": huge } }),
        json!({ "fingerprint": "a", "deviceInfo": { "userAgent": "x".repeat(1_025) } }),
        json!({ "fingerprint": "a", "geolocation": { "country": huge } }),
        json!({ "fingerprint": "a", "geolocation": { "city": huge } }),
        json!({ "fingerprint": "a", "loginMethod": huge }),
    ];
    for body in bodies {
        let answer = invalid_field(&t, &body).await;
        let field = answer.body["error"]
            .as_str()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string();
        assert!(
            body.to_string().contains(field.rsplit('.').next().unwrap()),
            "{field} named"
        );
    }
    // A huge string anywhere makes a body over the limit: 413, before any parsing.
    let over =
        json!({ "fingerprint": "a", "deviceInfo": { "screenResolution": "x".repeat(20_000) } });
    t.request(Route::RegisterSession)
        .json(over)
        .send()
        .await
        .assert_status(413);
    // The trust body's one field too.
    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": huge }))
        .send()
        .await
        .assert_status(400);
    assert!(t.account().await.devices.is_empty(), "nothing was written");
}

/// Registers with `body`, which must be refused as a 400 naming a bad field.
async fn invalid_field(t: &TestApp, body: &serde_json::Value) -> Answer {
    let answer = t
        .request(Route::RegisterSession)
        .json(body.clone())
        .send()
        .await;
    answer.assert_status(400);
    assert_eq!(answer.code(), "INVALID_FIELD", "{body}");
    answer
}

#[tokio::test]
async fn a_token_outliving_its_session_ids_tombstone_cannot_register() {
    // The id is remembered for the absolute timeout plus the tombstone period after
    // sign-in: here 1 h + 1 h. A token valid longer could register it again once
    // the marker is gone.
    let t = TestApp::with(&[
        ("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "3600"),
        ("SESSION_TOMBSTONE_SECONDS", "3600"),
    ])
    .await;
    let token = |ttl: i64| {
        mint(json!({ "sub": t.user, "sid": t.session, "exp": now() + ttl, "iat": now() }))
    };
    let refused = t
        .request(Route::RegisterSession)
        .authorization(Some(&format!("Bearer {}", token(3 * 3600))))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await;
    refused.assert_unauthorized();
    assert_eq!(refused.code(), "TOKEN_OUTLIVES_SESSION");
    assert!(t.account().await.sessions.is_empty(), "nothing written");

    t.request(Route::RegisterSession)
        .authorization(Some(&format!("Bearer {}", token(7_000))))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(201);
}

/// An ended session id never comes back, even once its marker is gone: identity
/// providers keep the id across refreshes, so a registration must come within the
/// absolute timeout of the sign-in it names (`auth_time`, else `iat`), which the
/// marker outlives (docs/design.md, "Ended session ids never come back").
#[tokio::test]
async fn an_ended_session_id_never_comes_back_once_its_marker_is_gone() {
    let t = TestApp::with(&[("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "3600")]).await;
    let register = |claims: serde_json::Value| {
        let mut token = json!({ "sub": t.user, "sid": t.session, "exp": now() + 600 });
        token
            .as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        t.request(Route::RegisterSession)
            .authorization(Some(&format!("Bearer {}", mint(token))))
            .json(json!({ "fingerprint": "laptop" }))
            .send()
    };
    let refused = |answer: Answer| {
        answer.assert_unauthorized();
        assert_eq!(answer.code(), "TOKEN_OUTLIVES_SESSION");
    };
    register(json!({ "auth_time": now() - 3_000 }))
        .await
        .assert_status(201);
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    // Both items gone, as TTL does: the session's at its absolute expiry, the marker's
    // after. By then the sign-in the id was minted for is older than the timeout.
    t.expire_by_ttl(&t.session).await;
    t.forget(&format!("USED#{}", t.session)).await;
    refused(register(json!({ "auth_time": now() - 3_601, "iat": now() })).await);
    refused(register(json!({ "iat": now() - 3_601 })).await);
    // A token naming no sign-in at all, or one far in the future.
    refused(register(json!({})).await);
    refused(register(json!({ "auth_time": now() + 86_400 })).await);
    assert!(t.account().await.sessions.is_empty(), "nothing written");
}

/// Claims are numbers the token's signer chose: arithmetic on them never overflows,
/// and an absurd one is a 401, never a panic or a skipped check.
#[tokio::test]
async fn absurd_claim_times_are_refused() {
    let t = TestApp::new().await;
    for claims in [
        json!({ "exp": 9_223_372_036_854_775_808u64, "iat": now() }),
        json!({ "exp": i64::MAX, "iat": now() }),
        json!({ "exp": now() + 600, "iat": i64::MIN }),
        json!({ "exp": now() + 600, "auth_time": i64::MIN }),
    ] {
        let mut token = json!({ "sub": t.user, "sid": t.session });
        token
            .as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        let answer = t
            .request(Route::RegisterSession)
            .authorization(Some(&format!("Bearer {}", mint(token))))
            .json(json!({ "fingerprint": "laptop" }))
            .send()
            .await;
        answer.assert_unauthorized();
    }
    assert!(t.account().await.sessions.is_empty(), "nothing written");
}
