//! `JWT_JWKS_URL`: the provider's published keys, fetched over HTTP from a real
//! listener — loaded on first use, refreshed when a token names a new key id (at most
//! once per cool-down) and once the set is as old as the provider's `max-age` allows,
//! odd keys skipped one by one, bounded in size and time, and 503 while none can be
//! loaded. Time passes with `Verifier::let_time_pass`, not by sleeping.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared::auth::remote::{COOL_DOWN, REFRESH_CEILING, REFRESH_FLOOR};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const RSA_PRIVATE: &str = include_str!("../../shared/testdata/rsa-private.pem");
const EC_PRIVATE: &str = include_str!("../../shared/testdata/ec-private.pem");
const PAST_COOL_DOWN: Duration = Duration::from_secs(COOL_DOWN.as_secs() + 1);
/// Real time passes beside the time a test lets pass, a few seconds on a loaded machine
/// (each request waits on the emulator): a set checked this long before it goes stale
/// must still be fresh, and letting this much more pass makes it stale.
const MARGIN: Duration = Duration::from_secs(20);

/// What the provider's endpoint answers.
#[derive(Clone)]
enum Publish {
    Keys(Vec<(&'static str, Algorithm)>),
    Status(u16),
    Body(String),
    Nothing,
}

/// The provider's JWKS endpoint: a real HTTP/1.1 listener that counts its requests.
struct Provider {
    url: String,
    answer: Arc<Mutex<Publish>>,
    /// The `Cache-Control` header its answers carry, if any.
    cache_control: Arc<Mutex<Option<String>>>,
    /// The `Age` header its answers carry, if any (as through a CDN).
    age: Arc<Mutex<Option<String>>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    async fn start(answer: Publish) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let answer = Arc::new(Mutex::new(answer));
        let cache_control = Arc::new(Mutex::new(None::<String>));
        let age = Arc::new(Mutex::new(None::<String>));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (shared, caching, count) = (answer.clone(), cache_control.clone(), fetches.clone());
        let aged = age.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let (status, body) = match shared.lock().unwrap().clone() {
                    Publish::Keys(keys) => (200, key_set(&keys)),
                    Publish::Status(status) => (status, "{}".into()),
                    Publish::Body(body) => (200, body),
                    Publish::Nothing => {
                        held.push(socket);
                        continue;
                    }
                };
                let caching = match caching.lock().unwrap().as_deref() {
                    Some(value) => format!("cache-control: {value}\r\n"),
                    None => String::new(),
                };
                let caching = match aged.lock().unwrap().as_deref() {
                    Some(value) => format!("{caching}age: {value}\r\n"),
                    None => caching,
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{caching}connection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            }
        });
        Provider {
            url,
            answer,
            cache_control,
            age,
            fetches,
        }
    }

    fn publish(&self, answer: Publish) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Answers from now on carry `Cache-Control: {value}`.
    fn cache_control(&self, value: &str) {
        *self.cache_control.lock().unwrap() = Some(value.into());
    }

    /// Answers from now on carry `Age: {value}`.
    fn age(&self, value: &str) {
        *self.age.lock().unwrap() = Some(value.into());
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A deployment that trusts this provider's keys only.
    async fn app(&self) -> TestApp {
        self.app_pinning("RS256,ES256").await
    }

    async fn app_pinning(&self, algorithms: &str) -> TestApp {
        TestApp::with(&[
            ("JWT_SECRET", ""),
            ("JWT_JWKS_URL", &self.url),
            ("JWT_ALGORITHMS", algorithms),
        ])
        .await
    }
}

/// One RSA and one EC key: every `rsa-…` key id names the RSA one.
fn private_key(kid: &str) -> EncodingKey {
    if kid.starts_with("rsa") {
        EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap()
    } else {
        EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap()
    }
}

