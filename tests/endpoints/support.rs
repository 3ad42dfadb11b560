//! The test harness: a `TestApp` per test with its own user (so tests run in
//! parallel against one emulator), requests built from `events/*.json` the way API
//! Gateway sends them, and tokens minted like the platform would.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use functions::routes::*;
use jsonwebtoken::{EncodingKey, Header, encode};
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::config::Config;
use shared::{App, Deadline, RequestExt, answer};

pub const SECRET: &str = "endpoint-tests-secret-0123456789abcdef";
pub const FIREFOX_MAC: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:131.0) Gecko/20100101 Firefox/131.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ListDevices,
    GetDevice,
    TrustDevice,
    UntrustDevice,
    DeleteDevice,
    ListSessions,
    RevokeSession,
    RevokeAllSessions,
    SessionHeartbeat,
    DeviceHeartbeat,
    RegisterSession,
    RenameDevice,
    CurrentSession,
    SecurityEvents,
    /// The IAM-authorized service routes: all of a user's sessions, or one device's.
    AdminRevokeUser,
    AdminRevokeDevice,
    /// The devices page's hand-off: a code made with a token, redeemed without one.
    CreatePageCode,
    RedeemPageCode,
    /// The "This wasn't me" page's two calls: no token, a link's code.
    NotMeLookup,
    NotMeConfirm,
    /// API Gateway's `$default` route: whatever no route matched.
    Unmatched,
}

impl Route {
    /// Every route a signed-in caller uses (not the catch-all).
    pub const ALL: [Route; 14] = [
        Route::ListDevices,
        Route::GetDevice,
        Route::TrustDevice,
        Route::UntrustDevice,
        Route::DeleteDevice,
        Route::ListSessions,
        Route::RevokeSession,
        Route::RevokeAllSessions,
        Route::SessionHeartbeat,
        Route::DeviceHeartbeat,
        Route::RegisterSession,
        Route::RenameDevice,
        Route::CurrentSession,
        Route::SecurityEvents,
    ];

    /// The service routes, authorized by IAM rather than by a token.
    pub const ADMIN: [Route; 2] = [Route::AdminRevokeUser, Route::AdminRevokeDevice];

    /// The devices page's hand-off routes (tests/endpoints/handoff.rs).
    pub const HANDOFF: [Route; 2] = [Route::CreatePageCode, Route::RedeemPageCode];

    /// The "This wasn't me" page's calls (tests/endpoints/report.rs).
    pub const REPORT: [Route; 2] = [Route::NotMeLookup, Route::NotMeConfirm];

