//! The composition root: configuration and the DynamoDB client are built once per
//! cold start, then every invocation borrows them.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use tracing::Instrument;

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::{Account, Actor, EventType, Origin, SecurityEvent, Session, Target};
use crate::domain::{DeviceId, Epoch, UserId, now};
use crate::error::{AuthFailure, Error};
use crate::reply::Reply;
use crate::store::{DeviceChange, Store};

pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    pub fn new(config: Config, client: aws_sdk_dynamodb::Client) -> Self {
        let store = Store::new(client, &config);
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
        let session = account.guard(&identity.session_id, now)?.clone();
        Ok(Caller {
            identity,
            session,
            account,
            now,
        })
    }
}

/// What a cascade ends: every session of the account, or those of one device
/// before that device is untrusted or removed (or, for a platform service, left as
/// it is).
#[derive(Debug, Clone, Copy)]
pub enum Cascade<'a> {
    /// Revoke-all; `keep_current` spares the caller's own session.
    AllSessions {
        keep_current: bool,
    },
    Untrust(&'a DeviceId),
    Remove(&'a DeviceId),
    /// A device's sessions, the device kept (`/admin/…`).
    DeviceSessions(&'a DeviceId),
}

/// Who ends sessions: the user, through a session that must be alive (the guard), or
/// a platform service authorized by IAM, for a user it names.
#[derive(Debug, Clone)]
pub enum Principal {
    User(Identity),
    Service { arn: String, user: UserId },
}

impl Principal {
    pub fn user(&self) -> &UserId {
        match self {
            Principal::User(identity) => &identity.user_id,
            Principal::Service { user, .. } => user,
        }
    }

    fn actor(&self) -> Actor {
        match self {
            Principal::User(identity) => Actor::Session(identity.session_id.as_str().into()),
            Principal::Service { arn, .. } => Actor::Service(arn.clone()),
        }
    }
}

/// Passes of a cascade before it gives up with 409. A pass repeats only when a
/// session was registered during it; sign-ins are rate-limited per user and need a
/// fresh token from the identity provider each, so a few passes always suffice.
const CASCADE_PASSES: usize = 10;

impl App {
    /// Ends the sessions the cascade names and applies its device change, with its
    /// security event (`reason`, if given); returns how many sessions ended. When it
    /// answers, every session registered before its last write is ended (the
    /// caller's aside with `keep_current`) and no live session is left on a removed
    /// device: a pass that a sign-in overtook reads the account again and ends what it
    /// missed (see `Store::revoke_sessions`).
    pub async fn cascade(
        &self,
        by: &Principal,
        cascade: Cascade<'_>,
        origin: Origin,
        reason: Option<&str>,
    ) -> Result<usize, Error> {
        self.stepped_up(by, cascade)?;
        let user = by.user();
        let mut ended = 0;
        for _ in 0..CASCADE_PASSES {
            // The user's session must be alive; a service needs no session.
            let (account, caller, now) = match by {
                Principal::User(identity) => {
                    let caller = self.caller(identity.clone()).await?;
                    (caller.account, Some(identity), caller.now)
                }
                Principal::Service { .. } => (self.store.account(user).await?, None, self.now()),
            };
            let (device, change) = match cascade {
                Cascade::AllSessions { .. } => (None, None),
                Cascade::Untrust(id) | Cascade::Remove(id) | Cascade::DeviceSessions(id) => {
                    let device = account.device(id).ok_or(Error::DeviceNotFound)?;
                    let change = match cascade {
                        Cascade::Remove(_) => Some(DeviceChange::Remove(device)),
                        Cascade::Untrust(_) => Some(DeviceChange::Untrust(id)),
                        _ => None,
                    };
                    (Some(id), change)
                }
            };
            let kept = match (cascade, caller) {
                (Cascade::AllSessions { keep_current: true }, Some(caller)) => {
                    Some(&caller.session_id)
                }
                _ => None,
            };
            let sessions: Vec<_> = account
                .alive_sessions(now, device)
                .filter(|s| Some(&s.id) != kept)
                .map(|s| &s.id)
                .collect();
            let event =
                cascade_event(by, cascade, origin.clone(), reason).ended(ended + sessions.len());
            let pass = self
                .store
                .revoke_sessions(
                    user,
                    caller,
                    &sessions,
                    change,
                    account.sign_ins,
                    &event,
                    now,
                )
                .await?;
            ended += pass.ended;
            if pass.complete {
                return Ok(ended);
            }
            tracing::info!(ended, "a sign-in landed during the cascade: reading again");
        }
        Err(Error::Conflict(
            "Sessions kept being signed in during the revocation, retry",
        ))
    }
}

impl App {
    /// Step-up (RFC 9470): with `STEP_UP_MAX_AGE_SECONDS` set, a user ending sessions
    /// everywhere, untrusting or removing a device must have authenticated within that
    /// many seconds (the token's `auth_time`; none counts as too old). Checked before
    /// anything is read or written. Platform services are not users: never asked.
    fn stepped_up(&self, by: &Principal, cascade: Cascade<'_>) -> Result<(), Error> {
        let (Principal::User(identity), Some(max_age)) = (by, self.config.step_up_max_age) else {
            return Ok(());
        };
        let destructive = matches!(
            cascade,
            Cascade::AllSessions { .. } | Cascade::Untrust(_) | Cascade::Remove(_)
        );
        let recent = identity
            .auth_time
            .is_some_and(|at| self.now() - at <= max_age);
        if destructive && !recent {
            return Err(Error::Unauthorized(AuthFailure::StepUpRequired { max_age }));
        }
        Ok(())
    }
}

/// The one security event a cascade records, in its last transaction.
fn cascade_event(
    by: &Principal,
    cascade: Cascade<'_>,
    origin: Origin,
    reason: Option<&str>,
) -> SecurityEvent {
    let service = matches!(by, Principal::Service { .. });
    let (event_type, target) = match cascade {
        Cascade::AllSessions { .. } if service => {
            (EventType::AdminSessionsRevoked, Target::Account(by.user()))
        }
        Cascade::AllSessions { .. } => (EventType::AllSessionsRevoked, Target::Account(by.user())),
        Cascade::Untrust(id) => (EventType::DeviceUntrusted, Target::Device(id)),
        Cascade::Remove(id) => (EventType::DeviceRemoved, Target::Device(id)),
        Cascade::DeviceSessions(id) => (EventType::AdminSessionsRevoked, Target::Device(id)),
    };
    let event = SecurityEvent::of(by.user(), by.actor(), event_type, target, origin);
    match reason {
        Some(reason) => event.because(reason),
        None => event,
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

impl App {
    /// The cold start of every function here, route or not: logging, configuration,
    /// the DynamoDB client, and — while Lambda gives init a full CPU, unbilled per
    /// request — the DynamoDB connection opened and any published keys fetched.
    pub async fn cold_start() -> &'static App {
        init_logging();
        let config = match Config::from_env() {
            Ok(config) => config,
            Err(error) => {
                // One clear line, then no requests at all: a misconfigured function
                // must not half-work.
                tracing::error!(%error, "cold start failed");
                std::process::exit(1);
            }
        };
        // The App lives as long as the process; leaking it lets every request borrow it.
        let client = aws_sdk_dynamodb::Client::new(&App::sdk_config().await);
        let app: &'static App = Box::leak(Box::new(App::new(config, client)));
        let (_, keys) = tokio::join!(app.store.warm_up(), app.config.verifier.refresh());
        if let Err(error) = keys {
            tracing::error!(%error, "cold start without keys: every request is refused until a fetch succeeds");
        }
        app
    }
}

/// Runs one endpoint as a Lambda function. `failure` is its documented 500 message.
pub async fn serve<H, F>(failure: &'static str, handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(&'static App, Request) -> F,
    F: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    let app = App::cold_start().await;
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
        let deadline = deadline(&request);
        let outcome = handler(app, request).instrument(span.clone());
        async move {
            let response = answer(failure, deadline, outcome).await;
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

/// How long before the invocation's deadline a request gives up: time to send the
/// answer and log it before Lambda stops the function.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The invocation's deadline, as Lambda gives it. None outside Lambda, and none when it
/// has passed before the request starts: Lambda never hands out such an invocation, but
/// `cargo lambda watch` sends a fixed 600 000 ms after the epoch.
pub fn deadline(request: &Request) -> Option<SystemTime> {
    request
        .lambda_context_ref()
        .map(|context| context.deadline())
        .filter(|deadline| *deadline > SystemTime::now())
}

/// Answers one request: the handler's outcome as the envelope, or 503 in the envelope
/// when it is not ready [`DEADLINE_MARGIN`] before the deadline. Every DynamoDB call is
/// bounded (~4 s), but a request can make several (a long cascade, a contested
/// sign-in); without this, Lambda's own timeout would answer, outside the envelope.
/// Giving up between calls is safe: each transaction is atomic, and cascades end
/// sessions before they change the device.
pub async fn answer(
    failure: &'static str,
    deadline: Option<SystemTime>,
    outcome: impl Future<Output = Result<Reply, Error>>,
) -> Response<Body> {
    let outcome = match deadline {
        Some(deadline) => {
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(DEADLINE_MARGIN);
            tokio::time::timeout(left, outcome)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Unavailable(
                        "the invocation's deadline is near".into(),
                    ))
                })
        }
        None => outcome.await,
    };
    respond(failure, outcome)
}

/// Renders a handler's outcome as the envelope; faults are logged with their cause.
fn respond(failure: &'static str, outcome: Result<Reply, Error>) -> Response<Body> {
    match outcome {
        Ok(reply) => reply.into_response(),
        Err(error) => {
            if matches!(error, Error::Internal(_) | Error::Unavailable(_)) {
                tracing::error!(%error, code = error.code(), "request failed");
            }
            error.into_response(failure)
        }
    }
}

/// JSON lines for CloudWatch, one level from `RUST_LOG` or Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`: every function logs this way, routes or not.
pub fn init_logging() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Context;

    fn invoked_with_deadline(deadline: Option<SystemTime>) -> Request {
        let request = Request::default();
        match deadline {
            Some(deadline) => {
                let mut context = Context::default();
                let since_epoch = deadline.duration_since(SystemTime::UNIX_EPOCH).unwrap();
                context.deadline = since_epoch.as_millis() as u64;
                request.with_lambda_context(context)
            }
            None => request,
        }
    }

    #[test]
    fn only_a_deadline_still_ahead_bounds_a_request() {
        let ahead = SystemTime::now() + Duration::from_secs(10);
        let found = deadline(&invoked_with_deadline(Some(ahead))).unwrap();
        let error = found.duration_since(ahead).unwrap_or_else(|e| e.duration());
        assert!(error < Duration::from_millis(1), "kept to the millisecond");
        // cargo lambda watch's fixed value, and no context at all.
        let watch = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(deadline(&invoked_with_deadline(Some(watch))), None);
        assert_eq!(deadline(&invoked_with_deadline(None)), None);
    }
}
