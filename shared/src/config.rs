//! Configuration, read from the environment once per cold start (docs/configuration.md).
//! Anything wrong fails the cold start with one clear line, never a request.

use std::ops::RangeInclusive;

use crate::auth::dpop::NonceKey;
use crate::auth::{JwtSettings, KeyMaterial, Verifier};
use crate::domain::DigestKey;
use crate::report::ReportKeys;

/// Local tokens are HS256 with this secret when `JWT_SECRET` is unset. It is only
/// accepted when the endpoint is overridden to a loopback emulator (see
/// [`Config::from_lookup`]), so a deployment can never run with it.
pub const LOCAL_JWT_SECRET: &str = "local-development-secret-change-me-0123456789";

#[derive(Debug)]
pub struct Config {
    pub table_name: String,
    pub verifier: Verifier,
    /// Seconds of inactivity after which a session ends (ASVS L2: 30 min).
    pub idle_timeout: i64,
    /// Seconds after sign-in at which a session ends whatever its activity (ASVS L2: 12 h).
    pub absolute_timeout: i64,
    /// Seconds a trusted device stays trusted.
    pub trust_period: i64,
    /// Seconds an ended session's id is remembered so it can never be registered again.
    /// Must exceed the longest lifetime of any token that can carry a session id.
    pub tombstone: i64,
    /// Writes that grant (trusting a device) one session may make per minute. Ending
    /// access (revoke, revoke-all, untrust, delete) spends no budget at all.
    pub writes_per_minute: u32,
    /// Sign-ins one user may make per minute (a sign-in has no session yet, and only
    /// the identity provider mints new session ids).
    pub sign_ins_per_minute: u32,
    /// Browser origins the API's CORS policy admits (`CORS_ALLOWED_ORIGINS`, comma-
    /// separated, from the template's `AllowedOrigins`): route-not-found answers
    /// preflights with it.
    pub cors_origins: Vec<String>,
    /// Seconds a security event is kept (`SECURITY_EVENT_RETENTION_DAYS`, 90 by
    /// default), then removed by TTL.
    pub event_retention: i64,
    /// The most sessions one user may have alive at once
    /// (`MAX_ACTIVE_SESSIONS_PER_USER`, 50 by default), and what a sign-in past it does.
    pub max_sessions: usize,
    pub session_limit: SessionLimit,
    /// The most devices one user may have (`MAX_DEVICES_PER_USER`, 50 by default, at
    /// most 100: it bounds `GET /devices`); a sign-in past it removes the least
    /// recently seen device not trusted and not in use, or is refused.
    pub max_devices: usize,
    /// Seconds a device not trusted and with no live session stays after its last
    /// session's absolute expiry or its trust's expiry (`DEVICE_RETENTION_DAYS`, 90 by
    /// default), then removed by TTL.
    pub device_retention: i64,
    /// With `STEP_UP_MAX_AGE_SECONDS` set, ending another session or granting trust
    /// needs a sign-in (`auth_time`, else the session's registration) at most this old
    /// (RFC 9470). Unset: off; the template sets 2 hours (docs/design.md, "Step-up").
    pub step_up_max_age: Option<i64>,
    /// The authorizer slides a session's idle expiry, like a heartbeat, at most once
    /// per this many seconds per session (`AUTHORIZER_ACTIVITY_SECONDS`); 0, the
    /// default, never.
    pub authorizer_activity: i64,
    /// The key of the fingerprint digest reads show (`FINGERPRINT_DIGEST_KEY`, else
    /// derived from `JWT_SECRET`; docs/design.md "Fingerprints").
    pub fingerprint_key: DigestKey,
    /// The key of DPoP server nonces when they are on (`DPOP_NONCE=on`): every proof
    /// to this API's routes must then carry a current one (docs/device-binding.md).
    pub dpop_nonce: Option<NonceKey>,
    /// Whether a sign-in must bind its session to a device key (`DEVICE_BINDING`:
    /// `optional`, the default, or `required`; docs/device-binding.md).
    pub binding_required: bool,
    /// The URL clients call this API by, behind a proxy or custom domain
    /// (`PUBLIC_BASE_URL`, e.g. `https://api.example.com`): what DPoP proofs' `htu` is
    /// checked against, with the request's path. Unset: the URL API Gateway saw.
    pub public_base_url: Option<String>,
    /// Seconds a devices-page hand-off code lives (`PAGE_CODE_SECONDS`, 60 by default,
    /// 10 to 600): long enough to open a page, short enough that a code found later
    /// opens nothing (docs/devices-page.md).
    pub page_code_lifetime: i64,
    /// The keys of "This wasn't me" links (`REPORT_LINK_KEY`, `REPORT_LINK_PREVIOUS_KEY`;
    /// locally derived): none when a deployment sets none, and its links are refused
    /// (docs/report-link.md).
    pub report_keys: Option<ReportKeys>,
}

