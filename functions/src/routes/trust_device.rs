//! `POST /devices/trust` — trust the caller's device with this fingerprint, for the
//! trust period (never forever). Reads the session, the fingerprint item and the
//! device by key.

use serde::Deserialize;
use serde_json::json;
use shared::app::Part;
use shared::domain::rfc3339;
use shared::domain::{EventType, SecurityEvent, Target};
use shared::input::{self, Text};
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to trust device";

#[derive(Debug, Deserialize)]
struct TrustRequest {
    fingerprint: Text<512>,
}

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let body: TrustRequest = input::json_body(&request)?;
    let fingerprint = body.fingerprint.as_str();
    let caller = app
        .caller_with(identity, Part::Fingerprint(fingerprint))
        .await?;
    // Granting trust needs a recent sign-in (docs/design.md "Step-up").
    app.stepped_up(&caller.identity, &caller.session)?;
    let Some(device) = caller.account.device_by_fingerprint(fingerprint) else {
        // A wrong guess costs like a trust (docs/design.md "Fingerprints").
        app.store.spend_write(&caller.identity, caller.now).await?;
        return Err(Error::DeviceNotFound);
    };
    let expires_at = caller.now + app.config.trust_period;
    let event = SecurityEvent::by(
        &caller.identity.user_id,
        &caller.identity.session_id,
        EventType::DeviceTrusted,
        Target::Device(&device.id),
        input::origin(&request),
    );
    app.store
        .trust_device(&caller.identity, device, expires_at, &event, caller.now)
        .await?;
    let trust_expires_at = rfc3339(expires_at);
    Ok(
        Reply::ok(json!({ "deviceId": device.id.as_str(), "trustExpiresAt": trust_expires_at }))
            .message("Device trusted successfully")
            .with("trustExpiresAt", &trust_expires_at),
    )
}