    fn event(self) -> &'static str {
        match self {
            Route::ListDevices => "list-devices",
            Route::GetDevice => "get-device",
            Route::TrustDevice => "trust-device",
            Route::UntrustDevice => "untrust-device",
            Route::DeleteDevice => "delete-device",
            Route::ListSessions => "list-sessions",
            Route::RevokeSession => "revoke-session",
            Route::RevokeAllSessions => "revoke-all-sessions",
            Route::SessionHeartbeat => "session-heartbeat",
            Route::DeviceHeartbeat => "device-heartbeat",
            Route::RegisterSession => "register-session",
            Route::RenameDevice => "rename-device",
            Route::CurrentSession => "get-current-session",
            Route::SecurityEvents => "list-security-events",
            Route::AdminRevokeUser => "admin-revoke-sessions",
            Route::AdminRevokeDevice => "admin-revoke-device-sessions",
            Route::CreatePageCode => "create-page-code",
            Route::RedeemPageCode => "redeem-page-code",
            Route::NotMeLookup => "not-me-lookup",
            Route::NotMeConfirm => "not-me-confirm",
            Route::Unmatched => "route-not-found",
        }
    }

    /// Routes whose `{id}` is a device id, and those whose `{id}` is a session id.
    pub fn takes_device_id(self) -> bool {
        matches!(
            self,
            Route::GetDevice
                | Route::UntrustDevice
                | Route::DeleteDevice
                | Route::DeviceHeartbeat
                | Route::RenameDevice
                | Route::AdminRevokeDevice
        )
    }

    pub fn takes_session_id(self) -> bool {
        matches!(self, Route::RevokeSession | Route::SessionHeartbeat)
    }

    /// The handler called as `shared::serve` calls it, deadline included. A plain
    /// function handing back the one handler's future, boxed: a debug build keeps a
    /// stack slot for every arm's future, and were this the future being polled, all of
    /// them (about 1 MB) would sit under every DynamoDB call of every test.
    fn invoke<'a>(self, app: &'a App, request: Request) -> Response<'a> {
        let deadline = Deadline::of_request(&request);
        let nonce = app.nonce_for(&request);
        macro_rules! call {
            ($endpoint:ident) => {
                Box::pin(answer(
                    $endpoint::FAILURE,
                    deadline,
                    nonce,
                    $endpoint::handle(app, request),
                ))
            };
        }
        match self {
            Route::ListDevices => call!(list_devices),
            Route::GetDevice => call!(get_device),
            Route::TrustDevice => call!(trust_device),
            Route::UntrustDevice => call!(untrust_device),
            Route::DeleteDevice => call!(delete_device),
            Route::ListSessions => call!(list_sessions),
            Route::RevokeSession => call!(revoke_session),
            Route::RevokeAllSessions => call!(revoke_all_sessions),
            Route::SessionHeartbeat | Route::DeviceHeartbeat => call!(session_heartbeat),
            Route::RegisterSession => call!(register_session),
            Route::RenameDevice => call!(rename_device),
            Route::CurrentSession => call!(get_current_session),
            Route::SecurityEvents => call!(list_security_events),
            Route::AdminRevokeUser | Route::AdminRevokeDevice => call!(admin_revoke_sessions),
            Route::CreatePageCode => call!(create_page_code),
            Route::RedeemPageCode => call!(redeem_page_code),
            Route::NotMeLookup => call!(not_me_lookup),
            Route::NotMeConfirm => call!(not_me_confirm),
            Route::Unmatched => call!(route_not_found),
        }
    }
}

/// A handler's answer, on its way.
type Response<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = lambda_http::Response<Body>> + Send + 'a>>;

/// The events, read once per test binary.
fn event(route: Route) -> Value {
    static EVENTS: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    let events = EVENTS.get_or_init(|| {
        Route::ALL
            .iter()
            .chain(&Route::ADMIN)
            .chain(&Route::HANDOFF)
            .chain(&Route::REPORT)
            .chain([&Route::Unmatched])
            .map(|r| {
                let path = format!(
                    "{}/../events/{}.json",
                    env!("CARGO_MANIFEST_DIR"),
                    r.event()
                );
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                (
                    r.event(),
                    serde_json::from_str(&text).expect("event is JSON"),
                )
            })
            .collect()
    });
    events[route.event()].clone()
}

/// What an endpoint answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: lambda_http::http::HeaderMap,
}

impl Answer {
    /// The failure envelope's stable code.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected answer: {:#}", self.body);
        self
    }

    /// 401 with the envelope and the RFC 6750 challenge.
    #[track_caller]
    pub fn assert_unauthorized(&self) {
        self.assert_status(401);
        assert_eq!(self.body["success"], false);
        assert!(self.body["error"].is_string());
        let challenge = self.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
    }
}

pub struct TestApp {
    pub app: App,
    pub user: String,
    /// The session the default token names.
    pub session: String,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    /// A test app whose configuration overrides some variables (timeouts …).
    pub async fn with(overrides: &[(&str, &str)]) -> Self {
        let config = emulator_paced().await.build();
        Self::build(overrides, aws_sdk_dynamodb::Client::from_conf(config)).await
    }

    /// A test app whose DynamoDB requests go through `front` to the emulator.
    pub async fn through(front: &crate::front::Front) -> Self {
        Self::through_with(front, &[]).await
    }

    /// The same, with some variables overridden.
    pub async fn through_with(front: &crate::front::Front, overrides: &[(&str, &str)]) -> Self {
        let config = emulator_paced().await.endpoint_url(&front.endpoint).build();
        Self::build(overrides, aws_sdk_dynamodb::Client::from_conf(config)).await
    }

    /// A test app whose DynamoDB is at `endpoint` (a closed port, a stalled listener).
    pub async fn with_dynamodb_at(endpoint: &str) -> Self {
        let sdk = App::sdk_config().await;
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .build();
        Self::build(&[], aws_sdk_dynamodb::Client::from_conf(config)).await
    }