/// What a sign-in does when the user already holds the most active sessions allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLimit {
    /// End the session least recently active (`evict`, the default): a new sign-in
    /// always works, and the session nobody used for longest goes.
    EvictLeastRecentlyActive,
    /// Refuse the sign-in: 409 `SESSION_LIMIT_REACHED` (`refuse`).
    Refuse,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Builds the configuration from any variable source (the environment in
    /// production, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = get("TABLE_NAME").ok_or_else(|| missing("TABLE_NAME"))?;
        // A whole number of `unit` in `range`, or `default` when unset.
        let whole =
            |name: &str, default: i64, range: RangeInclusive<i64>, unit: &str| match get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|value| range.contains(value))
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "{name} must be a whole number of {unit} from {} to {}, got {raw:?}",
                            range.start(),
                            range.end()
                        ))
                    }),
            };
        let seconds = |name: &str, default: i64| whole(name, default, 1..=400 * 86_400, "seconds");
        let per_minute = |name: &str| whole(name, 30, 1..=100_000, "writes");
        let idle_timeout = seconds("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60)?;
        let absolute_timeout = seconds("SESSION_ABSOLUTE_TIMEOUT_SECONDS", 12 * 3600)?;
        let trust_period = seconds("TRUST_PERIOD_SECONDS", 30 * 86_400)?;
        let tombstone = seconds("SESSION_TOMBSTONE_SECONDS", 30 * 86_400)?;
        let step_up_max_age = match get("STEP_UP_MAX_AGE_SECONDS") {
            Some(_) => Some(seconds("STEP_UP_MAX_AGE_SECONDS", 0)?),
            None => None,
        };
        let writes_per_minute = per_minute("RATE_LIMIT_WRITES_PER_MINUTE")? as u32;
        let sign_ins_per_minute = per_minute("RATE_LIMIT_SIGN_INS_PER_MINUTE")? as u32;
        let max_sessions = whole("MAX_ACTIVE_SESSIONS_PER_USER", 50, 1..=100, "sessions")? as usize;
        let event_retention =
            whole("SECURITY_EVENT_RETENTION_DAYS", 90, 1..=3650, "days")? * 86_400;
        let max_devices = whole("MAX_DEVICES_PER_USER", 50, 1..=100, "devices")? as usize;
        let device_retention = whole("DEVICE_RETENTION_DAYS", 90, 1..=3650, "days")? * 86_400;
        let page_code_lifetime = whole("PAGE_CODE_SECONDS", 60, 10..=600, "seconds")?;
        let authorizer_activity = whole("AUTHORIZER_ACTIVITY_SECONDS", 0, 0..=86_400, "seconds")?;
        let session_limit = match get("SESSION_LIMIT_POLICY").as_deref() {
            None | Some("evict") => SessionLimit::EvictLeastRecentlyActive,
            Some("refuse") => SessionLimit::Refuse,
            Some(other) => {
                return Err(ConfigError(format!(
                    "SESSION_LIMIT_POLICY must be evict or refuse, got {other:?}"
                )));
            }
        };
        let binding_required = match get("DEVICE_BINDING").as_deref() {
            None | Some("optional") => false,
            Some("required") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "DEVICE_BINDING must be optional or required, got {other:?}"
                )));
            }
        };
        let public_base_url = get("PUBLIC_BASE_URL");
        let usable = |url: &str| {
            (url.starts_with("https://") || is_loopback_url(url)) && !url.contains(['?', '#'])
        };
        if public_base_url.as_deref().is_some_and(|url| !usable(url)) {
            return Err(ConfigError(format!(
                "PUBLIC_BASE_URL must be an https:// URL without query or fragment, got {public_base_url:?}"
            )));
        }
        if idle_timeout > absolute_timeout {
            return Err(ConfigError(
                "SESSION_IDLE_TIMEOUT_SECONDS must not exceed SESSION_ABSOLUTE_TIMEOUT_SECONDS"
                    .into(),
            ));
        }

        let (public_key, jwks, jwks_url) =
            (get("JWT_PUBLIC_KEY"), get("JWT_JWKS"), get("JWT_JWKS_URL"));
        let no_public_keys = public_key.is_none() && jwks.is_none() && jwks_url.is_none();
        // A local stack: DynamoDB is an emulator on this machine. Never true deployed.
        let local = get("AWS_ENDPOINT_URL_DYNAMODB").is_some_and(|url| is_loopback_url(&url));
        // The documented local default, only when no key is configured.
        let secret = get("JWT_SECRET")
            .or_else(|| (local && no_public_keys).then(|| LOCAL_JWT_SECRET.to_string()));
        let (issuer, audience) = (get("JWT_ISSUER"), get("JWT_AUDIENCE"));
        let unscoped = match get("JWT_ALLOW_UNSCOPED_TOKENS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "JWT_ALLOW_UNSCOPED_TOKENS must be true or false, got {other:?}"
                )));
            }
        };
        // Without both, any token from the same secret or provider carrying the claims
        // passes — an ID token meant for another application included.
        if (issuer.is_none() || audience.is_none()) && !unscoped && !local {
            return Err(ConfigError(
                "JWT_ISSUER and JWT_AUDIENCE are required, so that only access tokens meant \
                 for this service pass (JWT_ALLOW_UNSCOPED_TOKENS=true accepts any issuer and \
                 audience)"
                    .into(),
            ));
        }
        // Keyed by something no API returns: its own setting, else the HS256 secret;
        // a local stack without either gets a fixed key (docs/design.md "Fingerprints").
        // The DPoP nonces' key comes from the same material, derived apart.
        let keyed_by = match (get("FINGERPRINT_DIGEST_KEY"), &secret) {
            (Some(key), _) if key.len() >= 32 => key,
            (Some(_), _) => {
                return Err(ConfigError(
                    "FINGERPRINT_DIGEST_KEY must be at least 32 characters".into(),
                ));
            }
            (None, Some(secret)) => secret.clone(),
            (None, None) if local => LOCAL_JWT_SECRET.to_string(),
            (None, None) => {
                return Err(ConfigError(
                    "FINGERPRINT_DIGEST_KEY is required with public-key tokens (no JWT_SECRET)"
                        .into(),
                ));
            }
        };
        let fingerprint_key = DigestKey::derive(keyed_by.as_bytes());
        let dpop_nonce = match get("DPOP_NONCE").as_deref() {
            None | Some("off") => None,
            Some("on") => Some(NonceKey::derive(keyed_by.as_bytes())),
            Some(other) => {
                return Err(ConfigError(format!(
                    "DPOP_NONCE must be off or on, got {other:?}"
                )));
            }
        };
        let report_keys = ReportKeys::from_lookup(&get, local)?;
        let keys =
            KeyMaterial::from_sources(secret, public_key, jwks, jwks_url).map_err(ConfigError)?;
        let jwt = JwtSettings {
            algorithms: get("JWT_ALGORITHMS"),
            issuer,
            audience,
            user_claim: get("JWT_USER_CLAIM").unwrap_or_else(|| "sub".into()),
            session_claim: get("JWT_SESSION_CLAIM").unwrap_or_else(|| "sid".into()),
            typ: get("JWT_TOKEN_TYPE"),
        };
        let verifier = Verifier::new(keys, jwt).map_err(ConfigError)?;

        Ok(Config {
            table_name,
            verifier,
            idle_timeout,
            absolute_timeout,
            trust_period,
            tombstone,
            writes_per_minute,
            sign_ins_per_minute,
            event_retention,
            max_sessions,
            session_limit,
            max_devices,
            device_retention,
            step_up_max_age,
            authorizer_activity,
            fingerprint_key,
            dpop_nonce,
            binding_required,
            public_base_url,
            page_code_lifetime,
            report_keys,
            cors_origins: get("CORS_ALLOWED_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(|o| o.trim().to_string())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// `http://` to a loopback host: `localhost` exactly, 127.0.0.0/8 or `[::1]`, with
/// an optional port and path. Anything else — `http://localhost.example.com`,
/// `http://127.0.0.1@evil.example`, https, a name that merely starts like one — is not.
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, port)) if port.is_empty() || is_port(port) => host,
            _ => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => authority,
        },
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `:` followed by a port number.
fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .unwrap_or(text)
        .parse::<u16>()
        .is_ok()
}

