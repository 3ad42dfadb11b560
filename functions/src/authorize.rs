//! The Lambda authorizer the platform's other APIs attach, so that a revoked or
//! expired session is refused by every API on its next request, not only by this one.
//! Not a route: it decides exactly as every route does (the token, then the session
//! guard), answers in the shape the event asks for, and fails closed: every refusal or
//! fault is a deny, never an error API Gateway would turn into a 500
//! (docs/authorizer.md).

use std::convert::Infallible;

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::{Map, Value, json};
use shared::app::Part;
use shared::auth::dpop;
use shared::domain::{TrustLevel, rfc3339, trust_level};
use shared::error::{AuthFailure, Error};
use shared::{App, Deadline, metrics};
use tracing::Instrument;

/// The principal of every deny: nobody is named on a refusal.
pub const ANONYMOUS: &str = "anonymous";

/// What a deny says in its context: only whether trying again later can help. An
/// attacker learns nothing here it could not see anyway (no difference between a
/// missing, forged or expired token, nor between an unknown, revoked or expired
/// session: all are `UNAUTHORIZED`); an API can map it into its gateway responses to
/// tell "sign in again" from "retry".
pub const DENIED: &str = "UNAUTHORIZED";
pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// How API Gateway wants the answer, read from the event's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// HTTP API, payload format 2.0 (simple responses).
    Simple,
    /// REST API (`REQUEST` or `TOKEN`), or HTTP API payload 1.0: an IAM policy on
    /// `resource`, every method of the calling stage. API Gateway caches the answer by
    /// token, not by method, and the decision depends on the session alone.
    Policy { resource: String },
}

/// The answer to one authorizer event. Never fails: every refusal is a deny.
/// The decision is bounded by the invocation's `deadline` ([`Deadline::bound`]): near
/// it, a deny, rather than leave Lambda's timeout to answer with an error.
pub async fn handle(app: &App, event: Value, deadline: Deadline) -> Value {
    decision(app, event, deadline).await.0
}

