//! The Lambda authorizer other APIs attach (`functions::authorize`), called in
//! process with the events API Gateway sends (`events/authorize-*.json`): a live
//! session is allowed with its context, anything else is a clean deny — revoked or
//! expired on the very next call, bad tokens, odd events, a DynamoDB that is down —
//! and with `AUTHORIZER_ACTIVITY_SECONDS` an allowed call slides the idle expiry at
//! most once per interval, never past the absolute cap.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::Deadline;
use shared::domain::rfc3339;

use crate::support::*;

/// Far above the SDK's bound (~4 s): only a hang would hit it.
const HANG: Duration = Duration::from_secs(30);

/// The stage the REST events' `methodArn` names: the policy covers all of it.
const REST_STAGE: &str = "arn:aws:execute-api:us-east-1:123456789012:orders5678/prod/*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// HTTP API, payload format 2.0, simple responses.
    HttpApi,
    /// REST API `REQUEST` authorizer.
    RestRequest,
    /// REST API `TOKEN` authorizer.
    RestToken,
}

const SHAPES: [Shape; 3] = [Shape::HttpApi, Shape::RestRequest, Shape::RestToken];

impl Shape {
    /// The example event, carrying `authorization` as API Gateway hands it over
    /// (`None`: the client sent no `Authorization` header).
    fn event(self, authorization: Option<&str>) -> Value {
        let name = match self {
            Shape::HttpApi => "authorize-http-api",
            Shape::RestRequest => "authorize-rest-request",
            Shape::RestToken => "authorize-rest-token",
        };
        let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut event: Value = serde_json::from_str(&text).expect("event is JSON");
        let object = event.as_object_mut().unwrap();
        match self {
            Shape::HttpApi => {
                let headers = object["headers"].as_object_mut().unwrap();
                headers.remove("authorization");
                if let Some(value) = authorization {
                    headers.insert("authorization".into(), json!(value));
                }
                object["identitySource"] = json!(authorization.into_iter().collect::<Vec<_>>());
            }
            Shape::RestRequest => {
                for field in ["headers", "multiValueHeaders"] {
                    let headers = object[field].as_object_mut().unwrap();
                    headers.remove("Authorization");
                    if let Some(value) = authorization {
                        let value = if field == "headers" {
                            json!(value)
                        } else {
                            json!([value])
                        };
                        headers.insert("Authorization".into(), value);
                    }
                }
            }
            Shape::RestToken => match authorization {
                Some(value) => object["authorizationToken"] = json!(value),
                None => {
                    object.remove("authorizationToken");
                }
            },
        }
        event
    }
}

/// The authorizer's answer to `event`, as its binary computes it.
async fn authorize_event(t: &TestApp, event: Value) -> Value {
    tokio::time::timeout(
        HANG,
        functions::authorize::handle(&t.app, event, Deadline::NONE),
    )
    .await
    .expect("answered, not hung")
}

