//! `GET /sessions` — the caller's active sessions across devices.

use shared::views::SessionView;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to retrieve sessions";

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let caller = app.caller(app.authenticate(&request).await?).await?;
    let sessions: Vec<SessionView> = caller
        .account
        .alive_sessions(caller.now, None)
        .map(|session| caller.session_view(session))
        .collect();
    Ok(Reply::ok(&sessions).with("sessions", &sessions))
}
