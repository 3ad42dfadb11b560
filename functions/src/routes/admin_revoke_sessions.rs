//! `POST /admin/users/{userId}/revoke-sessions` and
//! `POST /admin/users/{userId}/devices/{id}/revoke-sessions` — a platform service
//! (password reset, account lock, fraud response) ends every session of a user, or
//! every session on one of their devices, without the user's token.
//!
//! Authorized by IAM, not by a shared secret: API Gateway verifies the caller's SigV4
//! signature (`AWS_IAM` on these routes) and hands over the caller's ARN, which the
//! security event records. A request without that identity — a user's Bearer token
//! included — is refused with 403. The same cascade as revoke-all: no session that
//! signs in meanwhile is missed.

use serde::Deserialize;
use serde_json::json;
use shared::input::{self, Text};
use shared::{App, Cascade, Error, Principal, Reply, Request};

pub const FAILURE: &str = "Failed to revoke sessions";

/// An optional body: why, for the security event (`PASSWORD_RESET`, `FRAUD`, …).
#[derive(Debug, Default, Deserialize)]
struct AdminRevoke {
    #[serde(default)]
    reason: Option<Text<64>>,
}

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let arn = input::iam_caller(&request)?;
    let user = input::user_id(&request)?;
    let device = match input::has_id(&request) {
        true => Some(input::device_id(&request)?),
        false => None,
    };
    let body: AdminRevoke = input::optional_json_body(&request)?;
    tracing::Span::current().record("user", user.as_str());
    let cascade = match &device {
        Some(id) => Cascade::DeviceSessions(id),
        None => Cascade::AllSessions {
            keep_current: false,
        },
    };
    let by = Principal::Service {
        arn,
        user: user.clone(),
    };
    let reason = body.reason.as_ref().map(Text::as_str);
    let revoked = app
        .cascade(&by, cascade, input::origin(&request), reason)
        .await?;
    Ok(Reply::ok(json!({
        "userId": user.as_str(),
        "deviceId": device.as_ref().map(|d| d.as_str()),
        "revokedCount": revoked,
    }))
    .message("Sessions revoked successfully")
    .with("revokedCount", revoked))
}
