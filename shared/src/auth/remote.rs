//! The identity provider's published keys (`JWT_JWKS_URL`, docs/configuration.md).
//! Refreshed lazily — at cold start, on a key id not yet held (rotation) and once stale
//! ([`fresh_for`]: its max-age less its Age) — so a removed key stops verifying on warm functions too. A
//! failed fetch keeps the keys held: dropping them would turn a provider's outage into
//! a 503 for everyone. Every side is bounded (HTTPS, [`FETCH_TIMEOUT`],
//! [`MAX_DOCUMENT_BYTES`], [`MAX_KEYS`], [`COOL_DOWN`]), so tokens with made-up key
//! ids cannot turn the function into a request amplifier against the provider.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use http_body_util::{BodyExt, Limited};
use lambda_http::http::Uri;
use tokio::sync::Mutex;

pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// The least time between two fetches, successful or not.
pub const COOL_DOWN: Duration = Duration::from_secs(30);
/// A set is held at least this long, whatever the provider says (`no-cache`,
/// `max-age=0`): more often would fetch on nearly every request, cold or warm.
pub const REFRESH_FLOOR: Duration = Duration::from_secs(60);
/// …and at most this long, whatever the provider says: a removed key stops verifying
/// within an hour at worst (Cognito, Auth0 and Okta publish max-ages of hours).
pub const REFRESH_CEILING: Duration = Duration::from_secs(3600);
/// Without a usable `max-age`: five minutes, the usual order of a provider's own.
pub const REFRESH_DEFAULT: Duration = Duration::from_secs(300);
/// The most keys held from one set (JWKS documents alike), first usable ones first.
/// Providers publish one to a few; the bound is what a token without `kid` costs,
/// since it is tried against every held key its algorithm fits.
pub const MAX_KEYS: usize = 16;

/// How long a fetched set stays fresh, from the response's `Cache-Control`
/// (RFC 9111 §5.2): `max-age` clamped to [`REFRESH_FLOOR`]..=[`REFRESH_CEILING`]
/// (a value too large to represent counts as very large, §1.2.2); `no-store` or
/// `no-cache` mean the floor; no `max-age`, or a malformed one, means
/// [`REFRESH_DEFAULT`]. `s-maxage` is for shared caches and is not read: each
/// function instance is a private one.
pub fn refresh_after(cache_control: Option<&str>) -> Duration {
    match freshness_lifetime(cache_control) {
        Lifetime::Floor => REFRESH_FLOOR,
        Lifetime::MaxAge(seconds) => {
            Duration::from_secs(seconds).clamp(REFRESH_FLOOR, REFRESH_CEILING)
        }
        Lifetime::Default => REFRESH_DEFAULT,
    }
}

/// How long a fetched set stays fresh from now: [`refresh_after`] of its
/// `Cache-Control`, less its `Age` (RFC 9111 §4.2.3: the time it already spent in
/// caches on the way, so a set a CDN held for 50 minutes of a one-hour max-age is fresh
/// for ten more), then clamped as [`refresh_after`] is: never below [`REFRESH_FLOOR`].
/// `Age` is delta-seconds; of a list, the first member counts; anything else is ignored
/// (§5.1). Without `no-cache`/`no-store`, the lifetime `Age` is subtracted from is the
/// provider's `max-age` before clamping, or [`REFRESH_DEFAULT`] without one.
pub fn fresh_for(cache_control: Option<&str>, age: Option<&str>) -> Duration {
    let age = age
        .and_then(|age| age.split(',').next())
        .and_then(|first| {
            let first = first.trim();
            // Unquoted digits only (delta-seconds).
            (!first.starts_with('"')).then_some(first)
        })
        .and_then(delta_seconds)
        .unwrap_or(0);
    let lifetime = match freshness_lifetime(cache_control) {
        Lifetime::Floor => return REFRESH_FLOOR,
        Lifetime::MaxAge(seconds) => seconds,
        Lifetime::Default => REFRESH_DEFAULT.as_secs(),
    };
    Duration::from_secs(lifetime.saturating_sub(age)).clamp(REFRESH_FLOOR, REFRESH_CEILING)
}

enum Lifetime {
    Floor,
    MaxAge(u64),
    Default,
}

/// The lifetime `Cache-Control` gives, before any clamping.
fn freshness_lifetime(cache_control: Option<&str>) -> Lifetime {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Lifetime::Floor;
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            max_age = Some(delta_seconds(value.trim()));
        }
    }
    match max_age.flatten() {
        Some(seconds) => Lifetime::MaxAge(seconds),
        None => Lifetime::Default,
    }
}

