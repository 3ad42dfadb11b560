//! `GET /sessions[?limit=&cursor=]` — the caller's active sessions across devices.
//! With `limit` (1–100) or `cursor`, one page and `nextCursor` while more remain;
//! without, all of them, as the published client reads them.

use shared::domain::SessionId;
use shared::page;
use shared::views::SessionView;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to retrieve sessions";

const DEFAULT_LIMIT: usize = 20;

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let page = page::optional_page(&request, DEFAULT_LIMIT, |k| SessionId::parse(k).is_some())?;
    let caller = app.caller(identity).await?;
    let sessions: Vec<SessionView> = caller
        .account
        .alive_sessions(caller.now, None)
        .map(|session| SessionView::of(&caller, session))
        .collect();
    Ok(Reply::list("sessions", sessions, page, |s| s.id.as_str()))
}
