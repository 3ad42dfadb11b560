//! `GET /devices` — the caller's devices.

use shared::views::DeviceView;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to retrieve devices";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let caller = app.caller(app.authenticate(&request).await?).await?;
    let devices: Vec<DeviceView> = caller
        .account
        .devices
        .iter()
        .map(|device| caller.device_view(device))
        .collect();
    Ok(Reply::ok(&devices).with("devices", &devices))
}