/// The authorizer's answer to a call carrying `authorization`.
async fn authorize(t: &TestApp, shape: Shape, authorization: Option<&str>) -> Value {
    authorize_event(t, shape.event(authorization)).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Allowed, in the shape's own form; the context handed to the backend.
#[track_caller]
fn assert_allowed(shape: Shape, answer: &Value, user: &str) -> serde_json::Map<String, Value> {
    match shape {
        Shape::HttpApi => {
            assert_eq!(answer["isAuthorized"], true, "{answer:#}");
            assert!(answer.get("policyDocument").is_none(), "{answer:#}");
        }
        Shape::RestRequest | Shape::RestToken => {
            assert_eq!(answer["principalId"], user, "{answer:#}");
            let document = &answer["policyDocument"];
            assert_eq!(document["Version"], "2012-10-17");
            assert_eq!(
                document["Statement"],
                json!([{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": REST_STAGE }]),
                "{answer:#}"
            );
        }
    }
    let context = answer["context"].as_object().expect("a context").clone();
    for (key, value) in &context {
        assert!(
            value.is_string() || value.is_number() || value.is_boolean(),
            "{key}: API Gateway takes flat values only, got {value}"
        );
    }
    context
}

/// A clean deny in the shape's own form, saying only `reason`.
#[track_caller]
fn assert_denied_because(shape: Shape, answer: &Value, reason: &str) {
    match shape {
        Shape::HttpApi => assert_eq!(answer["isAuthorized"], false, "{answer:#}"),
        Shape::RestRequest | Shape::RestToken => {
            assert_eq!(answer["principalId"], "anonymous", "{answer:#}");
            let statement = &answer["policyDocument"]["Statement"];
            assert_eq!(statement.as_array().unwrap().len(), 1, "{answer:#}");
            assert_eq!(statement[0]["Effect"], "Deny", "{answer:#}");
            assert_eq!(statement[0]["Action"], "execute-api:Invoke");
            assert_eq!(statement[0]["Resource"], REST_STAGE);
        }
    }
    // Nothing of the user, the session or why it ended: no probing through the deny.
    assert_eq!(answer["context"], json!({ "reason": reason }), "{answer:#}");
}

#[track_caller]
fn assert_denied(shape: Shape, answer: &Value) {
    assert_denied_because(shape, answer, "UNAUTHORIZED");
}

/// A deny whatever shape API Gateway expected: for an event of no known shape.
#[track_caller]
fn assert_denied_in_every_shape(answer: &Value) {
    assert_eq!(answer["isAuthorized"], false, "{answer:#}");
    assert_eq!(answer["principalId"], "anonymous", "{answer:#}");
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Effect"], "Deny",
        "{answer:#}"
    );
    assert_eq!(answer["context"], json!({ "reason": "UNAUTHORIZED" }));
}

fn number(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_live_session_is_allowed_in_every_shape_with_its_session_device_and_trust() {
    let t = TestApp::new().await;
    let device = t.sign_in("laptop").await;
    let token = bearer(&t.token());

    let before = authorize(&t, Shape::HttpApi, Some(&token)).await;
    let context = assert_allowed(Shape::HttpApi, &before, &t.user);
    assert_eq!(context["trustLevel"], "UNKNOWN");
    assert_eq!(context["isTrusted"], false);

    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);
    let stored = t.stored_session(&t.session).await.unwrap();
    for shape in SHAPES {
        let answer = authorize(&t, shape, Some(&token)).await;
        let context = assert_allowed(shape, &answer, &t.user);
        assert_eq!(
            Value::Object(context),
            json!({
                "userId": t.user,
                "sessionId": t.session,
                "deviceId": device,
                "trustLevel": "HIGH",
                "isTrusted": true,
                "expiresAt": rfc3339(number(&stored, "expiresAt")),
                "absoluteExpiresAt": rfc3339(number(&stored, "absoluteExpiresAt")),
                "keyBound": false,
            }),
            "{shape:?}"
        );
    }
}

#[tokio::test]
async fn expires_at_is_the_earlier_of_the_idle_and_the_absolute_expiry() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    // A session stored with its idle expiry past its cap (as an older heartbeat
    // could leave it): the cap is what the backend is told.
    let cap = now() + 100;
    t.set_session(
        &t.session,
        &[("expiresAt", n(cap + 500)), ("absoluteExpiresAt", n(cap))],
    )
    .await;
    let answer = authorize(&t, Shape::HttpApi, Some(&bearer(&t.token()))).await;
    let context = assert_allowed(Shape::HttpApi, &answer, &t.user);
    assert_eq!(context["expiresAt"], rfc3339(cap));
    assert_eq!(context["absoluteExpiresAt"], rfc3339(cap));
}

#[tokio::test]
async fn a_revoked_session_is_denied_on_the_very_next_call() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    let token = bearer(&t.token());
    let phone = bearer(&t.token_for(&t.user, "phone"));
    for shape in SHAPES {
        assert_allowed(shape, &authorize(&t, shape, Some(&token)).await, &t.user);
    }

    // Signing out.
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    for shape in SHAPES {
        assert_denied(shape, &authorize(&t, shape, Some(&token)).await);
    }
    // The user's other session is untouched.
    for shape in SHAPES {
        assert_allowed(shape, &authorize(&t, shape, Some(&phone)).await, &t.user);
    }
    // Ended from another session: revoke-all from the tablet ends the phone.
    t.sign_in_other("tablet", "tablet").await;
    t.request(Route::RevokeAllSessions)
        .session("tablet")
        .query("keepCurrent", "true")
        .send()
        .await
        .assert_status(200);
    for shape in SHAPES {
        assert_denied(shape, &authorize(&t, shape, Some(&phone)).await);
    }
}

#[tokio::test]
async fn an_expired_session_is_denied_idle_or_absolute() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    t.sign_in_other("capped", "tablet").await;
    t.set_session(&t.session, &[("expiresAt", n(now() - 5))])
        .await;
    t.set_session("capped", &[("absoluteExpiresAt", n(now() - 5))])
        .await;
    let idle = bearer(&t.token());
    let capped = bearer(&t.token_for(&t.user, "capped"));
    for shape in SHAPES {
        assert_denied(shape, &authorize(&t, shape, Some(&idle)).await);
        assert_denied(shape, &authorize(&t, shape, Some(&capped)).await);
    }
    // Gone by TTL: the same.
    t.expire_by_ttl("capped").await;
    for shape in SHAPES {
        assert_denied(shape, &authorize(&t, shape, Some(&capped)).await);
    }
}

