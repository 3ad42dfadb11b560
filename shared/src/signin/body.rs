//! What a sign-in's body (`POST /sessions`) says about its device and session,
//! completed from the request where it is silent.

use lambda_http::Request;
use serde::Deserialize;

use crate::config::Config;
use crate::domain::{Device, Session, fingerprint_hash};
use crate::domain::{DeviceId, DeviceType, Epoch, Lifetime, SessionId, TrustState};
use crate::input::{Text, source_ip, user_agent};
use crate::useragent::UserAgent;

/// The registration body: `fingerprint` required; the rest optional. Unknown fields
/// (the published client's screen size, timezone, …) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub fingerprint: Text<512>,
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
    // No `ipAddress`: the address is the one the request came from, never a value the
    // client claims (the published client's field is ignored like any unknown one).
}

#[derive(Debug, Default, Deserialize)]
struct Geolocation {
    country: Option<Text<64>>,
    city: Option<Text<128>>,
}

impl SignIn {
    /// The device as this sign-in describes it: what the client says, else what the
    /// request shows. A known device keeps its id, trust and creation time; a missing
    /// name comes from the User-Agent ("Firefox on macOS"). A new device is bound to
    /// `key`, the key this sign-in proved, if any.
    pub fn device(
        &self,
        request: &Request,
        known: Option<&Device>,
        key: Option<&str>,
        now: Epoch,
    ) -> Device {
        let info = self.device_info.as_ref();
        let geo = self.geolocation.as_ref();
        let user_agent = info
            .and_then(|i| i.user_agent.as_ref())
            .map(|ua| ua.as_str().to_string())
            .unwrap_or_else(|| user_agent(request));
        let parsed = UserAgent::parse(&user_agent);
        let text = |field: Option<&Text<64>>, default: &str| {
            field.map_or(default, Text::as_str).to_string()
        };
        Device {
            id: known.map_or_else(DeviceId::new, |d| d.id.clone()),
            fingerprint_hash: known.map_or_else(
                || fingerprint_hash(self.fingerprint.as_str()),
                |d| d.fingerprint_hash.clone(),
            ),
            // A name the user chose (rename) stays; otherwise this sign-in names it.
            name: match known {
                Some(device) if device.name_chosen => device.name.clone(),
                _ => info
                    .and_then(|i| i.device_name.as_ref())
                    .map_or_else(|| parsed.device_name(), |n| n.as_str().to_string()),
            },
            name_chosen: known.is_some_and(|d| d.name_chosen),
            device_type: info
                .and_then(|i| i.device_type)
                .unwrap_or(parsed.device_type),
            os: text(info.and_then(|i| i.os.as_ref()), parsed.os),
            browser: text(info.and_then(|i| i.browser.as_ref()), parsed.browser),
            user_agent,
            ip_address: source_ip(request),
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
            key_thumbprint: known.map_or(key.map(str::to_string), |d| d.key_thumbprint.clone()),
        }
    }

    /// The session this sign-in starts on `device`, with the configured lifetime, and
    /// bound to the key it proved (`key`), if any.
    pub fn session(
        &self,
        id: &SessionId,
        device: &Device,
        request: &Request,
        config: &Config,
        now: Epoch,
    ) -> Session {
        let location = match (&device.city, &device.country) {
            (Some(city), Some(country)) => Some(format!("{city}, {country}")),
            (city, country) => city.clone().or_else(|| country.clone()),
        };
        Session {
            id: id.clone(),
            device_id: device.id.clone(),
            lifetime: Lifetime::start(now, config.idle_timeout, config.absolute_timeout),
            started_at: now,
            last_activity: now,
            ip_address: source_ip(request),
            location,
            login_method: self.login_method.as_ref().map(|m| m.as_str().to_string()),
            key_thumbprint: device.key_thumbprint.clone(),
        }
    }
}
