//! One error type for every endpoint, and the one place it becomes a response.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{self, ALLOW, HeaderName, RETRY_AFTER, WWW_AUTHENTICATE};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

use crate::domain::{EndReason, ProofRefused, SessionEnded};

/// Why a request was refused as unauthenticated (all map to 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header at all (RFC 6750 §3.1: no error code is sent).
    Missing,
    /// A header that is not exactly `Bearer <token>`.
    Malformed,
    /// The token failed verification (signature, algorithm, time, issuer, audience, claims).
    InvalidToken,
    /// The token is fine but its session is over (revoked, expired: the reason says
    /// which) or was never registered (`NotRegistered`).
    SessionEnded(EndReason),
    /// Ending another session or granting trust needs a more recent sign-in (RFC
    /// 9470): the token's `auth_time`, else the session's registration, is older than
    /// this many seconds.
    StepUpRequired { max_age: i64 },
    /// At registration: the token could register its session id again once that id's
    /// marker is gone: it stays valid longer, or its sign-in (`auth_time`, else `iat`)
    /// is older than the absolute timeout, absent or in the future.
    TokenOutlivesSession,
    /// The session is bound to a device key (DPoP, RFC 9449) and the request carries no
    /// proof (docs/device-binding.md).
    ProofRequired,
    /// A DPoP proof that fails any check: signature, key, method, URL, time, token
    /// hash, single use, or another key than the session's.
    InvalidProof,
    /// With server nonces on, a valid proof without the current nonce (RFC 9449 §9):
    /// the answer carries one (`DPoP-Nonce`) for the client to sign a new proof with.
    NonceRequired,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("unauthorized: {0:?}")]
    Unauthorized(AuthFailure),
    #[error("Device not found")]
    DeviceNotFound,
    #[error("Session not found")]
    SessionNotFound,
    /// The heartbeat's documented wording for the same condition.
    #[error("Session not found or expired")]
    SessionNotFoundOrExpired,
    /// A devices-page hand-off code unknown, used or expired: one answer for all
    /// three, so codes cannot be probed (docs/devices-page.md).
    #[error("This link has expired or was already used")]
    CodeNotFound,
    #[error("{0}")]
    Conflict(&'static str),
    /// The user holds the most active sessions allowed, and the policy refuses more.
    #[error("Too many active sessions: sign out of one first")]
    SessionLimitReached,
    /// The user holds the most devices allowed, each trusted or in use: none can make
    /// room for a new one.
    #[error("Too many devices: remove one, or end the sessions of one that is not trusted, first")]
    DeviceLimitReached,
    /// The user's write budget for this minute is spent.
    #[error("Too many requests, retry later")]
    RateLimited { retry_after: u64 },
    /// A service route called without the IAM identity API Gateway verifies.
    #[error("This route is for platform services signing with AWS IAM")]
    Forbidden,
    #[error("Route not found")]
    RouteNotFound,
    /// A known path with a method it does not take; the methods it does.
    #[error("Method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// DynamoDB unreachable, timing out or throttling after the SDK's retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::DeviceNotFound | Error::SessionNotFound | Error::SessionNotFoundOrExpired => {
                StatusCode::NOT_FOUND
            }
            Error::CodeNotFound => StatusCode::NOT_FOUND,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::RouteNotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) | Error::SessionLimitReached | Error::DeviceLimitReached => {
                StatusCode::CONFLICT
            }
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code of the envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. } => code,
            Error::Unauthorized(AuthFailure::Missing) => "MISSING_TOKEN",
            Error::Unauthorized(AuthFailure::Malformed | AuthFailure::InvalidToken) => {
                "INVALID_TOKEN"
            }
            Error::Unauthorized(AuthFailure::SessionEnded(_)) => "SESSION_ENDED",
            Error::Unauthorized(AuthFailure::StepUpRequired { .. }) => "STEP_UP_REQUIRED",
            Error::Unauthorized(AuthFailure::TokenOutlivesSession) => "TOKEN_OUTLIVES_SESSION",
            Error::Unauthorized(AuthFailure::ProofRequired) => "DPOP_PROOF_REQUIRED",
            Error::Unauthorized(AuthFailure::InvalidProof) => "INVALID_DPOP_PROOF",
            Error::Unauthorized(AuthFailure::NonceRequired) => "USE_DPOP_NONCE",
            Error::DeviceNotFound => "DEVICE_NOT_FOUND",
            Error::SessionNotFound | Error::SessionNotFoundOrExpired => "SESSION_NOT_FOUND",
            Error::CodeNotFound => "CODE_NOT_FOUND",
            Error::Forbidden => "IAM_REQUIRED",
            Error::RouteNotFound => "ROUTE_NOT_FOUND",
            Error::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Error::Conflict(_) => "CONFLICT",
            Error::SessionLimitReached => "SESSION_LIMIT_REACHED",
            Error::DeviceLimitReached => "DEVICE_LIMIT_REACHED",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Error::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Error::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Error::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// A DPoP refusal: no proof for a bound session, or a proof that failed a check.
    pub fn is_proof_refusal(&self) -> bool {
        matches!(
            self,
            Error::Unauthorized(AuthFailure::ProofRequired | AuthFailure::InvalidProof)
        )
    }

    /// Why the caller's session ended, for the envelope's `reason` (401 only).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::Unauthorized(AuthFailure::SessionEnded(reason)) => Some(reason.as_str()),
            _ => None,
        }
    }

    /// The human message of the envelope. `failure` is the endpoint's documented
    /// 500 text ("Failed to retrieve devices"), so a fault never leaks its cause.
    pub fn message(&self, failure: &'static str) -> String {
        match self {
            Error::Unauthorized(AuthFailure::Missing) => "Authentication required".into(),
            Error::Unauthorized(AuthFailure::Malformed) => {
                "Authorization header must be 'Bearer <token>'".into()
            }
            Error::Unauthorized(AuthFailure::InvalidToken) => "Invalid or expired token".into(),
            Error::Unauthorized(AuthFailure::SessionEnded(EndReason::NotRegistered)) => {
                "Session not registered".into()
            }
            Error::Unauthorized(AuthFailure::SessionEnded(_)) => {
                "Session revoked or expired".into()
            }
            Error::Unauthorized(AuthFailure::StepUpRequired { .. }) => {
                "A more recent sign-in is required".into()
            }
            Error::Unauthorized(AuthFailure::TokenOutlivesSession) => {
                "Token expires later than its session id is remembered".into()
            }
            Error::Unauthorized(AuthFailure::ProofRequired) => {
                "This session is bound to a device key: a DPoP proof is required".into()
            }
            Error::Unauthorized(AuthFailure::InvalidProof) => "Invalid DPoP proof".into(),
            Error::Unauthorized(AuthFailure::NonceRequired) => {
                "Sign a new DPoP proof with the nonce in this answer's DPoP-Nonce header".into()
            }
            Error::Unavailable(_) => "Service temporarily unavailable, retry later".into(),
            Error::Internal(_) => failure.into(),
            other => other.to_string(),
        }
    }

    /// The failure envelope, `{"success": false, "error": …, "code": …, "reason"?: …}`
    /// (docs/api.md); `failure` is the endpoint's documented 500 message.
    pub fn into_response(self, failure: &'static str) -> Response<Body> {
        let mut body = json!({
            "success": false,
            "error": self.message(failure),
            "code": self.code(),
        });
        if let Some(reason) = self.reason() {
            body["reason"] = json!(reason);
        }
        json_response(self.status(), &body, self.headers())
    }

    /// Headers the answer carries. RFC 6750 §3: every 401 has a challenge; a request
    /// that sent no credentials gets no error code, any other failure `invalid_token`
    /// (a malformed header too: this API answers every auth failure with 401). A 429
    /// says when to retry.
    pub fn headers(&self) -> Vec<(HeaderName, String)> {
        match self {
            Error::Unauthorized(AuthFailure::Missing) => {
                vec![(WWW_AUTHENTICATE, r#"Bearer realm="flashback""#.into())]
            }
            Error::Unauthorized(AuthFailure::StepUpRequired { max_age }) => vec![(
                WWW_AUTHENTICATE,
                format!(
                    r#"Bearer realm="flashback", error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age={max_age}"#
                ),
            )],
            Error::Unauthorized(AuthFailure::ProofRequired | AuthFailure::InvalidProof) => vec![(
                WWW_AUTHENTICATE,
                format!(
                    r#"DPoP error="invalid_dpop_proof", algs="{}""#,
                    crate::auth::dpop::ALGORITHMS
                ),
            )],
            Error::Unauthorized(AuthFailure::NonceRequired) => vec![(
                WWW_AUTHENTICATE,
                format!(
                    r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="{}""#,
                    crate::auth::dpop::ALGORITHMS
                ),
            )],
            Error::Unauthorized(_) => vec![(
                WWW_AUTHENTICATE,
                r#"Bearer realm="flashback", error="invalid_token""#.into(),
            )],
            Error::RateLimited { retry_after } => vec![(RETRY_AFTER, retry_after.to_string())],
            Error::MethodNotAllowed { allow } => vec![(ALLOW, allow.clone())],
            _ => Vec::new(),
        }
    }
}

/// A JSON answer with the headers every envelope carries, failure or success
/// (`Reply::into_response`).
pub(crate) fn json_response(
    status: StatusCode,
    body: &Value,
    headers: Vec<(HeaderName, String)>,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::Text(body.to_string()))
        .expect("static headers are valid")
}

/// A bound session refusing the request's proof (or its absence): 401.
impl From<ProofRefused> for Error {
    fn from(refused: ProofRefused) -> Self {
        Error::Unauthorized(match refused {
            ProofRefused::Required => AuthFailure::ProofRequired,
            ProofRefused::OtherKey => AuthFailure::InvalidProof,
        })
    }
}

/// The domain's guard refusing the caller's session: 401 with the reason.
impl From<SessionEnded> for Error {
    fn from(SessionEnded(reason): SessionEnded) -> Self {
        Error::Unauthorized(AuthFailure::SessionEnded(reason))
    }
}
