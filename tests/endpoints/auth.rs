//! Every route refuses every kind of unauthenticated caller with 401, the envelope
//! and a `WWW-Authenticate` challenge — and changes nothing.

use serde_json::json;

use crate::support::*;

/// A request of `route` that would succeed for a signed-in caller, with `id` as its
/// path id where it takes one.
fn valid_request<'a>(t: &'a TestApp, route: Route, device: &str) -> Call<'a> {
    let call = t.request(route);
    let call = if route.takes_device_id() {
        call.id(device)
    } else if route.takes_session_id() {
        call.id(&t.session)
    } else {
        call
    };
    match route {
        Route::TrustDevice | Route::RegisterSession => {
            call.json(json!({ "fingerprint": "laptop" }))
        }
        _ => call,
    }
}

#[tokio::test]
async fn no_token_is_401_without_an_error_code_on_every_route() {
    let t = TestApp::new().await;
    let device = t.sign_in("laptop").await;
    for route in Route::ALL {
        let answer = valid_request(&t, route, &device)
            .authorization(None)
            .send()
            .await;
        answer.assert_unauthorized();
        assert_eq!(answer.code(), "MISSING_TOKEN", "{route:?}");
        assert_eq!(
            answer.headers["www-authenticate"],
            r#"Bearer realm="flashback""#
        );
    }
}

#[tokio::test]
async fn bad_tokens_and_malformed_headers_are_401_on_every_route() {
    let t = TestApp::new().await;
    let device = t.sign_in("laptop").await;
    let expired = mint(json!({ "sub": t.user, "sid": t.session, "exp": now() - 3600 }));
    let wrong_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": t.user, "sid": t.session, "exp": now() + 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-0123"),
    )
    .unwrap();
    let headers = [
        "Bearer garbage".to_string(),
        format!("Bearer {expired}"),
        format!("Bearer {wrong_key}"),
        format!("bearer {}", t.token()),
        format!("Bearer  {}", t.token()),
        format!("Bearer {} {}", t.token(), t.token()),
        t.token(),
        "Basic dXNlcjpwYXNz".to_string(),
    ];
    for route in Route::ALL {
        for header in &headers {
            let answer = valid_request(&t, route, &device)
                .authorization(Some(header))
                .send()
                .await;
            answer.assert_unauthorized();
            assert_eq!(answer.code(), "INVALID_TOKEN", "{route:?} with {header:?}");
        }
    }
    // Nothing changed: the device is untouched and the session alive.
    let account = t.account().await;
    assert_eq!(account.devices.len(), 1);
    t.request(Route::ListSessions)
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_revoked_session_is_refused_on_its_very_next_request_on_every_route() {
    let t = TestApp::new().await;
    let device = t.sign_in("laptop").await;
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    for route in Route::ALL {
        let answer = valid_request(&t, route, &device).send().await;
        answer.assert_unauthorized();
        assert_eq!(answer.code(), "SESSION_ENDED", "{route:?}");
        assert_eq!(
            answer.headers["www-authenticate"],
            r#"Bearer realm="flashback", error="invalid_token""#
        );
    }
    // The revoked session could not write: the device is still there.
    assert_eq!(t.account().await.devices.len(), 1);
}

#[tokio::test]
async fn an_expired_session_still_stored_is_treated_as_expired_on_every_route() {
    let t = TestApp::new().await;
    let device = t.sign_in("laptop").await;
    // Past its idle expiry; DynamoDB's TTL has not deleted it (and may not for days).
    t.set_session(&t.session, &[("expiresAt", n(now() - 1))])
        .await;
    assert!(t.stored_session(&t.session).await.is_some());
    for route in Route::ALL {
        let answer = valid_request(&t, route, &device).send().await;
        answer.assert_unauthorized();
        assert_eq!(answer.code(), "SESSION_ENDED", "{route:?}");
    }
}

#[tokio::test]
async fn the_absolute_expiry_ends_a_session_whatever_its_activity() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.set_session(
        &t.session,
        &[
            ("expiresAt", n(now() + 600)),
            ("absoluteExpiresAt", n(now() - 1)),
        ],
    )
    .await;
    let answer = t.request(Route::ListDevices).send().await;
    answer.assert_unauthorized();
    let heartbeat = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .send()
        .await;
    heartbeat.assert_unauthorized();
}

#[tokio::test]
async fn an_unregistered_session_is_refused() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let answer = t
        .request(Route::ListDevices)
        .session("never-registered")
        .send()
        .await;
    answer.assert_unauthorized();
    assert_eq!(answer.code(), "SESSION_ENDED");
}

#[tokio::test]
async fn a_dead_session_cannot_probe_which_session_ids_exist() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.sign_in_other("alive", "phone").await;
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    for target in ["alive", "never-existed"] {
        let answer = t.request(Route::RevokeSession).id(target).send().await;
        answer.assert_unauthorized();
        assert_eq!(answer.code(), "SESSION_ENDED", "{target}");
    }
    t.request(Route::ListSessions)
        .session("alive")
        .send()
        .await
        .assert_status(200);
}
