//! `POST /sessions/{id}/revoke` — end one of the caller's sessions now (their own
//! included: that is signing out). One conditional write, no read.

use serde_json::json;
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to revoke session";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let id = input::session_id(&request)?;
    app.store.revoke_session(&identity, &id, app.now()).await?;
    Ok(Reply::ok(json!({ "sessionId": id.as_str() })).message("Session revoked successfully"))
}
