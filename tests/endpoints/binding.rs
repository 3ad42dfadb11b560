//! Device-bound sessions (DPoP, RFC 9449; docs/device-binding.md): a session
//! registered with a proof is refused without a fresh proof by its key on every
//! route; each check of a proof refuses on its own; the device is its key.

use serde_json::{Value, json};

use crate::support::*;

/// A 401 for this DPoP refusal, with the RFC 9449 challenge.
#[track_caller]
fn assert_refused(answer: &Answer, code: &str) {
    answer.assert_status(401);
    assert_eq!(answer.code(), code, "{:#}", answer.body);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA""#
    );
}

#[tokio::test]
async fn a_sign_in_with_a_proof_binds_the_session_and_its_device_to_the_key() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    let data = t.sign_in_bound(&key, "fp-bound").await;
    assert_eq!(data["session"]["keyBound"], true);
    assert_eq!(data["device"]["keyBound"], true);
    assert_eq!(data["device"]["keyThumbprint"], key.thumbprint());

    let current = t
        .request(Route::CurrentSession)
        .proved_by(&key)
        .send()
        .await;
    current.assert_status(200);
    assert_eq!(current.body["data"]["session"]["keyBound"], true);
    let listed = t.request(Route::ListDevices).proved_by(&key).send().await;
    listed.assert_status(200);
    assert_eq!(listed.body["data"][0]["keyThumbprint"], key.thumbprint());
    // The token may also come in the DPoP scheme.
    let scheme = t
        .request(Route::ListSessions)
        .authorization(Some(&format!("DPoP {}", t.token())))
        .proved_by(&key)
        .send()
        .await;
    scheme.assert_status(200);
    assert_eq!(scheme.body["data"][0]["keyBound"], true);
}

#[tokio::test]
async fn the_published_clients_unbound_sign_in_is_unchanged() {
    let t = TestApp::new().await;
    t.sign_in("fp-plain").await;
    let current = t.request(Route::CurrentSession).send().await;
    current.assert_status(200);
    assert_eq!(current.body["data"]["session"]["keyBound"], false);
    assert_eq!(current.body["data"]["device"]["keyBound"], false);
    assert!(current.body["data"]["device"]["keyThumbprint"].is_null());
}

#[tokio::test]
async fn every_route_refuses_a_bound_sessions_token_without_a_proof_or_with_another_key() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    let other = DeviceKey::new();
    let device = t.sign_in_bound(&key, "fp-routes").await["device"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for route in Route::ALL {
        let call = || {
            let call = t.request(route);
            let call = match (route.takes_device_id(), route.takes_session_id()) {
                (true, _) => call.id(&device),
                (_, true) => call.id(&t.session),
                _ => call,
            };
            match route {
                Route::RegisterSession | Route::TrustDevice => {
                    call.json(json!({ "fingerprint": "fp-routes" }))
                }
                Route::RenameDevice => call.json(json!({ "deviceName": "Mine" })),
                _ => call,
            }
        };
        assert_refused(&call().send().await, "DPOP_PROOF_REQUIRED");
        assert_refused(&call().proved_by(&other).send().await, "INVALID_DPOP_PROOF");
    }
    // Nothing of it was written: the session is as it was, and alive with its key.
    let current = t
        .request(Route::CurrentSession)
        .proved_by(&key)
        .send()
        .await;
    current.assert_status(200);
    assert_eq!(current.body["data"]["device"]["isTrusted"], false);
    assert_eq!(
        current.body["data"]["device"]["deviceName"],
        device_name(&t).await
    );
}

async fn device_name(t: &TestApp) -> String {
    t.account().await.devices[0].name.clone()
}

#[tokio::test]
async fn a_heartbeat_without_the_key_writes_nothing() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-beat").await;
    let before = t.stored_session(&t.session).await.unwrap();
    let beat = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .send()
        .await;
    assert_refused(&beat, "DPOP_PROOF_REQUIRED");
    let other = DeviceKey::new();
    let beat = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .proved_by(&other)
        .send()
        .await;
    assert_refused(&beat, "INVALID_DPOP_PROOF");
    assert_eq!(t.stored_session(&t.session).await.unwrap(), before);
    let beat = t
        .request(Route::SessionHeartbeat)
        .id(&t.session)
        .proved_by(&key)
        .send()
        .await;
    beat.assert_status(200);
}