fn key_set(keys: &[(&str, Algorithm)]) -> String {
    let keys = keys
        .iter()
        .map(|(kid, alg)| {
            let mut jwk = Jwk::from_encoding_key(&private_key(kid), *alg).unwrap();
            jwk.common.key_id = Some(kid.to_string());
            jwk
        })
        .collect();
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

/// The test user's default session, signed by the provider's key `kid`.
fn token(t: &TestApp, kid: &str, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let claims = json!({ "sub": t.user, "sid": t.session, "exp": now() + 600, "iat": now() });
    jsonwebtoken::encode(&header, &claims, &private_key(kid)).unwrap()
}

/// The same signed by the key `kid`, without naming it.
fn token_without_kid(t: &TestApp, kid: &str, alg: Algorithm) -> String {
    let claims = json!({ "sub": t.user, "sid": t.session, "exp": now() + 600, "iat": now() });
    jsonwebtoken::encode(&Header::new(alg), &claims, &private_key(kid)).unwrap()
}

/// The token's session registered: from then on its requests answer 200.
async fn sign_in(t: &TestApp, token: &str) {
    t.request(Route::RegisterSession)
        .authorization(Some(&format!("Bearer {token}")))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(201);
}

#[track_caller]
fn assert_refused(answer: &Answer) {
    answer.assert_unauthorized();
    assert_eq!(answer.code(), "INVALID_TOKEN");
}

async fn list_devices(t: &TestApp, token: &str) -> Answer {
    let call = t
        .request(Route::ListDevices)
        .authorization(Some(&format!("Bearer {token}")))
        .send();
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("answered, not hung")
}

#[tokio::test]
async fn published_keys_are_fetched_once_and_a_rotation_is_picked_up() {
    let provider = Provider::start(Publish::Keys(vec![("rsa-1", Algorithm::RS256)])).await;
    let t = provider.app().await;
    let rsa = token(&t, "rsa-1", Algorithm::RS256);
    t.request(Route::RegisterSession)
        .authorization(Some(&format!("Bearer {rsa}")))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(201);
    list_devices(&t, &rsa).await.assert_status(200);
    assert_eq!(provider.fetches(), 1, "fetched once, then held");

    // A key id the provider has not published: refused, and no second fetch inside
    // the cool-down however many such tokens arrive.
    let ec = token(&t, "ec-2", Algorithm::ES256);
    for _ in 0..3 {
        list_devices(&t, &ec).await.assert_unauthorized();
    }
    assert_eq!(
        provider.fetches(),
        1,
        "unknown key ids cannot force fetches"
    );

    // The provider rotates: the new key is fetched on the first token that names it.
    provider.publish(Publish::Keys(vec![
        ("rsa-1", Algorithm::RS256),
        ("ec-2", Algorithm::ES256),
    ]));
    t.app.config.verifier.let_time_pass(PAST_COOL_DOWN);
    list_devices(&t, &ec).await.assert_status(200);
    list_devices(&t, &rsa).await.assert_status(200);
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn without_published_keys_requests_are_503_until_a_fetch_succeeds() {
    let provider = Provider::start(Publish::Status(500)).await;
    let t = provider.app().await;
    let rsa = token(&t, "rsa-1", Algorithm::RS256);
    let answer = list_devices(&t, &rsa).await;
    answer.assert_status(503);
    assert_eq!(answer.code(), "SERVICE_UNAVAILABLE");

    // The provider recovers; inside the cool-down nothing is fetched.
    provider.publish(Publish::Keys(vec![("rsa-1", Algorithm::RS256)]));
    list_devices(&t, &rsa).await.assert_status(503);
    assert_eq!(provider.fetches(), 1);

    t.app.config.verifier.let_time_pass(PAST_COOL_DOWN);
    t.request(Route::RegisterSession)
        .authorization(Some(&format!("Bearer {rsa}")))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(201);
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn oversized_unusable_or_stalled_documents_load_no_keys() {
    let huge = format!(r#"{{"keys":[],"padding":"{}"}}"#, "x".repeat(100 * 1024));
    let symmetric = json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1" }] });
    for published in [
        Publish::Body(huge),
        Publish::Body("<html>not json</html>".into()),
        Publish::Body(symmetric.to_string()),
        Publish::Nothing,
    ] {
        let provider = Provider::start(published).await;
        let t = provider.app().await;
        let answer = list_devices(&t, &token(&t, "rsa-1", Algorithm::RS256)).await;
        answer.assert_status(503);
        assert_eq!(answer.code(), "SERVICE_UNAVAILABLE");
        assert_eq!(provider.fetches(), 1);
    }
}

#[tokio::test]
async fn a_removed_key_stops_verifying_once_the_set_is_stale() {
    let provider = Provider::start(Publish::Keys(vec![
        ("rsa-1", Algorithm::RS256),
        ("ec-2", Algorithm::ES256),
    ]))
    .await;
    // Whatever the provider says, a set is held for the floor at least.
    provider.cache_control("public, max-age=1");
    let t = provider.app().await;
    let (rsa, ec) = (
        token(&t, "rsa-1", Algorithm::RS256),
        token(&t, "ec-2", Algorithm::ES256),
    );
    sign_in(&t, &rsa).await;
    list_devices(&t, &ec).await.assert_status(200);

    // The provider drops a compromised key: held until the set is stale…
    provider.publish(Publish::Keys(vec![("ec-2", Algorithm::ES256)]));
    t.app.config.verifier.let_time_pass(REFRESH_FLOOR - MARGIN);
    list_devices(&t, &rsa).await.assert_status(200);
    assert_eq!(provider.fetches(), 1);

    // …then the first request refreshes the set, and the key is gone, though the
    // token names a key id the function held.
    t.app.config.verifier.let_time_pass(MARGIN);
    assert_refused(&list_devices(&t, &rsa).await);
    assert_eq!(provider.fetches(), 2);
    list_devices(&t, &ec).await.assert_status(200);
    assert_refused(&list_devices(&t, &rsa).await);
    assert_eq!(provider.fetches(), 2, "the new set is fresh again");
}

#[tokio::test]
async fn a_token_without_kid_refreshes_a_stale_set_too() {
    let provider = Provider::start(Publish::Keys(vec![
        ("rsa-1", Algorithm::RS256),
        ("ec-2", Algorithm::ES256),
    ]))
    .await;
    provider.cache_control("no-cache");
    let t = provider.app().await;
    let anonymous = token_without_kid(&t, "rsa-1", Algorithm::RS256);
    sign_in(&t, &anonymous).await;
    list_devices(&t, &anonymous).await.assert_status(200);

    provider.publish(Publish::Keys(vec![("ec-2", Algorithm::ES256)]));
    t.app.config.verifier.let_time_pass(REFRESH_FLOOR);
    // Requests arriving together wait for one fetch, and none verifies with the
    // key it removes.
    let answers = futures::future::join_all((0..4).map(|_| list_devices(&t, &anonymous))).await;
    for answer in &answers {
        assert_refused(answer);
    }
    assert_eq!(provider.fetches(), 2);
    list_devices(&t, &token_without_kid(&t, "ec-2", Algorithm::ES256))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_provider_max_age_sets_the_schedule_within_the_ceiling() {
    for (cache_control, fresh_for) in [
        ("max-age=600", Duration::from_secs(600)),
        ("public, max-age=31536000, immutable", REFRESH_CEILING),
    ] {
        let provider = Provider::start(Publish::Keys(vec![
            ("rsa-1", Algorithm::RS256),
            ("ec-2", Algorithm::ES256),
        ]))
        .await;
        provider.cache_control(cache_control);
        let t = provider.app().await;
        let rsa = token(&t, "rsa-1", Algorithm::RS256);
        sign_in(&t, &rsa).await;

        provider.publish(Publish::Keys(vec![("ec-2", Algorithm::ES256)]));
        t.app.config.verifier.let_time_pass(fresh_for - MARGIN);
        list_devices(&t, &rsa).await.assert_status(200);
        assert_eq!(provider.fetches(), 1, "{cache_control}: still fresh");

        t.app.config.verifier.let_time_pass(MARGIN);
        assert_refused(&list_devices(&t, &rsa).await);
        assert_eq!(provider.fetches(), 2, "{cache_control}: refreshed");
    }
}

#[tokio::test]
async fn a_set_served_from_a_cache_is_fresh_for_its_max_age_less_its_age() {
    let provider = Provider::start(Publish::Keys(vec![
        ("rsa-1", Algorithm::RS256),
        ("ec-2", Algorithm::ES256),
    ]))
    .await;
    // A CDN held the document 600 s of its 900: fresh for 300 s more, not 900.
    provider.cache_control("public, max-age=900");
    provider.age("600");
    let t = provider.app().await;
    let rsa = token(&t, "rsa-1", Algorithm::RS256);
    sign_in(&t, &rsa).await;

    provider.publish(Publish::Keys(vec![("ec-2", Algorithm::ES256)]));
    let fresh_for = Duration::from_secs(300);
    t.app.config.verifier.let_time_pass(fresh_for - MARGIN);
    list_devices(&t, &rsa).await.assert_status(200);
    assert_eq!(provider.fetches(), 1, "still fresh");

    t.app.config.verifier.let_time_pass(MARGIN);
    assert_refused(&list_devices(&t, &rsa).await);
    assert_eq!(
        provider.fetches(),
        2,
        "stale once its age is counted: refreshed"
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_keys_held_and_is_retried_after_the_cool_down() {
    let provider = Provider::start(Publish::Keys(vec![("rsa-1", Algorithm::RS256)])).await;
    provider.cache_control("max-age=60");
    let t = provider.app().await;
    let rsa = token(&t, "rsa-1", Algorithm::RS256);
    sign_in(&t, &rsa).await;

    provider.publish(Publish::Status(503));
    t.app.config.verifier.let_time_pass(REFRESH_FLOOR);
    list_devices(&t, &rsa).await.assert_status(200);
    assert_eq!(provider.fetches(), 2, "stale: fetched, failed, keys kept");
    list_devices(&t, &rsa).await.assert_status(200);
    assert_eq!(provider.fetches(), 2, "not again inside the cool-down");

    // Still stale: retried once the cool-down has passed, and the set the provider
    // publishes when it recovers replaces the one held.
    provider.publish(Publish::Keys(vec![("ec-2", Algorithm::ES256)]));
    t.app.config.verifier.let_time_pass(PAST_COOL_DOWN);
    assert_refused(&list_devices(&t, &rsa).await);
    assert_eq!(provider.fetches(), 3);
}

#[tokio::test]
async fn odd_keys_beside_a_good_one_are_skipped_at_cold_start() {
    let rsa_key = |kid: &str| {
        let mut jwk = Jwk::from_encoding_key(&private_key("rsa-1"), Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.into());
        serde_json::to_value(jwk).unwrap()
    };
    let mut encryption = rsa_key("rsa-enc");
    encryption["use"] = json!("enc");
    encryption.as_object_mut().unwrap().remove("alg");
    let mut oaep = rsa_key("rsa-oaep");
    oaep["alg"] = json!("RSA-OAEP");
    let mut ec = serde_json::to_value(
        Jwk::from_encoding_key(&private_key("ec-2"), Algorithm::ES256).unwrap(),
    )
    .unwrap();
    ec["kid"] = json!("ec-2");
    let document = json!({ "keys": [
        { "kty": "oct", "k": "c2VjcmV0LXNlY3JldA", "kid": "symmetric" },
        encryption,
        oaep,
        ec,
        { "kty": "OKP", "crv": "X448", "x": "AAAA", "kid": "okp-x448" },
        { "kid": "garbage", "kty": 7 },
        "not a key",
        rsa_key("rsa-1"),
    ] });
    let provider = Provider::start(Publish::Body(document.to_string())).await;
    // RS256 only: the EC key does not fit either.
    let t = provider.app_pinning("RS256").await;
    t.app
        .config
        .verifier
        .refresh()
        .await
        .expect("the good key loaded at cold start");

    let rsa = token(&t, "rsa-1", Algorithm::RS256);
    sign_in(&t, &rsa).await;
    list_devices(&t, &token_without_kid(&t, "rsa-1", Algorithm::RS256))
        .await
        .assert_status(200);
    // The same RSA key, published for encryption or under an encryption alg, does
    // not verify under those names.
    for kid in ["rsa-enc", "rsa-oaep"] {
        assert_refused(&list_devices(&t, &token(&t, kid, Algorithm::RS256)).await);
    }
    assert_eq!(provider.fetches(), 1);
}