    async fn build(overrides: &[(&str, &str)], client: aws_sdk_dynamodb::Client) -> Self {
        let overrides: HashMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // An override of "" unsets the variable (to configure public keys instead of
        // the test secret, say).
        let config = Config::from_lookup(|name| match overrides.get(name) {
            Some(value) => Some(value.clone()).filter(|v| !v.is_empty()),
            None if name == "JWT_SECRET" => Some(SECRET.to_string()),
            // Tokens here carry no issuer or audience (the emulator is loopback, so
            // none is required); the scope checks have their own tests.
            None if name == "JWT_ISSUER" || name == "JWT_AUDIENCE" => None,
            // Tests sign in hundreds of sessions per user; the limit has its own test.
            None if name.starts_with("RATE_LIMIT_") => Some("100000".into()),
            // …and hold up to the cap's largest at once; the cap has its own tests.
            None if name == "MAX_ACTIVE_SESSIONS_PER_USER" => Some("100".into()),
            None => std::env::var(name).ok(),
        })
        .expect("test configuration; run the tests with `make test`");
        let app = App::new(config, client);
        TestApp {
            app,
            user: unique("user"),
            session: unique("session"),
        }
    }

    pub fn token(&self) -> String {
        self.token_for(&self.user, &self.session)
    }

    pub fn token_for(&self, user: &str, session: &str) -> String {
        mint(json!({ "sub": user, "sid": session, "exp": now() + 3600, "iat": now() }))
    }

    /// A Bearer header for this test's session whose sign-in was at `auth_time` (none:
    /// the claim left out), for the step-up tests.
    pub fn bearer_signed_in_at(&self, auth_time: Option<i64>) -> String {
        let mut claims = json!({ "sub": self.user, "sid": self.session, "exp": now() + 600 });
        if let Some(at) = auth_time {
            claims["auth_time"] = json!(at);
        }
        format!("Bearer {}", mint(claims))
    }

