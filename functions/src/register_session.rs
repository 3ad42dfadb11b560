//! `POST /sessions` — at sign-in, bind the token's session to the device with this
//! fingerprint, creating the device on first sight.
//!
//! 201 when it created the session; the same registration again answers 200 with the
//! same binding; the same session on another fingerprint is 409. A session id that
//! has ended (revoked or expired) can never be registered again: its item stays as a
//! tombstone, so the token naming it gets 401.

use std::net::IpAddr;

use lambda_http::http::StatusCode;
use lambda_http::http::header::USER_AGENT;
use lambda_http::request::RequestContext;
use serde::Deserialize;
use serde_json::json;
use shared::auth::Identity;
use shared::domain::{DeviceId, DeviceType, Epoch, Lifetime, TrustState};
use shared::error::AuthFailure;
use shared::input::{self, Text};
use shared::store::{Device, Session};
use shared::useragent::UserAgent;
use shared::views::{DeviceView, SessionView};
use shared::{App, Error, Reply, Request, RequestExt};

pub const FAILURE: &str = "Failed to register session";

/// Concurrent sign-ins of one device race to create it; the loser reads again.
const ATTEMPTS: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    fingerprint: Text<512>,
    #[serde(default)]
    device_info: Option<DeviceInfo>,
    #[serde(default)]
    geolocation: Option<Geolocation>,
    #[serde(default)]
    login_method: Option<Text<64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceInfo {
    device_name: Option<Text<128>>,
    device_type: Option<DeviceType>,
    os: Option<Text<64>>,
    browser: Option<Text<64>>,
    user_agent: Option<Text<1024>>,
    ip_address: Option<IpAddr>,
}

#[derive(Debug, Default, Deserialize)]
struct Geolocation {
    country: Option<Text<64>>,
    city: Option<Text<128>>,
}

pub async fn handle(app: &App, request: Request) -> Result<Reply, Error> {
    let identity = app.authenticate(&request)?;
    let body: RegisterRequest = input::json_body(&request)?;
    let fingerprint = body.fingerprint.as_str();
    for _ in 0..ATTEMPTS {
        let account = app.store.account(&identity.user_id).await?;
        let now = app.now();
        let known_device = account.device_by_fingerprint(fingerprint);
        if let Some(session) = account.session(&identity.session_id) {
            if !session.lifetime.is_alive(now) {
                return Err(Error::Unauthorized(AuthFailure::SessionEnded));
            }
            return match known_device {
                Some(device) if device.id == session.device_id => {
                    Ok(registered(StatusCode::OK, device, session, now))
                }
                _ => Err(Error::Conflict(
                    "Session is already bound to another device",
                )),
            };
        }
        let device = describe(&request, &body, known_device, now);
        let session = start_session(&identity, &request, &body, &device, app, now);
        let created = app
            .store
            .register(
                &identity.user_id,
                &session,
                &device,
                known_device.is_none(),
                app.config.tombstone,
            )
            .await?;
        if created {
            return Ok(registered(StatusCode::CREATED, &device, &session, now));
        }
    }
    Err(Error::Conflict(
        "Concurrent registration of this device, retry",
    ))
}

fn registered(status: StatusCode, device: &Device, session: &Session, now: Epoch) -> Reply {
    let last_seen = device.last_seen.max(session.last_activity);
    let device = DeviceView::new(device, last_seen, true, now);
    let session = SessionView::new(session, &device.device_name, true);
    Reply::ok(json!({ "device": device, "session": session }))
        .status(status)
        .message("Session registered successfully")
}

/// The device as this sign-in describes it: what the client says, else what the
/// request shows (User-Agent, source IP). A known device keeps its id, trust and
/// creation time.
fn describe(
    request: &Request,
    body: &RegisterRequest,
    known: Option<&Device>,
    now: Epoch,
) -> Device {
    let info = body.device_info.as_ref();
    let geo = body.geolocation.as_ref();
    let user_agent = info
        .and_then(|i| i.user_agent.as_ref())
        .map(|ua| ua.as_str().to_string())
        .unwrap_or_else(|| header_user_agent(request));
    let parsed = UserAgent::parse(&user_agent);
    let text =
        |field: Option<&Text<64>>, default: &str| field.map_or(default, Text::as_str).to_string();
    Device {
        id: known.map_or_else(DeviceId::new, |d| d.id.clone()),
        fingerprint: body.fingerprint.as_str().to_string(),
        name: info
            .and_then(|i| i.device_name.as_ref())
            .map_or_else(|| parsed.device_name(), |n| n.as_str().to_string()),
        device_type: info
            .and_then(|i| i.device_type)
            .unwrap_or(parsed.device_type),
        os: text(info.and_then(|i| i.os.as_ref()), parsed.os),
        browser: text(info.and_then(|i| i.browser.as_ref()), parsed.browser),
        user_agent,
        ip_address: client_ip(request, info),
        country: geo
            .and_then(|g| g.country.as_ref())
            .map(|c| c.as_str().to_string()),
        city: geo
            .and_then(|g| g.city.as_ref())
            .map(|c| c.as_str().to_string()),
        trust: known.map_or(TrustState::Never, |d| d.trust),
        trust_expires_at: known.and_then(|d| d.trust_expires_at),
        last_seen: now,
        created_at: known.map_or(now, |d| d.created_at),
    }
}

fn start_session(
    identity: &Identity,
    request: &Request,
    body: &RegisterRequest,
    device: &Device,
    app: &App,
    now: Epoch,
) -> Session {
    let location = match (&device.city, &device.country) {
        (Some(city), Some(country)) => Some(format!("{city}, {country}")),
        (city, country) => city.clone().or_else(|| country.clone()),
    };
    Session {
        id: identity.session_id.clone(),
        device_id: device.id.clone(),
        lifetime: Lifetime::start(now, app.config.idle_timeout, app.config.absolute_timeout),
        started_at: now,
        last_activity: now,
        ip_address: client_ip(request, body.device_info.as_ref()),
        location,
        login_method: body.login_method.as_ref().map(|m| m.as_str().to_string()),
    }
}

/// The client's address: as given by the client, else as API Gateway saw it.
fn client_ip(request: &Request, info: Option<&DeviceInfo>) -> Option<String> {
    if let Some(ip) = info.and_then(|i| i.ip_address) {
        return Some(ip.to_string());
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    }
}

fn header_user_agent(request: &Request) -> String {
    let raw = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    raw.chars().take(1024).collect()
}
