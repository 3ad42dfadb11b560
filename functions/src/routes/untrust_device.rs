//! `POST /devices/{id}/untrust` — drop the device's trust and end every active
//! session on it (the caller's own too, if it is on that device).

use serde_json::json;
use shared::{App, Cascade, Error, Principal, Reply, Request, input};

pub const FAILURE: &str = "Failed to untrust device";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::device_id(&request)?;
    let by = Principal::User(identity);
    let revoked = app
        .cascade(&by, Cascade::Untrust(&id), input::origin(&request), None)
        .await?;
    Ok(
        Reply::ok(json!({ "deviceId": id.as_str(), "revokedCount": revoked }))
            .message("Device untrusted successfully"),
    )
}