    pub fn request(&self, route: Route) -> Call<'_> {
        Call {
            test: self,
            route,
            event: event(route),
            authorization: Some(format!("Bearer {}", self.token())),
            proof: None,
            deadline: None,
        }
    }

    /// Signs in `session` of this test's user on the device `fingerprint`.
    pub async fn register(&self, session: &str, fingerprint: &str) -> Answer {
        self.request(Route::RegisterSession)
            .session(session)
            .json(json!({ "fingerprint": fingerprint }))
            .send()
            .await
    }

    /// Registers the default session on `fingerprint` and returns the device id.
    pub async fn sign_in(&self, fingerprint: &str) -> String {
        let answer = self.register(&self.session, fingerprint).await;
        answer.assert_status(201);
        answer.body["data"]["device"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Signs in the default session bound to `key` (DPoP) on `fingerprint`: the
    /// answer's data.
    pub async fn sign_in_bound(&self, key: &DeviceKey, fingerprint: &str) -> Value {
        let sign_in = || {
            self.request(Route::RegisterSession)
                .json(json!({ "fingerprint": fingerprint }))
        };
        let mut answer = sign_in().proved_by(key).send().await;
        // With server nonces on (`DPOP_NONCE`), as a client does: again with the nonce.
        if answer.code() == "USE_DPOP_NONCE" {
            let nonce = answer.headers["dpop-nonce"].to_str().unwrap().to_string();
            answer = sign_in()
                .proved_with(key, move |claims| claims["nonce"] = json!(nonce))
                .send()
                .await;
        }
        answer.assert_status(201);
        answer.body["data"].clone()
    }

    /// Another session of the same user on `fingerprint`; returns the device id.
    pub async fn sign_in_other(&self, session: &str, fingerprint: &str) -> String {
        let answer = self.register(session, fingerprint).await;
        answer.assert_status(201);
        answer.body["data"]["device"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `Authorization` values whose token never verifies, for this user's session:
    /// garbage, expired, signed with another key.
    pub fn bad_bearers(&self) -> [String; 3] {
        let claims = |exp: i64| json!({ "sub": self.user, "sid": self.session, "exp": exp });
        let wrong_key = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims(now() + 3600),
            &jsonwebtoken::EncodingKey::from_secret(b"another-secret-another-secret-0123").unwrap(),
        )
        .unwrap();
        [
            "Bearer garbage".to_string(),
            format!("Bearer {}", mint(claims(now() - 3600))),
            format!("Bearer {wrong_key}"),
        ]
    }

    /// A verified identity of this user's `session`, as a request's token would give
    /// (for calling the store straight, to interleave exactly).
    pub fn identity(&self, session: &str) -> shared::auth::Identity {
        shared::auth::Identity {
            user_id: shared::domain::UserId::parse(&self.user).unwrap(),
            session_id: shared::domain::SessionId::parse(session).unwrap(),
            expires_at: now() + 600,
            auth_time: None,
            issued_at: Some(now()),
            key: None,
        }
    }

    /// The session as stored, read straight from the table.
    pub async fn stored_session(&self, session: &str) -> Option<HashMap<String, AttributeValue>> {
        self.stored(&format!("SESSION#{session}")).await
    }

    /// Any item of this user's partition, read straight from the table.
    pub async fn stored(&self, sort_key: &str) -> Option<HashMap<String, AttributeValue>> {
        self.app
            .store
            .client()
            .get_item()
            .table_name(self.app.store.table())
            .set_key(Some(self.key(sort_key)))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// Deletes a stored session, as DynamoDB's TTL eventually does.
    pub async fn expire_by_ttl(&self, session: &str) {
        self.app
            .store
            .client()
            .delete_item()
            .table_name(self.app.store.table())
            .set_key(Some(self.key(&format!("SESSION#{session}"))))
            .send()
            .await
            .expect("DeleteItem");
    }

    /// Deletes an item of this user's partition (`USED#…`), as TTL eventually does.
    pub async fn forget(&self, sort_key: &str) {
        self.app
            .store
            .client()
            .delete_item()
            .table_name(self.app.store.table())
            .set_key(Some(self.key(sort_key)))
            .send()
            .await
            .expect("DeleteItem");
    }

    /// The key of an item of this user's partition.
    fn key(&self, sort_key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "PK".into(),
                AttributeValue::S(format!("USER#{}", self.user)),
            ),
            ("SK".into(), AttributeValue::S(sort_key.into())),
        ])
    }

    /// Overwrites attributes of a stored session (to age it past an expiry, as the
    /// clock would, without waiting).
    pub async fn set_session(&self, session: &str, attributes: &[(&str, AttributeValue)]) {
        self.set_stored(&format!("SESSION#{session}"), attributes)
            .await
    }

    /// Overwrites attributes of any item of this user's partition (a device's `ttl`
    /// into the past, as time would, without waiting).
    pub async fn set_stored(&self, sort_key: &str, attributes: &[(&str, AttributeValue)]) {
        let mut update = self
            .app
            .store
            .client()
            .update_item()
            .table_name(self.app.store.table())
            .set_key(Some(self.key(sort_key)));
        let mut sets = Vec::new();
        for (i, (name, value)) in attributes.iter().enumerate() {
            sets.push(format!("#a{i} = :v{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), *name)
                .expression_attribute_values(format!(":v{i}"), value.clone());
        }
        update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .expect("UpdateItem");
    }

    /// This user's security events as stored, oldest first.
    pub async fn stored_events(&self) -> Vec<shared::domain::SecurityEvent> {
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .app
                .store
                .client()
                .query()
                .table_name(self.app.store.table())
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("EVENTS#{}", self.user)),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("Query");
            events.extend(page.items().iter().filter_map(shared::store::event_from));
            start = page.last_evaluated_key;
            if start.is_none() {
                return events;
            }
        }
    }

    /// Everything in this user's partition, as the store reads it.
    pub async fn account(&self) -> shared::domain::Account {
        let user = shared::domain::UserId::parse(&self.user).unwrap();
        self.app.store.account(&user).await.expect("Query")
    }
}

/// A change to a proof's claims before it is signed (a refused case's one change).
type ClaimsChange<'a> = Box<dyn FnOnce(&mut Value) + 'a>;

pub struct Call<'a> {
    test: &'a TestApp,
    route: Route,
    event: Value,
    authorization: Option<String>,
    /// The key that signs this call's DPoP proof at sending, when it is a bound
    /// client's call, and what to change in the proof's claims first.
    proof: Option<(&'a DeviceKey, ClaimsChange<'a>)>,
    /// The invocation's deadline, as Lambda would set it.
    deadline: Option<std::time::SystemTime>,
}

