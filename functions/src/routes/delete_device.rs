//! `DELETE /devices/{id}` — remove the device and its fingerprint, ending every
//! active session on it. Their ids can never be registered again (see
//! `shared::store`: used-id markers).

use serde_json::json;
use shared::{App, Cascade, Error, Principal, Reply, Request, input};

pub const FAILURE: &str = "Failed to remove device";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::device_id(&request)?;
    let by = Principal::User(identity);
    let revoked = app
        .cascade(&by, Cascade::Remove(&id), input::origin(&request), None)
        .await?;
    Ok(
        Reply::ok(json!({ "deviceId": id.as_str(), "revokedCount": revoked }))
            .message("Device removed successfully"),
    )
}
