//! `PATCH /devices/{id}` — name a device as the user chooses (`{"deviceName": …}`, 1 to
//! 64 visible characters). The name stays through later sign-ins on that device, which
//! otherwise rename it from their User-Agent. Another user's device is 404. Reads the
//! session and the device by key.

use serde::Deserialize;
use shared::app::Part;
use shared::domain::{EventType, SecurityEvent, Target};
use shared::input::{self, Text};
use shared::views::DeviceView;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to rename device";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rename {
    device_name: Text<64>,
}

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::device_id(&request)?;
    let body: Rename = input::json_body(&request)?;
    let name = body.device_name.as_str().trim();
    if name.is_empty() {
        return Err(Error::bad_request(
            "INVALID_FIELD",
            "deviceName: must not be blank",
        ));
    }
    let caller = app.caller_with(identity, Part::Device(&id)).await?;
    let device = caller.account.device(&id).ok_or(Error::DeviceNotFound)?;
    let event = SecurityEvent::by(
        &caller.identity.user_id,
        &caller.identity.session_id,
        EventType::DeviceRenamed,
        Target::Device(&id),
        input::origin(&request),
    );
    app.store
        .rename_device(&caller.identity, &id, name, &event, caller.now)
        .await?;
    let mut renamed = device.clone();
    renamed.name = name.to_string();
    renamed.name_chosen = true;
    let view = DeviceView::of(&caller, &renamed);
    Ok(Reply::ok(&view)
        .with("device", &view)
        .message("Device renamed successfully"))
}