/// One refused proof per test: the proof for `GET /sessions/current` of a bound
/// session, with one claim changed, is refused, and the unchanged proof is not.
macro_rules! refused_proof {
    ($($name:ident: $change:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let t = TestApp::new().await;
            let key = DeviceKey::new();
            t.sign_in_bound(&key, "fp-check").await;
            let change: fn(&mut Value, &DeviceKey) = $change;
            let answer = t
                .request(Route::CurrentSession)
                .proved_with(&key, |claims| change(claims, &key))
                .send()
                .await;
            assert_refused(&answer, "INVALID_DPOP_PROOF");
            t.request(Route::CurrentSession).proved_by(&key).send().await.assert_status(200);
        }
    )*};
}

refused_proof! {
    a_proof_for_another_method_is_refused: |c, _| c["htm"] = json!("POST");
    a_proof_for_another_url_is_refused: |c, _| c["htu"] = json!(format!("{API_URL}/devices"));
    a_proof_for_another_host_is_refused: |c, _| c["htu"] = json!("https://evil.example/sessions/current");
    a_proof_ten_minutes_old_is_refused: |c, _| c["iat"] = json!(now() - 600);
    a_proof_ten_minutes_ahead_is_refused: |c, _| c["iat"] = json!(now() + 600);
    a_proof_for_another_token_is_refused: |c, _| {
        c["ath"] = json!(shared::auth::dpop::access_token_hash("another.access.token"));
    };
    a_proof_without_a_jti_is_refused: |c, _| { c.as_object_mut().unwrap().remove("jti"); };
}

/// A `DPoP` header built by hand: `header` and `claims` as JSON, signed by `key`'s
/// ES256 signature over them, or not at all (`alg: none`).
fn handmade(header: &Value, claims: &Value, signer: Option<&DeviceKey>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let signature = match signer {
        Some(key) => key.sign_input(&input),
        None => String::new(),
    };
    format!("{input}.{signature}")
}

/// Calls `GET /sessions/current` of a bound session with the raw `DPoP` header
/// made by `make` from the key and this call's claims.
async fn with_raw_proof(make: impl Fn(&DeviceKey, &Value) -> String) -> Answer {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-raw").await;
    let claims = DeviceKey::claims("GET", &format!("{API_URL}/sessions/current"), &t.token());
    // The hand-made proof with the key's own header passes: only the change refuses.
    let fair = handmade(
        &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk() }),
        &claims,
        Some(&key),
    );
    t.request(Route::CurrentSession)
        .header("dpop", &fair)
        .send()
        .await
        .assert_status(200);
    let claims = DeviceKey::claims("GET", &format!("{API_URL}/sessions/current"), &t.token());
    t.request(Route::CurrentSession)
        .header("dpop", &make(&key, &claims))
        .send()
        .await
}

/// One hand-made proof per test (`make(key, claims)` builds its `DPoP` header): refused.
macro_rules! refused_raw_proof {
    ($($name:ident: $make:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let make: fn(&DeviceKey, &Value) -> String = $make;
            assert_refused(&with_raw_proof(make).await, "INVALID_DPOP_PROOF");
        }
    )*};
}

refused_raw_proof! {
    a_proof_carrying_a_private_key_is_refused: |key, claims| {
        let mut jwk = key.jwk();
        jwk["d"] = json!("bm90LWEtcmVhbC1wcml2YXRlLWtleS1idXQtYS1tZW1iZXI");
        handmade(&json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }), claims, Some(key))
    };
    an_unsigned_proof_is_refused: |key, claims| {
        handmade(&json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.jwk() }), claims, None)
    };
    a_proof_of_another_type_is_refused: |key, claims| {
        handmade(&json!({ "typ": "JWT", "alg": "ES256", "jwk": key.jwk() }), claims, Some(key))
    };
    a_proof_signed_by_another_key_than_its_header_names_is_refused: |key, claims| {
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk() });
        handmade(&header, claims, Some(&DeviceKey::new()))
    };
    an_hs256_proof_is_refused: |key, claims| {
        let header = jsonwebtoken::Header {
            typ: Some("dpop+jwt".into()),
            jwk: serde_json::from_value(key.jwk()).ok(),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        };
        let secret = jsonwebtoken::EncodingKey::from_secret(key.jwk().to_string().as_bytes());
        jsonwebtoken::encode(&header, claims, &secret.unwrap()).unwrap()
    };
}

#[tokio::test]
async fn a_proof_is_accepted_once() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-replay").await;
    let claims = DeviceKey::claims("GET", &format!("{API_URL}/sessions/current"), &t.token());
    let proof = key.sign(&claims);
    let call = || {
        t.request(Route::CurrentSession)
            .header("dpop", &proof)
            .send()
    };
    call().await.assert_status(200);
    assert_refused(&call().await, "INVALID_DPOP_PROOF");
}