#[tokio::test]
async fn unknown_sessions_bad_tokens_and_no_token_are_denied_alike() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let other = TestApp::new().await;
    other.sign_in("their-laptop").await;
    let refused = [
        (
            "unknown session",
            bearer(&t.token_for(&t.user, "never-registered")),
        ),
        (
            "another user's session id",
            bearer(&t.token_for(&t.user, &other.session)),
        ),
        ("garbage", bearer("not-a-jwt")),
        ("illegal characters", "Bearer a b".to_string()),
        ("not Bearer", format!("Basic {}", t.token())),
        ("lowercase scheme", format!("bearer {}", t.token())),
        ("empty", String::new()),
        (
            "expired token",
            bearer(&mint(
                json!({ "sub": t.user, "sid": t.session, "exp": now() - 600 }),
            )),
        ),
        (
            "wrong key",
            bearer(
                &jsonwebtoken::encode(
                    &jsonwebtoken::Header::default(),
                    &json!({ "sub": t.user, "sid": t.session, "exp": now() + 600 }),
                    &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-not-the-secret-012")
                        .unwrap(),
                )
                .unwrap(),
            ),
        ),
    ];
    for shape in SHAPES {
        for (what, authorization) in &refused {
            let answer = authorize(&t, shape, Some(authorization)).await;
            assert_denied(shape, &answer);
            assert!(!answer.to_string().contains(&t.user), "{what}: {answer}");
        }
        assert_denied(shape, &authorize(&t, shape, None).await);
    }
    // A REST REQUEST event with the header twice (multiValueHeaders) is malformed.
    let mut twice = Shape::RestRequest.event(Some(&bearer(&t.token())));
    twice["multiValueHeaders"]["Authorization"] =
        json!([bearer(&t.token()), bearer(&other.token())]);
    assert_denied(Shape::RestRequest, &authorize_event(&t, twice).await);
    // The session is still fine.
    assert_allowed(
        Shape::HttpApi,
        &authorize(&t, Shape::HttpApi, Some(&bearer(&t.token()))).await,
        &t.user,
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_denied() {
    let t = TestApp::with(&[
        ("JWT_ISSUER", "https://auth.test"),
        ("JWT_AUDIENCE", "devices"),
    ])
    .await;
    let token = |audience: &str| {
        bearer(&mint(json!({
            "sub": t.user, "sid": t.session, "exp": now() + 600, "iat": now(),
            "iss": "https://auth.test", "aud": audience,
        })))
    };
    t.request(Route::RegisterSession)
        .authorization(Some(&token("devices")))
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(201);
    for shape in SHAPES {
        let allowed = authorize(&t, shape, Some(&token("devices"))).await;
        assert_allowed(shape, &allowed, &t.user);
        assert_denied(
            shape,
            &authorize(&t, shape, Some(&token("another-api"))).await,
        );
    }
}

#[tokio::test]
async fn events_of_no_known_shape_are_denied_in_every_shape() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let token = bearer(&t.token());
    let http = Shape::HttpApi.event(Some(&token));
    let rest = Shape::RestRequest.event(Some(&token));
    let without = |mut event: Value, field: &str| {
        event.as_object_mut().unwrap().remove(field);
        event
    };
    let with = |mut event: Value, field: &str, value: Value| {
        event[field] = value;
        event
    };
    let malformed = [
        json!(null),
        json!("Bearer x"),
        json!([]),
        json!({}),
        // An HTTP event, not an authorizer's.
        without(http.clone(), "type"),
        with(http.clone(), "type", json!("WEBSOCKET")),
        // A 2.0 event without its route: it is not REST either (no methodArn).
        without(http.clone(), "routeArn"),
        without(rest.clone(), "methodArn"),
        with(rest.clone(), "methodArn", json!(42)),
        with(rest.clone(), "methodArn", json!("*")),
        with(
            rest.clone(),
            "methodArn",
            json!("arn:aws:s3:::bucket/prod/GET/x"),
        ),
        json!({ "type": "TOKEN", "authorizationToken": token }),
    ];
    for event in malformed {
        let answer = authorize_event(&t, event.clone()).await;
        assert_denied_in_every_shape(&answer);
        assert!(!answer.to_string().contains(&t.user), "{event}: {answer}");
    }
    // A token that is not text is malformed (and denied in its shape).
    let odd = with(
        Shape::RestToken.event(None),
        "authorizationToken",
        json!(["x"]),
    );
    assert_denied(Shape::RestToken, &authorize_event(&t, odd).await);
}

