//! `GET /devices[?limit=&cursor=]` — the caller's devices. With `limit` (1–100) or
//! `cursor`, one page of them and `nextCursor` while more remain; without, all of
//! them, as the published client reads them.

use shared::domain::DeviceId;
use shared::page;
use shared::views::DeviceView;
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to retrieve devices";

const DEFAULT_LIMIT: usize = 20;

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request).await?;
    let page = page::optional_page(&request, DEFAULT_LIMIT, |k| DeviceId::parse(k).is_some())?;
    let caller = app.caller(identity).await?;
    let devices: Vec<DeviceView> = caller
        .account
        .devices
        .iter()
        .map(|device| DeviceView::of(&caller, device))
        .collect();
    Ok(Reply::list("devices", devices, page, |d| d.id.as_str()))
}
