//! `GET /security-events[?limit=&cursor=]` — the caller's own security log, newest
//! first: every sign-in, trust change, removal and revocation on the account, who made
//! it and from where. Paginated: `limit` (1–100, 20 by default) and the opaque
//! `nextCursor` of the previous page. Two reads at once: the session guard (one
//! GetItem of the caller's session) and one Query of the user's events partition; the
//! events are answered only if the guard passed.

use shared::store::is_event_key;
use shared::views::SecurityEventView;
use shared::{App, Error, Reply, Request, page};

pub const FAILURE: &str = "Failed to retrieve security events";

const DEFAULT_LIMIT: usize = 20;

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let page = page::page(&request, DEFAULT_LIMIT, is_event_key)?;
    let (guard, found) = tokio::join!(
        app.store.guard(&identity, app.now()),
        app.store
            .security_events(&identity.user_id, page.limit, page.after.as_deref())
    );
    guard?;
    let found = found?;
    let events: Vec<SecurityEventView> = found.events.iter().map(SecurityEventView::new).collect();
    let next_cursor = found.next.as_deref().map(page::cursor);
    Ok(Reply::ok(&events)
        .with("events", &events)
        .with("nextCursor", next_cursor))
}