/// A port nothing listens on.
fn closed_port() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_dynamodb_that_is_down_is_a_deny_in_bounded_time() {
    let t = TestApp::with_dynamodb_at(&closed_port()).await;
    let token = bearer(&t.token());
    for shape in SHAPES {
        let started = Instant::now();
        let answer = authorize(&t, shape, Some(&token)).await;
        assert_denied_because(shape, &answer, "UNAVAILABLE");
        assert!(started.elapsed() < Duration::from_secs(10), "{shape:?}");
    }
    // No token: refused before any DynamoDB call, as a plain deny.
    assert_denied(Shape::HttpApi, &authorize(&t, Shape::HttpApi, None).await);
}

#[tokio::test]
async fn a_stalled_dynamodb_is_a_deny_before_the_invocation_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let t = TestApp::with_dynamodb_at(&format!("http://127.0.0.1:{port}")).await;
    let left = Duration::from_millis(1_500);
    let started = Instant::now();
    let answer = functions::authorize::handle(
        &t.app,
        Shape::HttpApi.event(Some(&bearer(&t.token()))),
        Deadline::at(SystemTime::now() + left),
    )
    .await;
    assert_denied_because(Shape::HttpApi, &answer, "UNAVAILABLE");
    assert!(started.elapsed() < left, "{:?}", started.elapsed());
}

