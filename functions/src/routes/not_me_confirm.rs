//! `POST /account/not-me/confirm` — the "Sign that device out" button of the "This
//! wasn't me" page (docs/report-link.md). Spends the code and ends exactly the sign-in
//! it names, in one transaction with its `SIGN_IN_REPORTED` event: that session revoked
//! with reason `REPORTED`, the device the sign-in created removed (its trust, key
//! binding and fingerprint with it, and any other session on it), the code's marker
//! created once. A second confirm, like a used, expired or unknown code, gets 404
//! `CODE_NOT_FOUND`. No Bearer: the code is the credential.

use serde_json::json;
use shared::domain::{DeviceId, SessionId};
use shared::store::Spend;
use shared::{App, Cascade, Error, Principal, Reply, Request, input};

pub const FAILURE: &str = "Failed to end the reported sign-in";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let reported = app.reported_sign_in(&request).await?;
    let (code, sign_in) = (&reported.code, &reported.sign_in);
    let session = SessionId::parse(&sign_in.target.1).ok_or(Error::CodeNotFound)?;
    let device = sign_in.device_id.as_deref().and_then(DeviceId::parse);
    let spend = Spend {
        user: code.user.clone(),
        event_sort_key: code.event_sort_key(),
        expires_at: code.expires_at,
    };
    let by = Principal::ReportLink {
        user: code.user.clone(),
    };
    let report = Cascade::Report {
        session: &session,
        device: device.as_ref(),
        spend: &spend,
    };
    let ended = app
        .cascade(&by, report, input::origin(&request), None)
        .await?;
    tracing::info!(ended, "a sign-in was reported");
    Ok(Reply::ok(json!({ "sessionsEnded": ended })).message("That device is signed out"))
}