/// [`handle`]'s answer, and the code of its deny (`None`: allowed), for the metrics.
async fn decision(app: &App, event: Value, deadline: Deadline) -> (Value, Option<&'static str>) {
    let started = std::time::Instant::now();
    let Some((shape, presented)) = read(&event) else {
        // A misconfigured authorizer, or not API Gateway: say what was sent (the keys
        // only: values may hold a token) and deny in every shape at once.
        let keys: Vec<&str> = event
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        tracing::error!(?keys, "not an authorizer event of a known shape: denied");
        return (unknown_shape_deny(), Some("UNKNOWN_EVENT"));
    };
    // On the heap: a debug build's decision future is large.
    let decided = Box::pin(decide(app, presented, deadline)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    match decided {
        Ok(allowed) => {
            tracing::info!(decision = "allow", latency_ms, "authorized");
            let answer = answer(&shape, Some(&allowed.principal), allowed.context);
            (answer, None)
        }
        Err(error) => {
            let reason = match error {
                Error::Unauthorized(_) if error.is_proof_refusal() => {
                    // How a copied or replayed token of a bound session shows.
                    tracing::warn!(
                        decision = "deny",
                        code = error.code(),
                        latency_ms,
                        "DPoP proof refused"
                    );
                    shared::metrics::count(shared::metrics::DPOP_REFUSALS, 1);
                    DENIED
                }
                Error::Unauthorized(_) => {
                    tracing::info!(
                        decision = "deny",
                        code = error.code(),
                        session = error.reason(),
                        latency_ms,
                        "refused"
                    );
                    DENIED
                }
                // DynamoDB unreachable, slow or throttling, no published keys, the
                // deadline near: fail closed, with the cause (never the token).
                _ => {
                    tracing::error!(%error, code = error.code(), latency_ms, "failed closed: denied");
                    UNAVAILABLE
                }
            };
            let context = Map::from_iter([("reason".to_string(), json!(reason))]);
            (answer(&shape, None, context), Some(error.code()))
        }
    }
}

/// The authorizer's metrics line: `Allows`, or `Denies` by function and by the deny's
/// code (docs/operations.md#metrics); a key fetch that failed, by function.
pub fn decision_line(
    denied: Option<&'static str>,
    counts: &[(&'static str, f64)],
) -> metrics::Line {
    let line = metrics::Line::new("authorize");
    let line = match denied {
        None => line.count(metrics::ALLOWS, 1.0, &[&["Function"]]),
        Some(code) => line.dimension("Code", code).count(
            metrics::DENIES,
            1.0,
            &[&["Function"], &["Function", "Code"]],
        ),
    };
    line.counters(counts)
}

/// Who was allowed, and what the backend is told.
struct Allowed {
    principal: String,
    context: Map<String, Value>,
}

/// The token verified, the session and its device read by key (two strongly
/// consistent GetItems, whatever the account's size) and the session guarded, and,
/// with `AUTHORIZER_ACTIVITY_SECONDS`, its activity recorded.
async fn decide(app: &App, presented: Presented<'_>, deadline: Deadline) -> Result<Allowed, Error> {
    let read = async {
        let (authorization, proof) = (presented.authorization?, presented.proof?);
        // No server nonce: an authorizer's answer cannot carry one to the caller
        // (docs/device-binding.md "Nonces"); the proof's time window and single use hold.
        let identity = app
            .identify(authorization, proof, &presented.target, None)
            .await?;
        app.caller_with(identity, Part::OwnDevice).await
    };
    let caller = deadline.bound(read).await?;
    let (identity, session, now) = (&caller.identity, &caller.session, caller.now);
    let trust = caller
        .account
        .device(&session.device_id)
        .map_or(TrustLevel::Unknown, |d| {
            trust_level(d.trust, d.trust_expires_at, now)
        });
    let absolute = session.lifetime.absolute_expires_at;
    let mut expires_at = session.lifetime.expires_at.min(absolute);
    let every = app.config.authorizer_activity;
    if every > 0 {
        let idle = app.config.idle_timeout;
        let touch = app
            .store
            .touch(&identity.user_id, session, now, idle, every);
        match deadline.bound(touch).await {
            Ok(Some(slid)) => expires_at = slid,
            // Slid within the interval already, or ended since the read: the guard
            // decided this call; the next one reads the ending.
            Ok(None) => {}
            // The session was read alive: a lost activity record (a fault, or the
            // deadline near) only shortens its life, so the call is still allowed.
            Err(error) => tracing::warn!(%error, "activity not recorded"),
        }
    }
    let context = [
        ("userId", json!(identity.user_id.as_str())),
        ("sessionId", json!(identity.session_id.as_str())),
        ("deviceId", json!(session.device_id.as_str())),
        ("trustLevel", json!(trust)),
        ("isTrusted", json!(trust == TrustLevel::High)),
        ("expiresAt", json!(rfc3339(expires_at))),
        ("absoluteExpiresAt", json!(rfc3339(absolute))),
        ("keyBound", json!(session.key_thumbprint.is_some())),
    ];
    Ok(Allowed {
        principal: identity.user_id.as_str().to_string(),
        context: context
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect(),
    })
}

/// What a request presented: its `Authorization` value (`None`: absent; an error:
/// malformed), its DPoP proof, and the method and URL the proof must name.
struct Presented<'a> {
    authorization: Result<Option<&'a str>, Error>,
    proof: Result<Option<&'a str>, Error>,
    target: dpop::Target,
}

/// The event's shape and what the request presented. `None` for an event of no
/// known shape. A `TOKEN` event carries no other header, so no proof: a key-bound
/// session is refused through it (docs/authorizer.md).
fn read(event: &Value) -> Option<(Shape, Presented<'_>)> {
    let kind = event.get("type").and_then(Value::as_str);
    let policy = || {
        let arn = event.get("methodArn")?.as_str()?;
        Some(Shape::Policy {
            resource: stage_wildcard(arn)?,
        })
    };
    let presented = || Presented {
        authorization: header(event, "authorization"),
        proof: header(event, dpop::HEADER),
        target: target(event),
    };
    match kind {
        Some("REQUEST")
            if event.get("version").and_then(Value::as_str) == Some("2.0")
                && event.get("routeArn").is_some_and(Value::is_string) =>
        {
            Some((Shape::Simple, presented()))
        }
        Some("REQUEST") => Some((policy()?, presented())),
        Some("TOKEN") => {
            let token = match event.get("authorizationToken") {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(value)) => Ok(Some(value.as_str())),
                Some(_) => Err(Error::Unauthorized(AuthFailure::Malformed)),
            };
            let presented = Presented {
                authorization: token,
                proof: Ok(None),
                target: target(event),
            };
            Some((policy()?, presented))
        }
        _ => None,
    }
}

/// The method and URL the client called, from the event: HTTP APIs give
/// `requestContext.http.method` and `rawPath`, REST APIs `httpMethod` and
/// `requestContext.path` (the stage included); both the `domainName` called.
fn target(event: &Value) -> dpop::Target {
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    let method = text("/requestContext/http/method").or_else(|| text("/httpMethod"));
    let path = text("/rawPath")
        .or_else(|| text("/requestContext/path"))
        .or_else(|| text("/path"));
    dpop::Target {
        method: method.unwrap_or_default().to_string(),
        url: format!(
            "https://{}{}",
            text("/requestContext/domainName").unwrap_or_default(),
            path.unwrap_or_default()
        ),
    }
}

/// The header `name` of a `REQUEST` event, by any case: HTTP APIs lowercase
/// names and join repeated headers with commas (then malformed); REST APIs
/// keep the client's case and list repeats in `multiValueHeaders`.
fn header<'a>(event: &'a Value, name: &str) -> Result<Option<&'a str>, Error> {
    let malformed = || match name {
        "authorization" => Error::Unauthorized(AuthFailure::Malformed),
        _ => dpop::invalid(),
    };
    let named = |field: &str| {
        event
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
            .collect::<Vec<_>>()
    };
    let repeated = named("multiValueHeaders")
        .iter()
        .map(|values| values.as_array().map_or(1, Vec::len))
        .sum::<usize>()
        > 1;
    let found = named("headers");
    if repeated || found.len() > 1 {
        return Err(malformed());
    }
    match found.first().copied() {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err(malformed()),
    }
}

