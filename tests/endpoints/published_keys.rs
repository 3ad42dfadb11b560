//! `JWT_JWKS_URL`: the provider's published keys, fetched over HTTP from a real
//! listener — loaded on first use, refreshed when a token names a new key id (at most
//! once per cool-down), bounded in size and time, and 503 while none can be loaded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const RSA_PRIVATE: &str = include_str!("../../shared/testdata/rsa-private.pem");
const EC_PRIVATE: &str = include_str!("../../shared/testdata/ec-private.pem");
/// A little more than `shared::jwks::COOL_DOWN`.
const PAST_COOL_DOWN: Duration = Duration::from_secs(31);

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
        let fetches = Arc::new(AtomicUsize::new(0));
        let (shared, count) = (answer.clone(), fetches.clone());
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
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            }
        });
        Provider {
            url,
            answer,
            fetches,
        }
    }

    fn publish(&self, answer: Publish) {
        *self.answer.lock().unwrap() = answer;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A deployment that trusts this provider's keys only.
    async fn app(&self) -> TestApp {
        TestApp::with(&[
            ("JWT_SECRET", ""),
            ("JWT_JWKS_URL", &self.url),
            ("JWT_ALGORITHMS", "RS256,ES256"),
        ])
        .await
    }
}

fn private_key(kid: &str) -> EncodingKey {
    match kid {
        "rsa-1" => EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
        _ => EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
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
    let claims = json!({ "sub": t.user, "sid": t.session, "exp": now() + 600 });
    jsonwebtoken::encode(&header, &claims, &private_key(kid)).unwrap()
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
    tokio::time::sleep(PAST_COOL_DOWN).await;
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

    tokio::time::sleep(PAST_COOL_DOWN).await;
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
