//! `GET /devices/{id}` — one device, how it identifies itself, and its active sessions.
//! The device read by key and the session items by one Query of their prefix.

use shared::app::Part;
use shared::views::DeviceDetailView;
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to retrieve device details";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::device_id(&request)?;
    let caller = app.caller_with(identity, Part::DeviceSessions(&id)).await?;
    // Another user's device is not in this user's partition, so it is "not found"
    // like an absent one (404, never 403): ids can't be probed across accounts.
    let device = caller.account.device(&id).ok_or(Error::DeviceNotFound)?;
    let detail = DeviceDetailView::of(&caller, device, &app.config.fingerprint_key);
    Ok(Reply::ok(&detail).with("device", &detail))
}
