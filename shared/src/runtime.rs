//! The Lambda adapter every function here shares: the cold start, the SDK's time
//! bounds, one request's span, deadline and answer, and logging. Handlers never see
//! Lambda; they return a `Reply` or an `Error` (docs/design.md).

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Context, Request, RequestExt, Response, service_fn};
use tracing::Instrument;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::app::App;
use crate::auth::dpop;
use crate::config::Config;
use crate::error::Error;
use crate::metrics;
use crate::reply::Reply;

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

    /// The SDK configuration, read straight from the function's environment (what
    /// Lambda sets, and the local stack too): region, the function's credentials, the
    /// per-service endpoints used locally — no provider chain (profiles, SSO, IMDS,
    /// ECS), which Lambda never needs and which costs size and cold start. Time is
    /// bounded: a DynamoDB that does not answer costs at most ~4 s before the caller
    /// gets a 503, well inside the function's timeout. Throttling is retried with the
    /// SDK's jittered backoff (3 attempts). An environment without a region or
    /// credentials stops the cold start with one clear line, as a bad configuration does.
    pub async fn sdk_config() -> SdkConfig {
        match sdk_config_from(|name| std::env::var(name).ok()) {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%error, "cold start failed");
                std::process::exit(1);
            }
        }
    }
}

/// The SDK configuration from the variables `var` reads: `AWS_REGION` (or
/// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
/// `AWS_SESSION_TOKEN`, and endpoints as the SDKs read them (`AWS_ENDPOINT_URL_<SERVICE>`,
/// then `AWS_ENDPOINT_URL`). Errors name what is missing.
pub fn sdk_config_from(
    var: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> Result<SdkConfig, String> {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    let region = set("AWS_REGION")
        .or_else(|| set("AWS_DEFAULT_REGION"))
        .ok_or("AWS_REGION is not set")?;
    let missing = |name: &str| format!("{name} is not set: no AWS credentials in the environment");
    let key = set("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
    let secret = set("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?;
    let credentials = Credentials::new(key, secret, set("AWS_SESSION_TOKEN"), None, "Environment");
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .service_config(EnvEndpoints(var))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(1_500))
                .operation_timeout(Duration::from_secs(4))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build())
}

/// Per-service settings from the environment, as aws-config reads them without a
/// profile: `<KEY>_<SERVICE ID>` first (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, `AWS_ENDPOINT_URL_EVENTBRIDGE`), then `<KEY>`.
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` turns them off, as it does there.
struct EnvEndpoints<F>(F);

impl<F> std::fmt::Debug for EnvEndpoints<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvEndpoints")
    }
}

impl<F: Fn(&str) -> Option<String> + Send + Sync> LoadServiceConfig for EnvEndpoints<F> {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let var = |name: &str| (self.0)(name).filter(|value| !value.is_empty());
        if key.env() == "AWS_ENDPOINT_URL"
            && var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
                .is_some_and(|ignore| ignore.eq_ignore_ascii_case("true"))
        {
            return None;
        }
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        var(&format!("{}_{service}", key.env())).or_else(|| var(key.env()))
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
        let deadline = Deadline::of_request(&request);
        let function = crate::routes::function_of(request.method().as_str(), request.uri().path());
        let nonce = app.nonce_for(&request);
        let outcome = handler(app, request).instrument(span.clone());
        async move {
            // One metrics line per request (docs/operations.md#metrics).
            let (outcome, counts) = metrics::counted(deadline.bound(outcome)).await;
            let refusal = outcome.as_ref().err().map(|e| (e.code(), e.reason()));
            let response = respond(failure, outcome, nonce);
            let status = response.status().as_u16();
            let (code, reason) =
                refusal.map_or((None, None), |(code, reason)| (Some(code), reason));
            metrics::request_line(function, status, code, reason, &counts).emit();
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

/// How long before the invocation's deadline work gives up: time to send the answer
/// and log it before Lambda stops the function.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The invocation's deadline, as Lambda gives it. None outside Lambda, and none when it
/// has passed before the invocation starts: Lambda never hands out such an invocation,
/// but `cargo lambda watch` sends a fixed 600 000 ms after the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<SystemTime>);

impl Deadline {
    /// No deadline: work runs to its end.
    pub const NONE: Deadline = Deadline(None);

    pub fn at(deadline: SystemTime) -> Self {
        Deadline(Some(deadline).filter(|deadline| *deadline > SystemTime::now()))
    }

    pub fn of(context: &Context) -> Self {
        Deadline::at(context.deadline())
    }

    pub fn of_request(request: &Request) -> Self {
        request
            .lambda_context_ref()
            .map_or(Deadline::NONE, Deadline::of)
    }

    /// The time left before the deadline; none without one.
    pub fn remaining(self) -> Option<Duration> {
        self.0.map(|deadline| {
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
        })
    }

    /// `work`, given up [`DEADLINE_MARGIN`] before the deadline as `Unavailable`, so the
    /// answer is ours and not Lambda's timeout (which API Gateway turns into a 500).
    /// Every DynamoDB call is bounded (~4 s), but one request can make several (a long
    /// cascade, a contested sign-in). Giving up between calls is safe: each transaction
    /// is atomic, and cascades end sessions before they change the device.
    pub async fn bound<T>(self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let Some(left) = self.remaining() else {
            return work.await;
        };
        tokio::time::timeout(left.saturating_sub(DEADLINE_MARGIN), work)
            .await
            .unwrap_or_else(|_| {
                metrics::count(metrics::DEADLINE_UNAVAILABLE, 1);
                Err(Error::Unavailable(
                    "the invocation's deadline is near".into(),
                ))
            })
    }
}

/// Answers one request: the handler's outcome as the envelope, or 503 in the envelope
/// when it is not ready [`DEADLINE_MARGIN`] before the deadline; with the DPoP `nonce`
/// the answer hands out ([`App::nonce_for`]).
pub async fn answer(
    failure: &'static str,
    deadline: Deadline,
    nonce: Option<String>,
    outcome: impl Future<Output = Result<Reply, Error>>,
) -> Response<Body> {
    respond(failure, deadline.bound(outcome).await, nonce)
}

/// Renders a handler's outcome as the envelope, with `DPoP-Nonce` when given; faults
/// are logged with their cause.
fn respond(
    failure: &'static str,
    outcome: Result<Reply, Error>,
    nonce: Option<String>,
) -> Response<Body> {
    let mut response = match outcome {
        Ok(reply) => reply.into_response(),
        Err(error) => {
            if matches!(error, Error::Internal(_) | Error::Unavailable(_)) {
                tracing::error!(%error, code = error.code(), "request failed");
            }
            if error.is_proof_refusal() {
                // How a copied or replayed token of a bound session shows
                // (docs/device-binding.md "Theft signal").
                tracing::warn!(code = error.code(), "DPoP proof refused");
                crate::metrics::count(crate::metrics::DPOP_REFUSALS, 1);
            }
            error.into_response(failure)
        }
    };
    if let Some(value) = nonce.and_then(|nonce| HeaderValue::from_str(&nonce).ok()) {
        response.headers_mut().insert(dpop::NONCE_HEADER, value);
    }
    response
}

/// This service's own crates: the configured level applies to them in full. The
/// binaries' own crates (`functions/src/bin/`) only call into `functions` and log
/// nothing themselves.
pub const OWN_CRATES: &[&str] = &["shared", "functions"];

/// The most verbose level any other crate (lambda_runtime, lambda_http, hyper, the AWS
/// SDK…) logs at, whatever the configured level: at TRACE the runtime logs every raw
/// event (bearer tokens, request bodies) and the SDK every request and response. At
/// INFO and below they log as configured.
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::INFO;

/// The configured level: Lambda's `AWS_LAMBDA_LOG_LEVEL` (the template's `LogLevel`)
/// first, so the level a deployment chose is the one used, then `RUST_LOG` (locally),
/// then INFO. A value that is not a level (`RUST_LOG=shared=debug`) is skipped.
pub fn log_level(var: impl Fn(&str) -> Option<String>) -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .into_iter()
        .find_map(|name| var(name).and_then(|level| level.trim().parse::<LevelFilter>().ok()))
        .unwrap_or(LevelFilter::INFO)
}

/// What is logged at `level`: this service's crates ([`OWN_CRATES`]) at `level`,
/// every other crate at `level` or [`DEPENDENCY_CAP`], whichever is less verbose.
/// A target filter, not EnvFilter, whose regex engine costs binary size and cold start.
pub fn log_filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(std::cmp::min(level, DEPENDENCY_CAP))
        .with_targets(OWN_CRATES.iter().map(|name| (*name, level)))
}

/// JSON lines for CloudWatch, as Lambda's advanced logging controls read them: each
/// line has `level` and an RFC 3339 UTC `timestamp` (a line without a valid timestamp
/// counts as INFO there, so it would pass a WARN or ERROR filter). `writer` takes them.
pub fn log_subscriber<W>(level: LevelFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .with_max_level(LevelFilter::TRACE)
        .with_timer(tracing_subscriber::fmt::time::SystemTime)
        .with_target(false)
        .with_current_span(true)
        .with_span_list(false)
        .finish()
        .with(log_filter(level))
}

/// Logging for every function here, routes or not: [`log_subscriber`] on stdout at
/// [`log_level`], and one line saying which level.
pub fn init_logging() {
    let level = log_level(|name| std::env::var(name).ok());
    log_subscriber(level, std::io::stdout).init();
    tracing::info!(
        level = %level,
        dependencies = %std::cmp::min(level, DEPENDENCY_CAP),
        "logging"
    );
}

/// What the service's own subscriber at `level` writes while `run` runs, one JSON value
/// per line (for tests of what is logged).
#[cfg(test)]
pub(crate) fn logged_at<T>(
    level: LevelFilter,
    run: impl FnOnce() -> T,
) -> (T, Vec<serde_json::Value>) {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let result =
        tracing::subscriber::with_default(log_subscriber(level, move || writer.clone()), run);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let lines = text.lines().map(|line| serde_json::from_str(line).unwrap());
    (result, lines.collect())
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

    fn environment(
        vars: &[(&str, &str)],
    ) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| vars.get(name).cloned()
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    #[test]
    fn the_sdk_is_configured_from_lambdas_environment() {
        let config = sdk_config_from(environment(LAMBDA)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(4)));
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
        // No endpoint configured: the SDKs resolve AWS's own.
        assert_eq!(endpoint(&config, "DynamoDB"), None);
    }

    /// The endpoint `config` gives the service with this id, as its client asks.
    fn endpoint(config: &SdkConfig, service: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        config.service_config().unwrap().load_config(key)
    }

    #[test]
    fn endpoints_are_read_per_service_then_for_all() {
        let mut vars = LAMBDA.to_vec();
        vars.push(("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"));
        vars.push(("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://127.0.0.1:8001"));
        let config = sdk_config_from(environment(&vars)).unwrap();
        assert_eq!(
            endpoint(&config, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            endpoint(&config, "DynamoDB Streams").as_deref(),
            Some("http://127.0.0.1:8001")
        );
        assert_eq!(endpoint(&config, "EventBridge"), None);
        vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9999"));
        let config = sdk_config_from(environment(&vars)).unwrap();
        assert_eq!(
            endpoint(&config, "EventBridge").as_deref(),
            Some("http://127.0.0.1:9999")
        );
        vars.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"));
        let ignored = sdk_config_from(environment(&vars)).unwrap();
        assert_eq!(endpoint(&ignored, "DynamoDB"), None);
    }

    #[test]
    fn a_missing_region_or_credentials_fails_by_name() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let vars: Vec<_> = LAMBDA
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let error = sdk_config_from(environment(&vars)).unwrap_err();
            assert!(error.contains(missing), "{error}");
        }
        // The session token is optional (long-term keys, locally).
        let vars: Vec<_> = LAMBDA
            .iter()
            .copied()
            .filter(|(k, _)| *k != "AWS_SESSION_TOKEN")
            .collect();
        assert!(sdk_config_from(environment(&vars)).is_ok());
        // AWS_DEFAULT_REGION stands in for AWS_REGION, as in the SDKs.
        let mut vars: Vec<_> = LAMBDA
            .iter()
            .copied()
            .filter(|(k, _)| *k != "AWS_REGION")
            .collect();
        vars.push(("AWS_DEFAULT_REGION", "us-east-1"));
        let config = sdk_config_from(environment(&vars)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
    }

    /// One event of each level from `target`, as the runtime's own would be.
    fn every_level_from(target: &'static str) {
        macro_rules! each_level {
            ($target:literal) => {{
                tracing::trace!(target: $target, body = "Bearer eyJ.secret", "raw JSON event received from Lambda");
                tracing::debug!(target: $target, "debug");
                tracing::info!(target: $target, "info");
                tracing::warn!(target: $target, "warn");
                tracing::error!(target: $target, "error");
            }};
        }
        match target {
            "lambda_runtime::layers::api_response" => {
                each_level!("lambda_runtime::layers::api_response")
            }
            "lambda_http" => each_level!("lambda_http"),
            "hyper::proto::h1" => each_level!("hyper::proto::h1"),
            "aws_smithy_runtime::client" => each_level!("aws_smithy_runtime::client"),
            "shared::auth" => each_level!("shared::auth"),
            "functions::routes" => each_level!("functions::routes"),
            _ => unreachable!("{target}"),
        }
    }

    fn levels(lines: &[serde_json::Value]) -> Vec<&str> {
        lines.iter().map(|l| l["level"].as_str().unwrap()).collect()
    }

    #[test]
    fn dependencies_never_log_below_info_whatever_the_level() {
        for dependency in [
            "lambda_runtime::layers::api_response",
            "lambda_http",
            "hyper::proto::h1",
            "aws_smithy_runtime::client",
        ] {
            for level in [LevelFilter::TRACE, LevelFilter::DEBUG] {
                let (_, lines) = logged_at(level, || every_level_from(dependency));
                assert_eq!(
                    levels(&lines),
                    ["INFO", "WARN", "ERROR"],
                    "{dependency} at {level}"
                );
                let text = serde_json::to_string(&lines).unwrap();
                assert!(!text.contains("Bearer"), "{text}");
            }
            let (_, lines) = logged_at(LevelFilter::WARN, || every_level_from(dependency));
            assert_eq!(levels(&lines), ["WARN", "ERROR"], "{dependency} at WARN");
            let (_, lines) = logged_at(LevelFilter::OFF, || every_level_from(dependency));
            assert!(lines.is_empty(), "{lines:?}");
        }
    }

    #[test]
    fn this_services_crates_log_at_the_configured_level() {
        for own in ["shared::auth", "functions::routes"] {
            let (_, lines) = logged_at(LevelFilter::TRACE, || every_level_from(own));
            assert_eq!(levels(&lines), ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]);
            let (_, lines) = logged_at(LevelFilter::DEBUG, || every_level_from(own));
            assert_eq!(levels(&lines), ["DEBUG", "INFO", "WARN", "ERROR"]);
            let (_, lines) = logged_at(LevelFilter::ERROR, || every_level_from(own));
            assert_eq!(levels(&lines), ["ERROR"]);
        }
    }

    #[test]
    fn every_line_has_lambdas_level_and_an_rfc_3339_timestamp() {
        let before = time::OffsetDateTime::now_utc();
        let (_, lines) = logged_at(LevelFilter::TRACE, || {
            let span = tracing::info_span!("request", path = "/devices");
            span.in_scope(|| tracing::error!(code = "X", "request failed"));
            tracing::warn!("slow");
        });
        let after = time::OffsetDateTime::now_utc();
        assert_eq!(levels(&lines), ["ERROR", "WARN"], "Lambda's level names");
        for line in &lines {
            let timestamp = line["timestamp"]
                .as_str()
                .expect("a timestamp on every line");
            let at = time::OffsetDateTime::parse(
                timestamp,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap_or_else(|e| panic!("{timestamp:?} is not RFC 3339: {e}"));
            assert!(timestamp.ends_with('Z'), "UTC: {timestamp}");
            let slack = time::Duration::seconds(1);
            assert!(before - slack <= at && at <= after + slack, "{timestamp}");
        }
        assert_eq!(lines[0]["span"]["path"], "/devices");
        assert_eq!(lines[0]["fields"]["message"], "request failed");
        assert!(lines[0].get("target").is_none());
    }

    #[test]
    fn lambdas_log_level_comes_before_rust_log() {
        let level = |vars: &[(&str, &str)]| log_level(environment(vars));
        assert_eq!(level(&[]), LevelFilter::INFO);
        assert_eq!(level(&[("RUST_LOG", "debug")]), LevelFilter::DEBUG);
        assert_eq!(
            level(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]),
            LevelFilter::WARN
        );
        assert_eq!(
            level(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "trace")]),
            LevelFilter::WARN,
            "the deployment's LogLevel wins"
        );
        assert_eq!(
            level(&[("AWS_LAMBDA_LOG_LEVEL", "TRACE"), ("RUST_LOG", "error")]),
            LevelFilter::TRACE
        );
        assert_eq!(
            level(&[("AWS_LAMBDA_LOG_LEVEL", "loud"), ("RUST_LOG", "error")]),
            LevelFilter::ERROR,
            "not a level: the next"
        );
        assert_eq!(level(&[("RUST_LOG", "shared=debug")]), LevelFilter::INFO);
    }

    #[test]
    fn only_a_deadline_still_ahead_bounds_a_request() {
        let ahead = SystemTime::now() + Duration::from_secs(10);
        let found = Deadline::of_request(&invoked_with_deadline(Some(ahead)))
            .0
            .unwrap();
        let error = found.duration_since(ahead).unwrap_or_else(|e| e.duration());
        assert!(error < Duration::from_millis(1), "kept to the millisecond");
        // cargo lambda watch's fixed value, and no context at all.
        let watch = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(
            Deadline::of_request(&invoked_with_deadline(Some(watch))).0,
            None
        );
        assert_eq!(Deadline::of_request(&invoked_with_deadline(None)).0, None);
    }
}
