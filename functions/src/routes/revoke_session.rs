//! `POST /sessions/{id}/revoke` — end one of the caller's sessions now (their own
//! included: that is signing out). One conditional write, no read; its security event
//! in the same transaction.

use serde_json::json;
use shared::domain::{Actor, EventType, SecurityEvent, TargetType};
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to revoke session";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::session_id(&request)?;
    let event = SecurityEvent::new(
        &identity.user_id,
        EventType::SessionRevoked,
        Actor::Session(identity.session_id.as_str().into()),
        (TargetType::Session, id.as_str()),
        input::origin(&request),
    );
    let event = if id == identity.session_id {
        event.because("SIGNED_OUT")
    } else {
        event
    };
    app.store
        .revoke_session(&identity, &id, &event, app.now())
        .await?;
    Ok(Reply::ok(json!({ "sessionId": id.as_str() })).message("Session revoked successfully"))
}