impl<'a> Call<'a> {
    /// The `{id}` path parameter.
    pub fn id(mut self, id: &str) -> Self {
        self.event["pathParameters"]["id"] = json!(id);
        self.with_path_from_parameters()
    }

    /// A service route for this test's user, signed by `arn` as API Gateway's IAM
    /// authorization hands it over (`None`: no IAM identity at all).
    pub fn signed_by(mut self, arn: Option<&str>) -> Self {
        self.event["pathParameters"]["userId"] = json!(self.test.user);
        match arn {
            Some(arn) => self.event["requestContext"]["authorizer"]["iam"]["userArn"] = json!(arn),
            None => {
                let context = self.event["requestContext"].as_object_mut().unwrap();
                context.remove("authorizer");
            }
        }
        self.authorization = None;
        self.with_path_from_parameters()
    }

    /// The raw path, as the route's template with the path parameters put in.
    fn with_path_from_parameters(mut self) -> Self {
        let mut path = self.event["routeKey"]
            .as_str()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .to_string();
        for (name, value) in self.event["pathParameters"].as_object().unwrap() {
            path = path.replace(&format!("{{{name}}}"), value.as_str().unwrap());
        }
        self.event["rawPath"] = json!(path);
        self.event["requestContext"]["http"]["path"] = json!(path);
        self
    }

    /// Act as another session of the same user.
    pub fn session(mut self, session: &str) -> Self {
        self.authorization = Some(format!(
            "Bearer {}",
            self.test.token_for(&self.test.user, session)
        ));
        self
    }

    /// Signed with a DPoP proof by `key`, for this very call: its method, URL and token.
    pub fn proved_by(self, key: &'a DeviceKey) -> Self {
        self.proved_with(key, |_| {})
    }

    /// The same with the proof's claims changed by `change` before signing.
    pub fn proved_with(mut self, key: &'a DeviceKey, change: impl FnOnce(&mut Value) + 'a) -> Self {
        self.proof = Some((key, Box::new(change)));
        self
    }

    /// The raw `Authorization` header, or none at all.
    pub fn authorization(mut self, value: Option<&str>) -> Self {
        self.authorization = value.map(str::to_string);
        self
    }

    pub fn json(self, body: Value) -> Self {
        self.body(Some(&body.to_string()), Some("application/json"))
    }

    pub fn body(mut self, body: Option<&str>, content_type: Option<&str>) -> Self {
        self.event["body"] = body.map_or(Value::Null, |b| json!(b));
        let headers = self.event["headers"].as_object_mut().unwrap();
        match content_type {
            Some(content_type) => headers.insert("content-type".into(), json!(content_type)),
            None => headers.remove("content-type"),
        };
        self
    }

    /// A body API Gateway passes base64-encoded (bytes that are not UTF-8 text).
    pub fn bytes(mut self, body: &[u8], content_type: &str) -> Self {
        use base64::Engine;
        self.event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
        self.event["isBase64Encoded"] = json!(true);
        self.event["headers"]["content-type"] = json!(content_type);
        self
    }

    /// Any method and path, as API Gateway hands them to the `$default` route.
    pub fn method_and_path(mut self, method: &str, path: &str) -> Self {
        self.event["rawPath"] = json!(path);
        self.event["requestContext"]["http"]["method"] = json!(method);
        self.event["requestContext"]["http"]["path"] = json!(path);
        self
    }