#[tokio::test]
async fn activity_slides_the_idle_expiry_like_a_heartbeat_once_per_interval() {
    let t = TestApp::with(&[("AUTHORIZER_ACTIVITY_SECONDS", "60")]).await;
    t.sign_in("laptop").await;
    let idle = t.app.config.idle_timeout;
    let token = bearer(&t.token());
    // Last active two minutes ago: the next allowed call records activity.
    let start = now();
    t.set_session(
        &t.session,
        &[
            ("lastActivity", n(start - 120)),
            ("expiresAt", n(start + 100)),
        ],
    )
    .await;

    let first = authorize(&t, Shape::HttpApi, Some(&token)).await;
    let context = assert_allowed(Shape::HttpApi, &first, &t.user);
    let stored = t.stored_session(&t.session).await.unwrap();
    let active = number(&stored, "lastActivity");
    assert!((start..=now()).contains(&active), "{active}");
    assert_eq!(number(&stored, "expiresAt"), active + idle);
    assert_eq!(context["expiresAt"], rfc3339(active + idle));

    // Mark the expiry: a second write would move it.
    let marker = start + 1_000;
    t.set_session(&t.session, &[("expiresAt", n(marker))]).await;
    for shape in SHAPES {
        let again = authorize(&t, shape, Some(&token)).await;
        let context = assert_allowed(shape, &again, &t.user);
        assert_eq!(context["expiresAt"], rfc3339(marker), "{shape:?}");
    }
    let stored = t.stored_session(&t.session).await.unwrap();
    assert_eq!(number(&stored, "expiresAt"), marker, "written once");
    assert_eq!(number(&stored, "lastActivity"), active);

    // A denied call records nothing.
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    t.set_session(&t.session, &[("lastActivity", n(start - 120))])
        .await;
    assert_denied(
        Shape::HttpApi,
        &authorize(&t, Shape::HttpApi, Some(&token)).await,
    );
    let stored = t.stored_session(&t.session).await.unwrap();
    assert_eq!(number(&stored, "lastActivity"), start - 120);
    assert_eq!(number(&stored, "expiresAt"), marker);
}

#[tokio::test]
async fn activity_never_slides_past_the_absolute_cap() {
    let t = TestApp::with(&[("AUTHORIZER_ACTIVITY_SECONDS", "60")]).await;
    t.sign_in("laptop").await;
    let start = now();
    let cap = start + 100;
    t.set_session(
        &t.session,
        &[
            ("lastActivity", n(start - 120)),
            ("expiresAt", n(start + 50)),
            ("absoluteExpiresAt", n(cap)),
        ],
    )
    .await;
    let answer = authorize(&t, Shape::RestToken, Some(&bearer(&t.token()))).await;
    let context = assert_allowed(Shape::RestToken, &answer, &t.user);
    let stored = t.stored_session(&t.session).await.unwrap();
    assert!(number(&stored, "lastActivity") >= start);
    assert_eq!(number(&stored, "expiresAt"), cap);
    assert_eq!(number(&stored, "absoluteExpiresAt"), cap);
    assert_eq!(context["expiresAt"], rfc3339(cap));
    assert_eq!(context["absoluteExpiresAt"], rfc3339(cap));
}

#[tokio::test]
async fn without_activity_configured_the_authorizer_writes_nothing() {
    let t = TestApp::new().await;
    assert_eq!(t.app.config.authorizer_activity, 0);
    t.sign_in("laptop").await;
    let start = now();
    t.set_session(
        &t.session,
        &[
            ("lastActivity", n(start - 3_000)),
            ("expiresAt", n(start + 100)),
        ],
    )
    .await;
    let answer = authorize(&t, Shape::HttpApi, Some(&bearer(&t.token()))).await;
    assert_allowed(Shape::HttpApi, &answer, &t.user);
    let stored = t.stored_session(&t.session).await.unwrap();
    assert_eq!(number(&stored, "lastActivity"), start - 3_000);
    assert_eq!(number(&stored, "expiresAt"), start + 100);
}

