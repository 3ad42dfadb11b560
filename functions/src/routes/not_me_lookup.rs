//! `POST /account/not-me/lookup` — what the "This wasn't me" page shows before the
//! owner decides: the sign-in its link names (device, OS and browser, place, time),
//! looked up with the code without spending it (docs/report-link.md). No Bearer: the
//! code is the credential. Read-only but for the source address's budget: opening the
//! page, by a person or a mail scanner, changes nothing. Used, expired and unknown
//! codes get one answer, 404 `CODE_NOT_FOUND`.

use serde_json::json;
use shared::domain::{DeviceId, rfc3339};
use shared::useragent::UserAgent;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to look up the sign-in";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let reported = app.reported_sign_in(&request).await?;
    let (code, sign_in) = (&reported.code, &reported.sign_in);
    // The device as it is now, else as the sign-in's User-Agent described it.
    let device = match sign_in.device_id.as_deref().and_then(DeviceId::parse) {
        Some(id) => app.store.device(&code.user, &id).await?,
        None => None,
    };
    let user_agent = sign_in.origin.user_agent.as_deref().unwrap_or_default();
    let described = UserAgent::parse(user_agent);
    let (name, device_type, os, browser) = match &device {
        Some(device) => (
            device.name.clone(),
            device.device_type.as_str(),
            device.os.clone(),
            device.browser.clone(),
        ),
        None => (
            described.device_name(),
            described.device_type.as_str(),
            described.os.to_string(),
            described.browser.to_string(),
        ),
    };
    Ok(Reply::ok(json!({
        "deviceName": name,
        "deviceType": device_type,
        "os": os,
        "browser": browser,
        "location": sign_in.origin.location,
        "ipAddress": sign_in.origin.source_ip,
        "signedInAt": rfc3339(sign_in.at()),
        "linkExpiresAt": rfc3339(code.expires_at),
    })))
}