    /// The address API Gateway saw the request come from.
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.event["requestContext"]["http"]["sourceIp"] = json!(ip);
        self
    }

    /// A request header, as the client sent it.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name] = json!(value);
        self
    }

    /// Several query parameters at once.
    pub fn queries(mut self, pairs: &[(&str, &str)]) -> Self {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.event["rawQueryString"] = json!(raw.join("&"));
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        self.event["queryStringParameters"] = Value::Object(map);
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.event["rawQueryString"] = json!(format!("{name}={value}"));
        self.event["queryStringParameters"] = json!({ name: value });
        self
    }

    /// Invoked with `left` before Lambda's deadline.
    pub fn deadline_in(mut self, left: Duration) -> Self {
        self.deadline = Some(std::time::SystemTime::now() + left);
        self
    }

    pub async fn send(mut self) -> Answer {
        if let Some((key, change)) = self.proof.take() {
            let token = self.authorization.as_deref().unwrap_or_default();
            let token = token.split_once(' ').map_or(token, |(_, t)| t);
            let method = self.event["requestContext"]["http"]["method"]
                .as_str()
                .unwrap();
            let url = format!("{API_URL}{}", self.event["rawPath"].as_str().unwrap());
            let mut claims = DeviceKey::claims(method, &url, token);
            change(&mut claims);
            self.event["headers"]["dpop"] = json!(key.sign(&claims));
        }
        let headers = self.event["headers"].as_object_mut().unwrap();
        headers.remove("authorization");
        if let Some(authorization) = self.authorization {
            headers.insert("authorization".into(), json!(authorization));
        }
        let mut request =
            lambda_http::request::from_str(&self.event.to_string()).expect("a valid event");
        if let Some(deadline) = self.deadline {
            let mut context = lambda_http::Context::default();
            let since_epoch = deadline.duration_since(std::time::UNIX_EPOCH).unwrap();
            context.deadline = since_epoch.as_millis() as u64;
            request = request.with_lambda_context(context);
        }
        // On the heap: a debug build's handler futures are large, and a test holding
        // several at once would overflow its thread's stack.
        let response = self.route.invoke(&self.test.app, request).await;
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Text(text) => serde_json::from_str(&text).expect("every body is JSON"),
            // Only a CORS preflight's 204 has none.
            Body::Empty => Value::Null,
            other => panic!("expected a text body, got {other:?}"),
        };
        Answer {
            status: parts.status.as_u16(),
            body,
            headers: parts.headers,
        }
    }
}

/// The SDK as the service configures it, with timeouts for the emulator's pace: it
/// answers one request at a time and copies its tables for every transaction, so under
/// eight test threads a 99-action transaction can wait longer than the production
/// attempt timeout. The production bounds are proven by the fault tests
/// (`with_dynamodb_at`).
async fn emulator_paced() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(&App::sdk_config().await).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(20))
            .operation_timeout(Duration::from_secs(60))
            .build(),
    )
}

/// The URL the events say the client called (their `host`, no `PUBLIC_BASE_URL`).
pub const API_URL: &str = "https://api.example.com";

/// A device's key pair as a DPoP client holds it: a fresh P-256 key per device.
pub struct DeviceKey {
    key: EncodingKey,
    jwk: jsonwebtoken::jwk::Jwk,
}

impl DeviceKey {
    pub fn new() -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256)
            .unwrap();
        DeviceKey { key, jwk }
    }

    /// Its RFC 7638 thumbprint, as views show it.
    pub fn thumbprint(&self) -> String {
        self.jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    }

    /// The claims of a fresh proof for one request (RFC 9449 §4.2).
    pub fn claims(method: &str, url: &str, token: &str) -> Value {
        json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": now(),
            "ath": shared::auth::dpop::access_token_hash(token),
        })
    }

    /// `claims` signed as a DPoP proof: `typ: dpop+jwt`, this public key in `jwk`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        encode(&header, claims, &self.key).unwrap()
    }

    /// An ES256 signature by this key over `input`, base64url (a hand-made proof's).
    pub fn sign_input(&self, input: &str) -> String {
        jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, jsonwebtoken::Algorithm::ES256)
            .unwrap()
    }

    /// The public JWK, as the proof's header carries it.
    pub fn jwk(&self) -> Value {
        serde_json::to_value(&self.jwk).unwrap()
    }
}

pub fn mint(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

pub fn now() -> i64 {
    shared::domain::now()
}

/// A session as a sign-in at `at` would make it (the default timeouts), for tests that
/// write through the store directly.
pub fn new_session(
    id: &str,
    device: &shared::domain::DeviceId,
    at: i64,
) -> shared::domain::Session {
    shared::domain::Session {
        id: shared::domain::SessionId::parse(id).unwrap(),
        device_id: device.clone(),
        lifetime: shared::domain::Lifetime::start(at, 1800, 43_200),
        started_at: at,
        last_activity: at,
        ip_address: None,
        location: None,
        login_method: None,
        key_thumbprint: None,
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
