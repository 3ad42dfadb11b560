//! `POST /account/devices/codes/redeem` — the devices page trades the one-time code in
//! its fragment for the credentials it was made for (docs/devices-page.md, "Opening
//! it"). No Bearer: the code is the credential. It works once: the item is deleted as
//! it is read, on the condition that it is there and not expired, so of racing redeems
//! exactly one gets the token. Unknown, used and expired codes get one answer, 404
//! `CODE_NOT_FOUND`, so nothing can be learnt by probing. Like every answer here it
//! carries `Cache-Control: no-store`.

use serde::Deserialize;
use serde_json::json;
use shared::handoff::{self, Code};
use shared::{App, Error, Reply, Request, input};

pub const FAILURE: &str = "Failed to redeem page code";

#[derive(Deserialize)]
struct RedeemRequest {
    code: String,
}

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let body: RedeemRequest = input::json_body(&request)?;
    let code = Code::parse(&body.code)
        .ok_or_else(|| Error::bad_request("INVALID_CODE", "code: not a page code"))?;
    let Some(taken) = app
        .store
        .take_handoff(&code.storage_key(), app.now())
        .await?
    else {
        return Err(Error::CodeNotFound);
    };
    // Only a table changed by hand fails here: the item is spent either way.
    let Some(credentials) = handoff::open(&code, taken.expires_at, &taken.sealed) else {
        tracing::warn!("a page code's item did not open");
        return Err(Error::CodeNotFound);
    };
    Ok(Reply::ok(json!({
        "token": credentials.token,
        "fingerprint": credentials.fingerprint,
    })))
}