/// Digits only, optionally quoted; more than a `u64` holds is `u64::MAX`.
fn delta_seconds(value: &str) -> Option<u64> {
    let digits = value
        .strip_prefix('"')
        .and_then(|quoted| quoted.strip_suffix('"'))
        .unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

pub struct RemoteJwks {
    url: String,
    /// The AWS SDK's own HTTPS connector (rustls, AWS-LC, the system's CA roots):
    /// no second HTTP stack in the binary.
    connector: Connector,
    /// Held across a fetch, so that concurrent callers wait for it.
    last_attempt: Mutex<Option<Instant>>,
    /// When the set held goes stale (none adopted yet: `None`, stale).
    stale_at: std::sync::Mutex<Option<Instant>>,
    /// Time let pass without waiting (milliseconds, see [`RemoteJwks::let_time_pass`]).
    skipped_ms: AtomicU64,
}

impl RemoteJwks {
    /// Checks the URL; nothing is fetched until [`RemoteJwks::refresh_if_due`].
    pub fn new(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("JWT_JWKS_URL is not a URL: {url:?}"))?;
        let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if loopback => {}
            _ => {
                return Err(format!(
                    "JWT_JWKS_URL must be an https:// URL (http:// only on a loopback address), got {url:?}"
                ));
            }
        }
        Ok(RemoteJwks {
            url: url.to_string(),
            connector: Connector::builder()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build(),
            last_attempt: Mutex::new(None),
            stale_at: std::sync::Mutex::new(None),
            skipped_ms: AtomicU64::new(0),
        })
    }

    fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.skipped_ms.load(Ordering::Relaxed))
    }

    /// Moves this schedule's clock (freshness and cool-down) forward by `elapsed`,
    /// as if that time had passed: the endpoint tests let a max-age run out
    /// without waiting for it.
    pub fn let_time_pass(&self, elapsed: Duration) {
        let elapsed = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.skipped_ms.fetch_add(elapsed, Ordering::Relaxed);
    }

    /// Whether the set held is past its freshness (or none was adopted yet).
    pub fn is_stale(&self) -> bool {
        self.stale_for().is_some()
    }

    /// How long ago the set held went stale (zero: none adopted yet); `None` while fresh.
    pub fn stale_for(&self) -> Option<Duration> {
        let stale_at = *self.stale_at.lock().unwrap_or_else(|e| e.into_inner());
        match stale_at {
            None => Some(Duration::ZERO),
            Some(at) => self.now().checked_duration_since(at),
        }
    }

    /// Fetches the published document and hands it to `adopt`, unless the last
    /// attempt was less than [`COOL_DOWN`] ago (`None`). The set counts as fresh
    /// (for [`fresh_for`] of the response) only once `adopt` took it: a document
    /// without a usable key is retried after the cool-down like a failed fetch.
    /// Concurrent callers wait for the one fetch, and `adopt` runs before they go on.
    pub async fn refresh_if_due(
        &self,
        adopt: impl FnOnce(&str) -> Result<(), String>,
    ) -> Option<Result<(), String>> {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| self.now().saturating_duration_since(at) < COOL_DOWN) {
            return None;
        }
        *last_attempt = Some(self.now());
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.fetch())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {FETCH_TIMEOUT:?}")));
        Some(fetched.and_then(|(document, fresh_for)| {
            adopt(&document)?;
            *self.stale_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.now() + fresh_for);
            Ok(())
        }))
    }

    /// The document and how long it stays fresh.
    async fn fetch(&self) -> Result<(String, Duration), String> {
        let mut request = HttpRequest::get(&self.url).map_err(|e| e.to_string())?;
        request.headers_mut().insert("accept", "application/json");
        let response = self
            .connector
            .call(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status().as_u16() != 200 {
            return Err(format!("answered {}", response.status()));
        }
        // Several header lines are one comma-separated list (RFC 9110 §5.3); none
        // reads as an empty one.
        let cache_control: Vec<&str> = response.headers().get_all("cache-control").collect();
        let age = response.headers().get("age");
        let fresh_for = fresh_for(Some(&cache_control.join(",")), age);
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("unreadable document (over {MAX_DOCUMENT_BYTES} bytes?): {e}"))?
            .to_bytes();
        let document = String::from_utf8(body.to_vec()).map_err(|_| "the document is not UTF-8")?;
        Ok((document, fresh_for))
    }
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn max_age_sets_the_freshness_within_floor_and_ceiling() {
        assert_eq!(refresh_after(Some("max-age=600")), secs(600));
        assert_eq!(refresh_after(Some("public, max-age=600")), secs(600));
        assert_eq!(
            refresh_after(Some("max-age=900, must-revalidate")),
            secs(900)
        );
        assert_eq!(refresh_after(Some("max-age=\"900\"")), secs(900), "quoted");
        assert_eq!(refresh_after(Some("MAX-AGE=120")), secs(120), "any case");
        assert_eq!(refresh_after(Some(" max-age=120 ,private")), secs(120));
        assert_eq!(refresh_after(Some("max-age=60")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=3600")), REFRESH_CEILING);
        assert_eq!(
            refresh_after(Some("max-age=120, max-age=900")),
            secs(120),
            "the first"
        );
    }

    #[test]
    fn tiny_values_are_raised_to_the_floor_and_huge_ones_cut_to_the_ceiling() {
        assert_eq!(refresh_after(Some("max-age=0")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=1")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=59")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=3601")), REFRESH_CEILING);
        assert_eq!(refresh_after(Some("max-age=31536000")), REFRESH_CEILING);
        assert_eq!(
            refresh_after(Some("max-age=99999999999999999999999")),
            REFRESH_CEILING,
            "beyond u64: very large, not malformed"
        );
    }

    #[test]
    fn no_store_and_no_cache_mean_the_floor() {
        assert_eq!(refresh_after(Some("no-store")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("No-Cache")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=600, no-cache")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("no-store, max-age=600")), REFRESH_FLOOR);
        assert_eq!(
            refresh_after(Some("no-cache=\"set-cookie\", max-age=600")),
            REFRESH_FLOOR
        );
    }

    #[test]
    fn shared_cache_directives_are_not_read() {
        assert_eq!(refresh_after(Some("s-maxage=30")), REFRESH_DEFAULT);
        assert_eq!(refresh_after(Some("s-maxage=30, max-age=600")), secs(600));
        assert_eq!(refresh_after(Some("max-age=600, s-maxage=3000")), secs(600));
    }

    #[test]
    fn a_missing_or_malformed_max_age_means_the_default() {
        assert_eq!(refresh_after(None), REFRESH_DEFAULT);
        for garbage in [
            "",
            ",,,",
            "public",
            "max-age",
            "max-age=",
            "max-age=soon",
            "max-age=-1",
            "max-age=1.5",
            "max-age=+60",
            "max-age=60s",
            "max-age=\"600",
            "max-age=\u{663}\u{660}\u{660}",
            "maxage=600",
            "\u{0}\u{ff}=",
        ] {
            assert_eq!(refresh_after(Some(garbage)), REFRESH_DEFAULT, "{garbage:?}");
        }
    }

    #[test]
    fn age_is_subtracted_from_the_freshness() {
        assert_eq!(fresh_for(Some("max-age=900"), None), secs(900));
        assert_eq!(fresh_for(Some("max-age=900"), Some("600")), secs(300));
        assert_eq!(
            fresh_for(Some("public, max-age=900"), Some(" 0 ")),
            secs(900)
        );
        assert_eq!(
            fresh_for(Some("max-age=3600"), Some("3000")),
            secs(600),
            "from the max-age, not from the ceiling"
        );
        assert_eq!(
            fresh_for(Some("max-age=7200"), Some("3000")),
            REFRESH_CEILING,
            "then clamped"
        );
        assert_eq!(fresh_for(Some("max-age=900"), Some("880")), REFRESH_FLOOR);
        assert_eq!(
            fresh_for(Some("max-age=900"), Some("5000")),
            REFRESH_FLOOR,
            "older than its max-age"
        );
        assert_eq!(
            fresh_for(Some("max-age=900"), Some("99999999999999999999999")),
            REFRESH_FLOOR
        );
        assert_eq!(
            fresh_for(None, Some("200")),
            secs(100),
            "the default lifetime too"
        );
        assert_eq!(
            fresh_for(Some("max-age=900"), Some("600, 100")),
            secs(300),
            "the first"
        );
        assert_eq!(fresh_for(Some("no-cache"), Some("10")), REFRESH_FLOOR);
    }

    #[test]
    fn an_invalid_age_is_ignored() {
        for garbage in ["", "-1", "1.5", "soon", "\"600\"", "+600", "600s"] {
            assert_eq!(
                fresh_for(Some("max-age=900"), Some(garbage)),
                secs(900),
                "{garbage:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_set_is_fresh_until_adopted_and_for_as_long_as_its_max_age() {
        let remote = RemoteJwks::new("http://127.0.0.1:9/jwks").unwrap();
        assert!(remote.is_stale(), "nothing adopted yet");
        *remote.stale_at.lock().unwrap() = Some(remote.now() + REFRESH_FLOOR);
        assert!(!remote.is_stale());
        remote.let_time_pass(REFRESH_FLOOR - secs(1));
        assert!(!remote.is_stale());
        remote.let_time_pass(secs(2));
        assert_eq!(remote.stale_for().map(|d| d.as_secs()), Some(1));

        // Port 9 (discard) refuses: the failure is reported, the set stays stale,
        // and the next attempt waits out the cool-down.
        let adopted = remote.refresh_if_due(|_| Ok(())).await;
        assert!(matches!(adopted, Some(Err(_))), "{adopted:?}");
        assert!(remote.is_stale());
        assert!(remote.refresh_if_due(|_| Ok(())).await.is_none());
        remote.let_time_pass(COOL_DOWN);
        assert!(remote.refresh_if_due(|_| Ok(())).await.is_some());
    }
}
