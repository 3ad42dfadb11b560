//! `POST /account/not-me/lookup` — what the "This wasn't me" page shows before the
//! owner decides: the sign-in its link names (device, OS and browser, place, time),
//! as the sign-in recorded them, looked up with the code without spending it
//! (docs/report-link.md): one read of its event. No Bearer: the
//! code is the credential. Read-only but for the source address's budget: opening the
//! page, by a person or a mail scanner, changes nothing. Used, expired and unknown
//! codes get one answer, 404 `CODE_NOT_FOUND`.

use serde_json::json;
use shared::domain::rfc3339;
use shared::useragent::UserAgent;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to look up the sign-in";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let reported = app.reported_sign_in(&request).await?;
    let (code, sign_in) = (&reported.code, &reported.sign_in);
    // The sign-in as it was recorded, never the device as it is now: any session of
    // the account (the thief's too) can rename a device to look like the owner's.
    let described = UserAgent::parse(sign_in.origin.user_agent.as_deref().unwrap_or_default());
    Ok(Reply::ok(json!({
        "deviceName": described.device_name(),
        "deviceType": described.device_type.as_str(),
        "os": described.os,
        "browser": described.browser,
        "location": sign_in.origin.location,
        "ipAddress": sign_in.origin.source_ip,
        "signedInAt": rfc3339(sign_in.at()),
        "linkExpiresAt": rfc3339(code.expires_at),
    })))
}