fn missing(name: &str) -> ConfigError {
    ConfigError(format!("{name} is required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const SECRET: (&str, &str) = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");

    /// A deployed configuration: a secret, and the issuer and audience to check.
    fn deployed(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![
            ("TABLE_NAME", "t"),
            SECRET,
            ("JWT_ISSUER", "https://id.example"),
            ("JWT_AUDIENCE", "devices"),
        ];
        vars.extend_from_slice(extra);
        config(&vars)
    }

    #[test]
    fn defaults_follow_asvs_level_2() {
        let c = deployed(&[]).unwrap();
        assert_eq!((c.idle_timeout, c.absolute_timeout), (1800, 43_200));
    }

    #[test]
    fn dpop_nonces_are_off_unless_on_and_keyed_by_the_deployment() {
        assert!(deployed(&[]).unwrap().dpop_nonce.is_none());
        assert!(
            deployed(&[("DPOP_NONCE", "off")])
                .unwrap()
                .dpop_nonce
                .is_none()
        );
        let on = deployed(&[("DPOP_NONCE", "on")]).unwrap();
        let nonce = on.dpop_nonce.as_ref().unwrap().issue(0);
        assert!(on.dpop_nonce.as_ref().unwrap().accepts(Some(&nonce), 0));
        // Another deployment's secret, another key.
        let elsewhere = config(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "another-secret-0123456789abcdef0123"),
            ("JWT_ALLOW_UNSCOPED_TOKENS", "true"),
            ("DPOP_NONCE", "on"),
        ])
        .unwrap();
        assert!(!elsewhere.dpop_nonce.unwrap().accepts(Some(&nonce), 0));
        let err = deployed(&[("DPOP_NONCE", "yes")]).unwrap_err();
        assert!(err.to_string().contains("DPOP_NONCE"), "{err}");
    }

    #[test]
    fn table_name_is_required() {
        let err = config(&[SECRET, ("JWT_ALLOW_UNSCOPED_TOKENS", "true")]).unwrap_err();
        assert!(err.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn bad_numbers_and_idle_past_absolute_are_refused() {
        assert!(deployed(&[("TRUST_PERIOD_SECONDS", "soon")]).is_err());
        assert!(deployed(&[("SESSION_TOMBSTONE_SECONDS", "0")]).is_err());
        let err = deployed(&[
            ("SESSION_IDLE_TIMEOUT_SECONDS", "7200"),
            ("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "3600"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("must not exceed"));
    }

    #[test]
    fn devices_are_bounded_and_age_out_by_default() {
        let c = deployed(&[]).unwrap();
        assert_eq!((c.max_devices, c.device_retention), (50, 90 * 86_400));
        let set = deployed(&[
            ("MAX_DEVICES_PER_USER", "100"),
            ("DEVICE_RETENTION_DAYS", "1"),
        ]);
        let set = set.unwrap();
        assert_eq!((set.max_devices, set.device_retention), (100, 86_400));
        // Past 100 devices or sessions, GET /devices or GET /sessions could outgrow
        // what a response may carry.
        assert_eq!(
            deployed(&[("MAX_ACTIVE_SESSIONS_PER_USER", "100")])
                .unwrap()
                .max_sessions,
            100
        );
        for (name, bad) in [
            ("MAX_DEVICES_PER_USER", "0"),
            ("MAX_DEVICES_PER_USER", "101"),
            ("MAX_ACTIVE_SESSIONS_PER_USER", "101"),
            ("DEVICE_RETENTION_DAYS", "0"),
            ("DEVICE_RETENTION_DAYS", "3651"),
            ("DEVICE_RETENTION_DAYS", "soon"),
        ] {
            let err = deployed(&[(name, bad)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={bad}");
        }
    }

    #[test]
    fn page_codes_live_a_minute_by_default_and_briefly_at_most() {
        assert_eq!(deployed(&[]).unwrap().page_code_lifetime, 60);
        let set = deployed(&[("PAGE_CODE_SECONDS", "10")]).unwrap();
        assert_eq!(set.page_code_lifetime, 10);
        for bad in ["9", "601", "0", "soon"] {
            let err = deployed(&[("PAGE_CODE_SECONDS", bad)]).unwrap_err();
            assert!(err.to_string().contains("PAGE_CODE_SECONDS"), "{bad}");
        }
    }

    #[test]
    fn authorizer_activity_is_off_by_default_and_bounded() {
        assert_eq!(deployed(&[]).unwrap().authorizer_activity, 0);
        let on = deployed(&[("AUTHORIZER_ACTIVITY_SECONDS", "60")]).unwrap();
        assert_eq!(on.authorizer_activity, 60);
        for bad in ["-1", "86401", "soon", "1.5"] {
            let err = deployed(&[("AUTHORIZER_ACTIVITY_SECONDS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("AUTHORIZER_ACTIVITY_SECONDS"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_local_secret_never_joins_configured_public_keys() {
        let pem = include_str!("../testdata/rsa-public.pem");
        let config = config(&[
            ("TABLE_NAME", "t"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("JWT_PUBLIC_KEY", pem),
        ]);
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn deployed_public_keys_need_their_own_fingerprint_digest_key() {
        let pem = include_str!("../testdata/rsa-public.pem");
        let public = [
            ("TABLE_NAME", "t"),
            ("JWT_ISSUER", "https://id.example"),
            ("JWT_AUDIENCE", "devices"),
            ("JWT_PUBLIC_KEY", pem),
        ];
        let err = config(&public).unwrap_err();
        assert!(err.to_string().contains("FINGERPRINT_DIGEST_KEY"), "{err}");
        let keyed = [&public[..], &[("FINGERPRINT_DIGEST_KEY", SECRET.1)]].concat();
        assert!(config(&keyed).is_ok());
        let short = [&public[..], &[("FINGERPRINT_DIGEST_KEY", "short")]].concat();
        assert!(config(&short).is_err());
    }

    #[test]
    fn local_secret_only_against_a_loopback_emulator() {
        assert!(config(&[("TABLE_NAME", "t")]).is_err());
        assert!(
            config(&[
                ("TABLE_NAME", "t"),
                (
                    "AWS_ENDPOINT_URL_DYNAMODB",
                    "https://dynamodb.eu-west-1.amazonaws.com"
                )
            ])
            .is_err()
        );
        assert!(
            config(&[
                ("TABLE_NAME", "t"),
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
            ])
            .is_ok()
        );
    }

    #[test]
    fn the_local_secret_needs_a_loopback_host_not_a_lookalike() {
        for lookalike in [
            "http://localhost.example.com",
            "http://localhost.example.com:8000",
            "http://127.0.0.1.nip.io:8000",
            "http://127.0.0.1@evil.example:8000",
            "http://localhost:8000@evil.example",
            "https://127.0.0.1:8000",
            "http://[::2]:8000",
            "http://10.0.0.1:8000",
            "http://localhost:port",
            "localhost:8000",
        ] {
            let vars = [
                ("TABLE_NAME", "t"),
                ("AWS_ENDPOINT_URL_DYNAMODB", lookalike),
            ];
            assert!(config(&vars).is_err(), "{lookalike}");
        }
        for loopback in [
            "http://127.0.0.1:8000",
            "http://127.1.2.3:8000/",
            "http://localhost:8000",
            "http://localhost",
            "http://[::1]:8000",
        ] {
            let vars = [("TABLE_NAME", "t"), ("AWS_ENDPOINT_URL_DYNAMODB", loopback)];
            assert!(config(&vars).is_ok(), "{loopback}");
        }
    }

    #[test]
    fn deployed_tokens_are_scoped_by_issuer_and_audience_unless_opted_out() {
        assert!(deployed(&[]).is_ok());
        for (name, _) in [("JWT_ISSUER", ""), ("JWT_AUDIENCE", "")] {
            let vars: Vec<_> = [
                ("TABLE_NAME", "t"),
                SECRET,
                ("JWT_ISSUER", "https://id.example"),
                ("JWT_AUDIENCE", "devices"),
            ]
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect();
            let err = config(&vars).unwrap_err();
            assert!(
                err.to_string().contains("JWT_ALLOW_UNSCOPED_TOKENS"),
                "{err}"
            );
            let mut opted_out = vars.clone();
            opted_out.push(("JWT_ALLOW_UNSCOPED_TOKENS", "true"));
            assert!(config(&opted_out).is_ok(), "without {name}, opted out");
        }
        assert!(
            config(&[
                ("TABLE_NAME", "t"),
                SECRET,
                ("JWT_ALLOW_UNSCOPED_TOKENS", "yes")
            ])
            .is_err()
        );
    }
}
