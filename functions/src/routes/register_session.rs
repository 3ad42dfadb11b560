//! `POST /sessions` — at sign-in, bind the token's session to the device with this
//! fingerprint, creating the device on first sight.
//!
//! 201 when it created the session; the same registration again answers 200 with the
//! same binding; the same session on another fingerprint is 409. A session id that
//! has ended (revoked or expired) can never be registered again: the token naming it
//! gets 401, from the stored session while it is kept, from its used-id marker after.
//! So the marker must outlive every token naming the id: a token valid past it is
//! refused (401 `TOKEN_OUTLIVES_SESSION`) before anything is written.
//!
//! A user holds at most `MAX_ACTIVE_SESSIONS_PER_USER` live sessions: past it, the
//! sign-in ends the least recently active one (`EVICTED`) in its own transaction, or
//! is refused (409 `SESSION_LIMIT_REACHED`), as `SESSION_LIMIT_POLICY` says. Every
//! sign-in writes on the count of sign-ins it read, so concurrent ones cannot both
//! decide on one view of the account: the losers read again.

use lambda_http::http::StatusCode;
use serde_json::json;
use shared::auth::LEEWAY_SECONDS;
use shared::config::SessionLimit;
use shared::domain::{Account, Device, Session};
use shared::domain::{Epoch, Lifetime, used_id_ttl};
use shared::domain::{EventType, Origin, SecurityEvent, Target};
use shared::domain::{SessionId, UserId};
use shared::error::AuthFailure;
use shared::signin::SignIn;
use shared::store::{SignInWrite, conflict_pause};
use shared::views::{DeviceView, SessionView};
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to register session";

/// Concurrent sign-ins of one user are serialized by the sign-in count: each loser
/// reads again, after a short jittered pause, up to this many times, then 409.
const ATTEMPTS: u32 = 10;

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
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            conflict_pause(attempt.min(4) - 1).await;
        }
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
        let event = SecurityEvent::by(
            &identity.user_id,
            &identity.session_id,
            match is_new {
                true => EventType::NewDeviceSignIn,
                false => EventType::SuccessfulLogin,
            },
            Target::Session(&identity.session_id),
            Origin {
                location: session.location.clone(),
                ..input::origin(&request)
            },
        )
        .on_device(&device.id);
        let write = SignInWrite {
            session: &session,
            device: &device,
            device_is_new: is_new,
            event: &event,
            evicted: evictions(app, &identity.user_id, &account, &session, now)?,
            sign_ins: account.sign_ins,
        };
        if app.store.register(&identity.user_id, &write, now).await? {
            return Ok(registered(StatusCode::CREATED, &device, &session, now));
        }
    }
    Err(Error::Conflict("Concurrent sign-ins, retry"))
}

/// The sessions this sign-in ends to stay under the cap, each with its event: the
/// least recently active first (ties: the earliest started). Refused instead under
/// the `refuse` policy.
fn evictions<'a>(
    app: &App,
    user: &UserId,
    account: &'a Account,
    session: &Session,
    now: Epoch,
) -> Result<Vec<(&'a SessionId, SecurityEvent)>, Error> {
    let mut alive: Vec<_> = account.alive_sessions(now, None).collect();
    let over = (alive.len() + 1).saturating_sub(app.config.max_sessions);
    if over == 0 {
        return Ok(Vec::new());
    }
    if app.config.session_limit == SessionLimit::Refuse {
        return Err(Error::SessionLimitReached);
    }
    alive.sort_by_key(|s| (s.last_activity, s.started_at, s.id.as_str().to_string()));
    Ok(alive
        .into_iter()
        .take(over)
        .map(|evicted| {
            let event = SecurityEvent::by(
                user,
                &session.id,
                EventType::SessionEvicted,
                Target::Session(&evicted.id),
                Origin::default(),
            )
            .on_device(&evicted.device_id)
            .because("SESSION_LIMIT");
            (&evicted.id, event)
        })
        .collect())
}

fn registered(status: StatusCode, device: &Device, session: &Session, now: Epoch) -> Reply {
    let last_seen = device.last_seen.max(session.last_activity);
    let device = DeviceView::new(device, last_seen, true, now);
    let session = SessionView::new(session, &device.device_name, true);
    Reply::ok(json!({ "device": device, "session": session }))
        .status(status)
        .message("Session registered successfully")
}
