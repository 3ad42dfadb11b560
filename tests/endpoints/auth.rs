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
    let headers = [
        t.bad_bearers().to_vec(),
        vec![
            format!("bearer {}", t.token()),
            format!("Bearer  {}", t.token()),
            format!("Bearer {} {}", t.token(), t.token()),
            t.token(),
            "Basic dXNlcjpwYXNz".to_string(),
        ],
    ]
    .concat();
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

const RSA_PRIVATE: &str = include_str!("../../shared/testdata/rsa-private.pem");
const RSA_PUBLIC: &str = include_str!("../../shared/testdata/rsa-public.pem");

fn sign(
    header: jsonwebtoken::Header,
    claims: &serde_json::Value,
    key: &jsonwebtoken::EncodingKey,
) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// Signs in on the "laptop" device with a token of this deployment's own kind.
async fn sign_in_with(t: &TestApp, token: &str) -> String {
    let registered = t
        .request(Route::RegisterSession)
        .authorization(Some(&format!("Bearer {token}")))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await;
    registered.assert_status(201);
    registered.body["data"]["device"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Tries `tokens` on a route that would delete the caller's device, and checks each
/// is refused with 401 and that the device is still there afterwards.
async fn assert_refused_and_nothing_changed(
    t: &TestApp,
    device: &str,
    valid: &str,
    tokens: &[(&str, String)],
) {
    for (attack, token) in tokens {
        let answer = t
            .request(Route::DeleteDevice)
            .id(device)
            .authorization(Some(&format!("Bearer {token}")))
            .send()
            .await;
        answer.assert_unauthorized();
        assert_eq!(answer.body["success"], false, "{attack}");
    }
    let still = t
        .request(Route::GetDevice)
        .id(device)
        .authorization(Some(&format!("Bearer {valid}")))
        .send()
        .await;
    still.assert_status(200);
    assert_eq!(
        still.body["device"]["sessions"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn jwt_attacks_on_an_hs256_deployment_are_refused_and_change_nothing() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let t = TestApp::with(&[
        ("JWT_ISSUER", "https://auth.test"),
        ("JWT_AUDIENCE", "devices"),
    ])
    .await;
    let claims = |extra: serde_json::Value| {
        let mut claims = json!({
            "sub": t.user, "sid": t.session, "exp": now() + 600, "iat": now(),
            "iss": "https://auth.test", "aud": "devices",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let valid = mint(claims(json!({})));
    let device = sign_in_with(&t, &valid).await;

    let other = TestApp::new().await;
    other.sign_in("their-laptop").await;
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let attacks = [
        (
            "RS256 where HS256 is pinned",
            sign(Header::new(Algorithm::RS256), &claims(json!({})), &rsa),
        ),
        (
            "HS512 where HS256 is pinned",
            sign(
                Header::new(Algorithm::HS512),
                &claims(json!({})),
                &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            ),
        ),
        (
            "wrong key",
            sign(
                Header::default(),
                &claims(json!({})),
                &EncodingKey::from_secret(b"not-the-secret-not-the-secret-0123").unwrap(),
            ),
        ),
        ("expired", mint(claims(json!({ "exp": now() - 600 })))),
        ("not yet valid", mint(claims(json!({ "nbf": now() + 600 })))),
        (
            "wrong issuer",
            mint(claims(json!({ "iss": "https://evil.test" }))),
        ),
        ("no issuer", mint(claims(json!({ "iss": null })))),
        (
            "wrong audience",
            mint(claims(json!({ "aud": "another-api" }))),
        ),
        ("no audience", mint(claims(json!({ "aud": null })))),
        ("no sub", mint(claims(json!({ "sub": null })))),
        ("no sid", mint(claims(json!({ "sid": null })))),
        (
            "sid of another user's session",
            mint(claims(json!({ "sid": other.session }))),
        ),
        (
            "over the size bound",
            mint(claims(json!({ "pad": "x".repeat(9_000) }))),
        ),
        ("alg none", {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.",
                b64.encode(br#"{"alg":"none"}"#),
                b64.encode(claims(json!({})).to_string())
            )
        }),
    ];
    assert_refused_and_nothing_changed(&t, &device, &valid, &attacks).await;
    // The other user's session is untouched too.
    other
        .request(Route::ListSessions)
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn jwt_attacks_on_an_rs256_deployment_are_refused_and_change_nothing() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let t = TestApp::with(&[
        ("JWT_SECRET", ""),
        ("JWT_PUBLIC_KEY", RSA_PUBLIC),
        ("JWT_ALGORITHMS", "RS256"),
    ])
    .await;
    let claims = json!({ "sub": t.user, "sid": t.session, "exp": now() + 600, "iat": now() });
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let valid = sign(Header::new(Algorithm::RS256), &claims, &rsa);
    let device = sign_in_with(&t, &valid).await;

    let attacks = [
        // Algorithm confusion: HS256 "signed" with the public key as the HMAC secret.
        (
            "HS256 with the public key as secret",
            sign(
                Header::default(),
                &claims,
                &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()).unwrap(),
            ),
        ),
        ("HS256 with a guessed secret", mint(claims.clone())),
    ];
    assert_refused_and_nothing_changed(&t, &device, &valid, &attacks).await;
}

#[tokio::test]
async fn tokens_with_critical_extensions_or_confused_claim_types_are_refused() {
    use jsonwebtoken::Header;
    let t = TestApp::with(&[
        ("JWT_ISSUER", "https://auth.test"),
        ("JWT_AUDIENCE", "devices"),
    ])
    .await;
    let claims = json!({
        "sub": t.user, "sid": t.session, "iat": now(), "exp": now() + 600,
        "iss": "https://auth.test", "aud": "devices",
    });
    let valid = mint(claims.clone());
    let device = sign_in_with(&t, &valid).await;
    let with_crit = |crit: &[&str]| {
        let header = Header {
            crit: Some(crit.iter().map(|name| name.to_string()).collect()),
            ..Header::default()
        };
        sign(
            header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        )
    };
    let with = |name: &str, value: serde_json::Value| {
        let mut claims = claims.clone();
        claims[name] = value;
        mint(claims)
    };
    let attacks = [
        // RFC 7515 §4.1.11: an extension the recipient does not understand, marked
        // critical, must make the token invalid.
        (
            "an unknown critical extension",
            with_crit(&["https://auth.test/step-up-policy"]),
        ),
        ("an empty crit list", with_crit(&[])),
        ("a registered claim marked critical", with_crit(&["exp"])),
        // A claim of the wrong type is not a missing one.
        ("iss as a number", with("iss", json!(42))),
        ("aud as a number", with("aud", json!(42))),
        ("sub as a number", with("sub", json!(42))),
    ];
    assert_refused_and_nothing_changed(&t, &device, &valid, &attacks).await;
}
