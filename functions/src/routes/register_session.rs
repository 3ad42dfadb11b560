//! `POST /sessions` — at sign-in, bind the token's session to the device with this
//! fingerprint ([`App::sign_in`]): 201 when it created the session, 200 with the same
//! binding for the same registration again.

use lambda_http::http::StatusCode;
use serde_json::json;
use shared::signin::{SignIn, SignedIn};
use shared::views::{DeviceView, SessionView};
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to register session";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let sign_in: SignIn = input::json_body(&request)?;
    let signed_in = app.sign_in(&identity, &sign_in, &request).await?;
    Ok(registered(&signed_in))
}

fn registered(signed_in: &SignedIn) -> Reply {
    let SignedIn {
        created,
        device,
        session,
        now,
    } = signed_in;
    let last_seen = device.last_seen.max(session.last_activity);
    let device = DeviceView::new(device, last_seen, true, *now);
    let session = SessionView::new(session, &device.device_name, true);
    let status = match created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    Reply::ok(json!({ "device": device, "session": session }))
        .status(status)
        .message("Session registered successfully")
}