#[tokio::test]
async fn of_racing_replays_of_one_proof_exactly_one_is_accepted() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-race").await;
    let claims = DeviceKey::claims("GET", &format!("{API_URL}/sessions/current"), &t.token());
    let proof = key.sign(&claims);
    let answers = futures::future::join_all((0..8).map(|_| {
        t.request(Route::CurrentSession)
            .header("dpop", &proof)
            .send()
    }))
    .await;
    let accepted = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        accepted,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != 200) {
        assert_refused(refused, "INVALID_DPOP_PROOF");
    }
}

#[tokio::test]
async fn the_dpop_scheme_without_a_proof_is_refused_even_unbound() {
    let t = TestApp::new().await;
    t.sign_in("fp-scheme").await;
    let answer = t
        .request(Route::CurrentSession)
        .authorization(Some(&format!("DPoP {}", t.token())))
        .send()
        .await;
    assert_refused(&answer, "DPOP_PROOF_REQUIRED");
}

#[tokio::test]
async fn the_device_is_its_key_not_its_fingerprint() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    let bound = t.sign_in_bound(&key, "fp-shared").await["device"]["id"].clone();

    // Another sign-in naming the fingerprint without the key: another, unbound device.
    let copied = t.register("session-copied", "fp-shared").await;
    copied.assert_status(201);
    let unbound = &copied.body["data"]["device"];
    assert_ne!(unbound["id"], bound);
    assert_eq!(unbound["keyBound"], false);
    assert_eq!(unbound["isTrusted"], false);

    // Trust claimed through the unbound session never reaches the bound device.
    t.request(Route::TrustDevice)
        .session("session-copied")
        .json(json!({ "fingerprint": "fp-shared" }))
        .send()
        .await
        .assert_status(200);
    let bound_device = |account: &shared::domain::Account| {
        account
            .devices
            .iter()
            .find(|d| d.id.as_str() == bound.as_str().unwrap())
            .unwrap()
            .clone()
    };
    assert_eq!(
        bound_device(&t.account().await).trust,
        shared::domain::TrustState::Never
    );

    // A new sign-in proving the key finds the bound device, whatever fingerprint it names.
    let again = t
        .request(Route::RegisterSession)
        .session("session-again")
        .json(json!({ "fingerprint": "fp-other" }))
        .proved_by(&key)
        .send()
        .await;
    again.assert_status(201);
    assert_eq!(again.body["data"]["device"]["id"], bound);

    // The bound session trusts its own device, by its fingerprint and its key.
    let trusted = t
        .request(Route::TrustDevice)
        .json(json!({ "fingerprint": "fp-shared" }))
        .proved_by(&key)
        .send()
        .await;
    trusted.assert_status(200);
    assert_eq!(trusted.body["data"]["deviceId"], bound);
    let account = t.account().await;
    assert_eq!(
        bound_device(&account).trust,
        shared::domain::TrustState::Trusted
    );
    assert_eq!(account.devices.len(), 2);
}

#[tokio::test]
async fn a_registration_again_must_prove_the_same_key() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-again").await;
    let again = || {
        t.request(Route::RegisterSession)
            .json(json!({ "fingerprint": "fp-again" }))
    };
    assert_refused(&again().send().await, "DPOP_PROOF_REQUIRED");
    let other = DeviceKey::new();
    assert_refused(
        &again().proved_by(&other).send().await,
        "INVALID_DPOP_PROOF",
    );
    again().proved_by(&key).send().await.assert_status(200);
}

#[tokio::test]
async fn with_binding_required_a_sign_in_without_a_proof_is_refused() {
    let t = TestApp::with(&[("DEVICE_BINDING", "required")]).await;
    let plain = t.register(&t.session, "fp-required").await;
    assert_refused(&plain, "DPOP_PROOF_REQUIRED");
    assert!(
        t.stored_session(&t.session).await.is_none(),
        "nothing written"
    );
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-required").await;
}

#[tokio::test]
async fn behind_a_custom_domain_proofs_name_the_public_url() {
    let t = TestApp::with(&[("PUBLIC_BASE_URL", "https://devices.example.org")]).await;
    let key = DeviceKey::new();
    let register = t
        .request(Route::RegisterSession)
        .json(json!({ "fingerprint": "fp-domain" }))
        .proved_with(&key, |c| {
            c["htu"] = json!("https://devices.example.org/sessions")
        })
        .send()
        .await;
    register.assert_status(201);
    // The URL API Gateway saw is not the one the client called.
    let answer = t
        .request(Route::CurrentSession)
        .proved_by(&key)
        .send()
        .await;
    assert_refused(&answer, "INVALID_DPOP_PROOF");
}