/// An HTTP API event for `GET /orders/42` carrying `authorization` and a DPoP proof
/// made by `proof` from that call's claims (`None`: no `DPoP` header).
fn bound_event(authorization: &str, proof: Option<&dyn Fn(&Value) -> String>) -> Value {
    let mut event = Shape::HttpApi.event(Some(authorization));
    if let Some(proof) = proof {
        let token = authorization.split_once(' ').unwrap().1;
        let claims = DeviceKey::claims("GET", "https://orders.example.com/orders/42", token);
        event["headers"]["dpop"] = json!(proof(&claims));
    }
    event
}

#[tokio::test]
async fn a_bound_session_is_allowed_with_its_proof_and_denied_without() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-authorizer").await;
    let authorization = bearer(&t.token());

    let signed = |claims: &Value| key.sign(claims);
    let allowed = authorize_event(&t, bound_event(&authorization, Some(&signed))).await;
    let context = assert_allowed(Shape::HttpApi, &allowed, &t.user);
    assert_eq!(context["keyBound"], true);

    let without = authorize_event(&t, bound_event(&authorization, None)).await;
    assert_denied_because(Shape::HttpApi, &without, "UNAUTHORIZED");
    let thief = DeviceKey::new();
    let stolen = |claims: &Value| thief.sign(claims);
    let other_key = authorize_event(&t, bound_event(&authorization, Some(&stolen))).await;
    assert_denied_because(Shape::HttpApi, &other_key, "UNAUTHORIZED");
    let elsewhere = |claims: &Value| {
        let mut claims = claims.clone();
        claims["htu"] = json!("https://orders.example.com/orders/43");
        key.sign(&claims)
    };
    let wrong_url = authorize_event(&t, bound_event(&authorization, Some(&elsewhere))).await;
    assert_denied_because(Shape::HttpApi, &wrong_url, "UNAUTHORIZED");

    // One proof, one call: the same event again is a replay.
    let event = bound_event(&authorization, Some(&signed));
    let first = authorize_event(&t, event.clone()).await;
    assert_allowed(Shape::HttpApi, &first, &t.user);
    let replayed = authorize_event(&t, event).await;
    assert_denied_because(Shape::HttpApi, &replayed, "UNAUTHORIZED");

    // A TOKEN authorizer never sees the proof: a bound session is denied through it.
    let token = authorize(&t, Shape::RestToken, Some(&authorization)).await;
    assert_denied_because(Shape::RestToken, &token, "UNAUTHORIZED");
}

/// An authorizer's answer cannot hand its caller a nonce, so with `DPOP_NONCE=on` it
/// still checks proofs without one (docs/device-binding.md "Nonces").
#[tokio::test]
async fn with_nonces_on_the_authorizer_checks_proofs_without_one() {
    let t = TestApp::with(&[("DPOP_NONCE", "on")]).await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-authorizer-nonce").await;
    let authorization = bearer(&t.token());
    let signed = |claims: &Value| key.sign(claims);
    let allowed = authorize_event(&t, bound_event(&authorization, Some(&signed))).await;
    assert_allowed(Shape::HttpApi, &allowed, &t.user);
    let without = authorize_event(&t, bound_event(&authorization, None)).await;
    assert_denied_because(Shape::HttpApi, &without, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_rest_request_authorizer_checks_the_proof_against_the_stage_path() {
    let t = TestApp::new().await;
    let key = DeviceKey::new();
    t.sign_in_bound(&key, "fp-rest").await;
    let authorization = bearer(&t.token());
    let mut event = Shape::RestRequest.event(Some(&authorization));
    let domain = event["requestContext"]["domainName"]
        .as_str()
        .unwrap()
        .to_string();
    let path = event["requestContext"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let method = event["httpMethod"].as_str().unwrap().to_string();
    let claims = DeviceKey::claims(&method, &format!("https://{domain}{path}"), &t.token());
    event["headers"]["DPoP"] = json!(key.sign(&claims));
    event["multiValueHeaders"]["DPoP"] = json!([key.sign(&claims)]);
    let answer = authorize_event(&t, event).await;
    assert_allowed(Shape::RestRequest, &answer, &t.user);
}
