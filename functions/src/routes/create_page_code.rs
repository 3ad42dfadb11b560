//! `POST /account/devices/codes` — a one-time code that opens the devices page signed in
//! as the caller (docs/devices-page.md, "Opening it"). The platform's app calls it with
//! the user's token (and, optionally, this device's fingerprint), then opens the page at
//! the `path` answered: the token and the fingerprint never go in a URL, which browsers
//! keep in their history; the code is spent the moment the page redeems it.

use lambda_http::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use shared::auth::bearer_token;
use shared::domain::rfc3339;
use shared::handoff::{self, Code, Credentials};
use shared::input::{self, Text};
use shared::{App, Error, Reply, Request};

pub const FAILURE: &str = "Failed to create page code";

/// The optional body: the fingerprint the app computed for this browser, which is
/// what claims trust, so the page offers "Trust this device" only with it.
#[derive(Default, Deserialize)]
struct CodeRequest {
    #[serde(default)]
    fingerprint: Option<Text<512>>,
}

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    // Verified as at sign-in (signature, issuer, audience, expiry), but the session need
    // not be registered yet: the page may register it. A session that has ended gets
    // its 401 from the page's first call.
    let identity = app.authenticate(&request).await?;
    let token = bearer_token(&request)?;
    let body: CodeRequest = input::optional_json_body(&request)?;
    // Never longer than the token it hands over lives.
    let now = app.now();
    let expires_at = (now + app.config.page_code_lifetime).min(identity.expires_at);
    let code = Code::new()?;
    let credentials = Credentials {
        token: token.to_string(),
        fingerprint: body.fingerprint.map(|text| text.0),
    };
    let sealed = handoff::seal(&code, expires_at, &credentials)?;
    app.store
        .put_handoff(&identity, &code.storage_key(), sealed, expires_at, now)
        .await?;
    let code = code.as_text();
    let created = json!({
        "code": code,
        "path": format!("/account/devices#code={code}"),
        "expiresAt": rfc3339(expires_at),
    });
    Ok(Reply::ok(created)
        .status(StatusCode::CREATED)
        .message("Open the page at path before expiresAt; the code works once"))
}
