//! The identity provider's published keys (`JWT_JWKS_URL`): fetched at cold start,
//! again when a token names a key id not yet held — that is how a provider's key
//! rotation reaches a warm function without a redeploy — and again once the set is
//! stale, on the schedule the provider's `Cache-Control: max-age` sets (bounded by
//! [`REFRESH_FLOOR`] and [`REFRESH_CEILING`]): a key the provider removed after a
//! compromise stops verifying on warm functions within that time, for tokens with or
//! without a `kid`.
//!
//! Bounded on every side: HTTPS only (plain HTTP for a loopback address, for local
//! stacks and tests), 2 s per fetch, 64 KiB per document, and at most one fetch per
//! 30 s per process, so tokens with made-up key ids cannot turn the function into a
//! request amplifier against the provider.

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
/// `max-age=0`): more often would fetch on nearly every cold and warm request alike.
pub const REFRESH_FLOOR: Duration = Duration::from_secs(60);
/// …and at most this long, whatever the provider says: a removed key stops verifying
/// within an hour at worst (Cognito, Auth0 and Okta publish max-ages of hours).
pub const REFRESH_CEILING: Duration = Duration::from_secs(3600);
/// Without a usable `max-age`: five minutes.
pub const REFRESH_DEFAULT: Duration = Duration::from_secs(300);

/// How long a fetched set stays fresh, from the response's `Cache-Control`:
/// `max-age` clamped to [`REFRESH_FLOOR`]..=[`REFRESH_CEILING`]; `no-store` or
/// `no-cache` mean the floor; none (or garbage) means [`REFRESH_DEFAULT`].
pub fn refresh_after(cache_control: Option<&str>) -> Duration {
    let Some(header) = cache_control else {
        return REFRESH_DEFAULT;
    };
    let directives: Vec<String> = header
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    if directives
        .iter()
        .any(|d| d == "no-store" || d == "no-cache")
    {
        return REFRESH_FLOOR;
    }
    directives
        .iter()
        .find_map(|d| {
            d.strip_prefix("max-age=")?
                .trim_matches('"')
                .parse::<u64>()
                .ok()
        })
        .map_or(REFRESH_DEFAULT, |seconds| {
            Duration::from_secs(seconds).clamp(REFRESH_FLOOR, REFRESH_CEILING)
        })
}

pub struct RemoteJwks {
    url: String,
    /// The AWS SDK's own HTTPS connector (rustls, AWS-LC, the system's CA roots):
    /// no second HTTP stack in the binary.
    connector: Connector,
    last_attempt: Mutex<Option<Instant>>,
    /// When the set held goes stale (none fetched yet: now).
    stale_at: std::sync::Mutex<Option<Instant>>,
}

impl RemoteJwks {
    /// Checks the URL; nothing is fetched until [`RemoteJwks::fetch_if_due`].
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
        })
    }

    /// Whether the set held is past its freshness (see [`refresh_after`]).
    pub fn is_stale(&self) -> bool {
        let stale_at = *self.stale_at.lock().unwrap_or_else(|e| e.into_inner());
        stale_at.is_none_or(|at| Instant::now() >= at)
    }

    /// The published document, unless the last attempt was less than
    /// [`COOL_DOWN`] ago (`None`). Concurrent callers wait for one fetch.
    pub async fn fetch_if_due(&self) -> Option<Result<String, String>> {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| at.elapsed() < COOL_DOWN) {
            return None;
        }
        *last_attempt = Some(Instant::now());
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.fetch())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {FETCH_TIMEOUT:?}")));
        Some(fetched.map(|(document, fresh_for)| {
            *self.stale_at.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Instant::now() + fresh_for);
            document
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
        let fresh_for = refresh_after(response.headers().get("cache-control"));
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

    #[test]
    fn the_set_stays_fresh_as_the_provider_says_within_bounds() {
        let secs = |s| Duration::from_secs(s);
        assert_eq!(refresh_after(Some("public, max-age=600")), secs(600));
        assert_eq!(
            refresh_after(Some("max-age=\"900\", must-revalidate")),
            secs(900)
        );
        assert_eq!(refresh_after(Some("MAX-AGE=120")), secs(120));
        assert_eq!(refresh_after(Some("max-age=5")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=0")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=86400")), REFRESH_CEILING);
        assert_eq!(
            refresh_after(Some("max-age=99999999999999999999")),
            REFRESH_DEFAULT
        );
        assert_eq!(refresh_after(Some("no-store")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("max-age=600, no-cache")), REFRESH_FLOOR);
        assert_eq!(refresh_after(Some("s-maxage=600")), REFRESH_DEFAULT);
        assert_eq!(refresh_after(Some("max-age=soon")), REFRESH_DEFAULT);
        assert_eq!(refresh_after(None), REFRESH_DEFAULT);
    }
}