#[tokio::test]
async fn racing_bound_sign_ins_of_one_key_make_one_device() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    let sessions: Vec<String> = (0..6).map(|i| format!("racer-{i}")).collect();
    let answers = futures::future::join_all(sessions.iter().map(|session| {
        t.request(Route::RegisterSession)
            .session(session)
            .json(json!({ "fingerprint": format!("fp-{session}") }))
            .proved_by(&key)
            .send()
    }))
    .await;
    for answer in &answers {
        answer.assert_status(201);
    }
    let devices: std::collections::HashSet<_> = answers
        .iter()
        .map(|a| a.body["data"]["device"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(devices.len(), 1, "one key, one device: {devices:?}");
    assert_eq!(t.account().await.devices.len(), 1);
}

/// With `DPOP_NONCE=on`, a proof must carry a current server nonce (RFC 9449 §9;
/// docs/device-binding.md "Nonces"): one without, or with a stale, forged or foreign
/// one, is answered 401 `USE_DPOP_NONCE` with a fresh nonce in `DPoP-Nonce`, and every
/// answer to a proved request hands out the current one. Nothing else changes.
#[tokio::test]
async fn with_nonces_on_a_proof_must_carry_a_current_one() {
    let t = TestApp::with(&[("DPOP_NONCE", "on")]).await;
    let key = DeviceKey::new();
    let with_nonce = |nonce: &str| {
        let nonce = nonce.to_string();
        move |claims: &mut Value| claims["nonce"] = json!(nonce)
    };
    let use_nonce = |answer: &Answer| -> String {
        answer.assert_status(401);
        assert_eq!(answer.code(), "USE_DPOP_NONCE", "{:#}", answer.body);
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"DPoP error="use_dpop_nonce""#),
            "{challenge}"
        );
        answer.headers["dpop-nonce"].to_str().unwrap().to_string()
    };

    // The first sign-in has no nonce yet: refused, nothing written, and handed one.
    let sign_in = || {
        t.request(Route::RegisterSession)
            .json(json!({ "fingerprint": "fp-nonce" }))
    };
    let nonce = use_nonce(&sign_in().proved_by(&key).send().await);
    assert!(
        t.stored_session(&t.session).await.is_none(),
        "nothing registered"
    );
    let signed_in = sign_in().proved_with(&key, with_nonce(&nonce)).send().await;
    signed_in.assert_status(201);
    assert!(signed_in.headers.contains_key("dpop-nonce"));
    let listed = t
        .request(Route::ListDevices)
        .proved_with(&key, with_nonce(&nonce))
        .send()
        .await;
    listed.assert_status(200);
    let handed = listed.headers["dpop-nonce"].to_str().unwrap();
    assert!(
        t.app
            .config
            .dpop_nonce
            .as_ref()
            .unwrap()
            .accepts(Some(handed), now())
    );

    // Stale (two periods old), altered, and another deployment's: each refused.
    let keyed = t.app.config.dpop_nonce.as_ref().unwrap();
    let stale = keyed.issue(now() - 2 * shared::auth::dpop::NONCE_PERIOD_SECONDS);
    let mut altered = nonce.clone().into_bytes();
    altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let foreign = shared::auth::dpop::NonceKey::derive(b"another deployment").issue(now());
    for bad in [stale.as_str(), &altered, &foreign, ""] {
        let answer = t
            .request(Route::CurrentSession)
            .proved_with(&key, with_nonce(bad))
            .send()
            .await;
        use_nonce(&answer);
    }
    // A nonce does not make a proof usable twice.
    let claims = DeviceKey::claims("GET", &format!("{API_URL}/sessions/current"), &t.token());
    let mut claims = claims;
    claims["nonce"] = json!(nonce);
    let proof = key.sign(&claims);
    let again = || {
        t.request(Route::CurrentSession)
            .header("dpop", &proof)
            .send()
    };
    again().await.assert_status(200);
    assert_refused(&again().await, "INVALID_DPOP_PROOF");

    // Unbound clients send no proof: nothing asks them for a nonce, none is handed out.
    t.sign_in_other("plain", "fp-plain").await;
    let plain = t.request(Route::ListDevices).session("plain").send().await;
    plain.assert_status(200);
    assert!(!plain.headers.contains_key("dpop-nonce"));
}

#[tokio::test]
async fn with_nonces_off_no_nonce_is_asked_for_or_handed_out() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-no-nonce").await;
    let answer = t.request(Route::ListDevices).proved_by(&key).send().await;
    answer.assert_status(200);
    assert!(!answer.headers.contains_key("dpop-nonce"));
}
