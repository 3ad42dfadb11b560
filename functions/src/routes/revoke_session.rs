//! `POST /sessions/{id}/revoke` — end one of the caller's sessions now (their own
//! included: that is signing out). The caller's session read (the guard: alive, its
//! key proved, and for another session a recent sign-in), then one conditional
//! write with its security event.

use serde_json::json;
use shared::domain::{EventType, SecurityEvent, Target};
use shared::{App, Error, Reply, Request, input, metrics};

pub const FAILURE: &str = "Failed to revoke session";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::session_id(&request)?;
    let own = id == identity.session_id;
    let session = app.store.guard(&identity, app.now()).await?;
    if !own {
        // Ending another session needs a recent sign-in (docs/design.md "Step-up").
        app.stepped_up(&identity, &session)?;
    }
    let event = SecurityEvent::by(
        &identity.user_id,
        &identity.session_id,
        EventType::SessionRevoked,
        Target::Session(&id),
        input::origin(&request),
    );
    let event = if own {
        event.because("SIGNED_OUT")
    } else {
        event
    };
    app.store
        .revoke_session(&identity, &id, &event, app.now())
        .await?;
    // Counted as a cascade counts its sessions (docs/operations.md#metrics).
    metrics::count(metrics::REVOCATIONS, 1);
    metrics::count(metrics::SESSIONS_ENDED, 1);
    Ok(Reply::ok(json!({ "sessionId": id.as_str() })).message("Session revoked successfully"))
}
