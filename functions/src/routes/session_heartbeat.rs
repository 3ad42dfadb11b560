//! `POST /sessions/{id}/heartbeat` and `POST /devices/{id}/heartbeat` — record
//! activity on the caller's session and slide its idle expiry, never past the
//! absolute cap. A session can only keep itself alive: `{id}` must be the caller's
//! session, or the device it is on.

use serde_json::json;
use shared::app::Part;
use shared::domain::rfc3339;
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to update session";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let device = if input::has_device_id(&request) {
        Some(input::device_id(&request)?)
    } else {
        if input::session_id(&request)? != identity.session_id {
            // Still a dead caller gets 401, not a hint: the guard runs first.
            app.caller_with(identity, Part::Session).await?;
            return Err(Error::SessionNotFoundOrExpired);
        }
        None
    };
    let now = app.now();
    let lifetime = app
        .store
        .heartbeat(&identity, device.as_ref(), now, app.config.idle_timeout)
        .await?;
    // When it will end, and how long until then, so a client can warn in time.
    let new_expiry = rfc3339(lifetime.expires_at);
    Ok(Reply::ok(json!({
        "sessionId": identity.session_id.as_str(),
        "expiresAt": new_expiry,
        "absoluteExpiresAt": rfc3339(lifetime.absolute_expires_at),
        "idleSecondsLeft": (lifetime.expires_at - now).max(0),
        "absoluteSecondsLeft": (lifetime.absolute_expires_at - now).max(0),
    }))
    .message("Session updated successfully")
    .with("newExpiry", &new_expiry))
}
