//! The composition root: configuration and the DynamoDB client are built once per
//! cold start, then every invocation borrows them.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use tracing::Instrument;

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::{Epoch, now};
use crate::error::Error;
use crate::reply::Reply;
use crate::store::{Account, Device, DeviceChange, Session, Store};

pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    pub fn new(config: Config, client: aws_sdk_dynamodb::Client) -> Self {
        let store = Store::new(
            client,
            config.table_name.clone(),
            config.tombstone,
            config.writes_per_minute,
        );
        App { config, store }
    }

    /// The SDK configuration with bounded time: a DynamoDB that does not answer
    /// costs at most ~4 s before the caller gets a 503, well inside the function's
    /// timeout. Throttling is retried with the SDK's jittered backoff (3 attempts).
    pub async fn sdk_config() -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .operation_attempt_timeout(Duration::from_millis(1_500))
                    .operation_timeout(Duration::from_secs(4))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await
    }

    pub fn now(&self) -> Epoch {
        now()
    }

    /// Reads the caller's identity from the Bearer token (no I/O, unless a token
    /// names a published key not yet fetched).
    pub async fn authenticate(&self, request: &Request) -> Result<Identity, Error> {
        let identity = self.config.verifier.authenticate(request).await?;
        tracing::Span::current().record("user", identity.user_id.as_str());
        Ok(identity)
    }

    /// One Query of the caller's partition, and the session guard on its result:
    /// a revoked or expired session gets 401 on its very next request.
    pub async fn caller(&self, identity: Identity) -> Result<Caller, Error> {
        let account = self.store.account(&identity.user_id).await?;
        let now = self.now();
        let session = account.guard(&identity, now)?.clone();
        Ok(Caller {
            identity,
            session,
            account,
            now,
        })
    }
}

/// What a cascade ends: every session of the account, or those of one device
/// before that device is untrusted or removed.
#[derive(Debug, Clone, Copy)]
pub enum Cascade<'a> {
    /// Revoke-all; `keep_current` spares the caller's own session.
    AllSessions {
        keep_current: bool,
    },
    Untrust(&'a Device),
    Remove(&'a Device),
}

impl App {
    /// Ends the sessions the cascade names (alive when the caller's account was
    /// read) and applies its device change; returns how many sessions ended.
    pub async fn cascade(&self, caller: &Caller, cascade: Cascade<'_>) -> Result<usize, Error> {
        let (device, change) = match cascade {
            Cascade::AllSessions { .. } => (None, None),
            Cascade::Untrust(device) => (Some(&device.id), Some(DeviceChange::Untrust(&device.id))),
            Cascade::Remove(device) => (Some(&device.id), Some(DeviceChange::Remove(device))),
        };
        let keep_current = matches!(cascade, Cascade::AllSessions { keep_current: true });
        let sessions: Vec<_> = caller
            .account
            .alive_sessions(caller.now, device)
            .filter(|s| !(keep_current && s.id == caller.identity.session_id))
            .map(|s| &s.id)
            .collect();
        self.store
            .revoke_sessions(&caller.identity, &sessions, change, caller.now)
            .await
    }
}

/// A signed-in caller whose session passed the guard, with their whole account.
#[derive(Debug)]
pub struct Caller {
    pub identity: Identity,
    /// The caller's own session, alive when read.
    pub session: Session,
    pub account: Account,
    pub now: Epoch,
}

/// Runs one endpoint as a Lambda function. `failure` is its documented 500 message.
pub async fn serve<H, F>(failure: &'static str, handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(&'static App, Request) -> F,
    F: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    init_logging();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            // One clear line, then no requests at all: a misconfigured function must
            // not half-work.
            tracing::error!(%error, "cold start failed");
            std::process::exit(1);
        }
    };
    // The App lives as long as the process; leaking it lets every request borrow it.
    let client = aws_sdk_dynamodb::Client::new(&App::sdk_config().await);
    let app: &'static App = Box::leak(Box::new(App::new(config, client)));
    // Init runs with a full CPU and is not billed per request: open the DynamoDB
    // connection and fetch any published keys now.
    let (_, keys) = tokio::join!(app.store.warm_up(), app.config.verifier.refresh());
    if let Err(error) = keys {
        tracing::error!(%error, "cold start without keys: requests answer 503 until a fetch succeeds");
    }
    lambda_http::run(service_fn(|request: Request| {
        let started = Instant::now();
        // One span per request; `App::authenticate` records the user in it. Never
        // the token or the fingerprint.
        let span = tracing::info_span!(
            "request",
            request_id = request.lambda_context_ref().map(|c| c.request_id.as_str()),
            method = %request.method(),
            path = request.uri().path(),
            user = tracing::field::Empty,
        );
        let outcome = handler(app, request).instrument(span.clone());
        async move {
            let response = respond(failure, outcome.await);
            span.in_scope(|| {
                tracing::info!(
                    status = response.status().as_u16(),
                    latency_ms = started.elapsed().as_secs_f64() * 1e3,
                    "answered"
                )
            });
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}

/// Renders a handler's outcome as the envelope; faults are logged with their cause.
pub fn respond(failure: &'static str, outcome: Result<Reply, Error>) -> Response<Body> {
    match outcome {
        Ok(reply) => reply.into_response(),
        Err(error) => {
            if matches!(error, Error::Internal(_) | Error::Unavailable(_)) {
                tracing::error!(%error, code = error.code(), "request failed");
            }
            Reply::error(&error, failure)
        }
    }
}

fn init_logging() {
    // JSON lines for CloudWatch. One level for the whole binary, from RUST_LOG or
    // Lambda's AWS_LAMBDA_LOG_LEVEL (set by the template's LoggingConfig): a plain
    // level filter, not EnvFilter, whose regex engine costs binary size and cold start.
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .ok()
        .and_then(|level| {
            level
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .ok()
        })
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_target(false)
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .init();
}
