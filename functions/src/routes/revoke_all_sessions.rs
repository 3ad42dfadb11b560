//! `POST /sessions/revoke-all[?keepCurrent=true]` — end all the caller's active
//! sessions, or all but the one making the request, and say how many ended.

use serde_json::json;
use shared::{App, Cascade, Error, Principal, Reply, Request, input};

pub const FAILURE: &str = "Failed to revoke all sessions";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let keep_current = input::flag(&request, "keepCurrent")?;
    let by = Principal::User(identity);
    let all = Cascade::AllSessions { keep_current };
    let revoked = app.cascade(&by, all, input::origin(&request), None).await?;
    Ok(Reply::ok(json!({ "revokedCount": revoked }))
        .message("All sessions revoked successfully")
        .with("revokedCount", revoked))
}