/// `arn:…:execute-api:<region>:<account>:<api>/<stage>/<method>/<path>` →
/// `arn:…:<api>/<stage>/*`: every method of the stage. `None` for anything else.
fn stage_wildcard(method_arn: &str) -> Option<String> {
    let (api, rest) = method_arn.split_once('/')?;
    let (stage, _) = rest.split_once('/')?;
    let parts: Vec<&str> = api.split(':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "execute-api"
        && parts[3..].iter().all(|p| !p.is_empty())
        && !stage.is_empty()
        && !stage.contains('*');
    well_formed.then(|| format!("{api}/{stage}/*"))
}

/// The answer in the event's shape: allowed for `principal`, or denied.
fn answer(shape: &Shape, principal: Option<&str>, context: Map<String, Value>) -> Value {
    match shape {
        Shape::Simple => json!({ "isAuthorized": principal.is_some(), "context": context }),
        Shape::Policy { resource } => json!({
            "principalId": principal.unwrap_or(ANONYMOUS),
            "policyDocument": policy(principal.is_some(), resource),
            "context": context,
        }),
    }
}

/// A deny every shape reads as one: `isAuthorized: false` and a Deny policy on
/// everything.
fn unknown_shape_deny() -> Value {
    json!({
        "isAuthorized": false,
        "principalId": ANONYMOUS,
        "policyDocument": policy(false, "*"),
        "context": { "reason": DENIED },
    })
}

fn policy(allow: bool, resource: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Action": "execute-api:Invoke",
            "Effect": if allow { "Allow" } else { "Deny" },
            "Resource": resource,
        }],
    })
}

/// Runs the authorizer as a Lambda function (`src/bin/authorize.rs`): the cold start
/// of every function here, then one [`handle`] per event.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    let app = App::cold_start().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let deadline = Deadline::of(&event.context);
        let span = tracing::info_span!(
            "authorize",
            request_id = %event.context.request_id,
            user = tracing::field::Empty,
        );
        let work = decision(app, event.payload, deadline).instrument(span);
        let ((answer, denied), counts) = metrics::counted(work).await;
        decision_line(denied, &counts).emit();
        Ok::<_, Infallible>(answer)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_every_method_of_the_calling_stage_only() {
        assert_eq!(
            stage_wildcard("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/devices/x")
                .as_deref(),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*")
        );
        for bad in [
            "",
            "*",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/GET/x",
            "arn:aws:lambda:eu-west-1:123456789012:abc123/prod/GET/x",
            "arn:aws:execute-api:eu-west-1::abc123/prod/GET/x",
        ] {
            assert_eq!(stage_wildcard(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_deny_is_counted_by_its_code_and_an_allow_by_function() {
        let at = std::time::SystemTime::now();
        let ns = metrics::DEFAULT_NAMESPACE;
        let deny = decision_line(Some("SESSION_ENDED"), &[]).to_json(ns, at);
        assert_eq!(
            (deny["Denies"].as_f64(), deny["Code"].as_str()),
            (Some(1.0), Some("SESSION_ENDED"))
        );
        assert_eq!(
            deny["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"], ["Function", "Code"]])
        );
        let allow = decision_line(None, &[(metrics::KEY_REFRESH_FAILURES, 1.0)]).to_json(ns, at);
        assert_eq!(allow["Allows"], 1.0);
        assert_eq!(allow["KeyRefreshFailures"], 1.0);
        assert!(
            allow.get("Denies").is_none() && allow.get("Code").is_none(),
            "{allow}"
        );
    }

    #[test]
    fn the_header_is_found_by_any_case_and_refused_when_repeated() {
        let event = |headers: Value| json!({ "type": "REQUEST", "headers": headers });
        assert_eq!(
            header(
                &event(json!({ "Authorization": "Bearer a" })),
                "authorization"
            )
            .unwrap(),
            Some("Bearer a")
        );
        assert_eq!(
            header(
                &event(json!({ "authorization": "Bearer a" })),
                "authorization"
            )
            .unwrap(),
            Some("Bearer a")
        );
        assert_eq!(header(&event(json!({})), "authorization").unwrap(), None);
        assert_eq!(header(&event(Value::Null), "authorization").unwrap(), None);
        assert!(
            header(
                &event(json!({ "Authorization": "a", "authorization": "b" })),
                "authorization"
            )
            .is_err()
        );
        let mut repeated = event(json!({ "Authorization": "Bearer b" }));
        repeated["multiValueHeaders"] = json!({ "Authorization": ["Bearer a", "Bearer b"] });
        assert!(header(&repeated, "authorization").is_err());
    }
}
