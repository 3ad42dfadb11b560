//! `GET /sessions/current` — who is calling: the caller's own session, with its device
//! and the device's trust, for services that prefer one call to the authorizer (Ory
//! Kratos' `whoami`, in this API's envelope). Two items read by key: the session
//! (the guard) and its device.

use serde_json::json;
use shared::app::Part;
use shared::views::{DeviceView, SessionView};
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to retrieve session";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let caller = app.caller_with(identity, Part::OwnDevice).await?;
    let session = SessionView::of(&caller, &caller.session);
    let device = caller
        .account
        .device(&caller.session.device_id)
        .map(|device| DeviceView::of(&caller, device));
    let whoami = json!({
        "userId": caller.identity.user_id.as_str(),
        "session": session,
        "device": device,
    });
    Ok(Reply::ok(&whoami)
        .with("session", &session)
        .with("device", &device))
}
