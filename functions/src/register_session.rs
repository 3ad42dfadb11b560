//! `POST /sessions` — at sign-in, bind the token's session to the device with this
//! fingerprint, creating the device on first sight.
//!
//! 201 when it created the session; the same registration again answers 200 with the
//! same binding; the same session on another fingerprint is 409. A session id that
//! has ended (revoked or expired) can never be registered again: the token naming it
//! gets 401, from the stored session while it is kept, from its used-id marker after.
//! So the marker must outlive every token naming the id: a token valid past it is
//! refused (401 `TOKEN_OUTLIVES_SESSION`) before anything is written.

use lambda_http::http::StatusCode;
use serde_json::json;
use shared::auth::LEEWAY_SECONDS;
use shared::domain::{Epoch, Lifetime, used_id_ttl};
use shared::error::AuthFailure;
use shared::signin::SignIn;
use shared::store::events::{Actor, EventType, Origin, SecurityEvent, TargetType};
use shared::store::{Device, Session};
use shared::views::{DeviceView, SessionView};
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to register session";

/// Concurrent sign-ins of one new device race to create it; the losers read again.
const ATTEMPTS: usize = 3;

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let sign_in: SignIn = input::json_body(&request)?;
    let remembered_until = used_id_ttl(
        &Lifetime::start(
            app.now(),
            app.config.idle_timeout,
            app.config.absolute_timeout,
        ),
        app.config.tombstone,
    );
    if identity.expires_at + LEEWAY_SECONDS as i64 > remembered_until {
        return Err(Error::Unauthorized(AuthFailure::TokenOutlivesSession));
    }
    for _ in 0..ATTEMPTS {
        let account = app.store.account(&identity.user_id).await?;
        let now = app.now();
        let known_device = account.device_by_fingerprint(sign_in.fingerprint.as_str());
        if let Some(session) = account.session(&identity.session_id) {
            if let Some(reason) = session.lifetime.ended(now) {
                return Err(Error::Unauthorized(AuthFailure::SessionEnded(reason)));
            }
            return match known_device {
                Some(device) if device.id == session.device_id => {
                    Ok(registered(StatusCode::OK, device, session, now))
                }
                _ => Err(Error::Conflict(
                    "Session is already bound to another device",
                )),
            };
        }
        let device = sign_in.device(&request, known_device, now);
        let session = sign_in.session(&identity.session_id, &device, &request, &app.config, now);
        let is_new = known_device.is_none();
        let event = SecurityEvent::new(
            &identity.user_id,
            match is_new {
                true => EventType::NewDeviceSignIn,
                false => EventType::SuccessfulLogin,
            },
            Actor::Session(identity.session_id.as_str().into()),
            (TargetType::Session, identity.session_id.as_str()),
            Origin {
                location: session.location.clone(),
                ..input::origin(&request)
            },
        )
        .on_device(device.id.as_str());
        if app
            .store
            .register(&identity.user_id, &session, &device, is_new, &event, now)
            .await?
        {
            return Ok(registered(StatusCode::CREATED, &device, &session, now));
        }
    }
    Err(Error::Conflict(
        "Concurrent registration of this device, retry",
    ))
}

fn registered(status: StatusCode, device: &Device, session: &Session, now: Epoch) -> Reply {
    let last_seen = device.last_seen.max(session.last_activity);
    let device = DeviceView::new(device, last_seen, true, now);
    let session = SessionView::new(session, &device.device_name, true);
    Reply::ok(json!({ "device": device, "session": session }))
        .status(status)
        .message("Session registered successfully")
}
