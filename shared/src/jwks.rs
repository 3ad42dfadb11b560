//! The identity provider's published keys (`JWT_JWKS_URL`): fetched at cold start,
//! and again when a token names a key id not yet held — that is how a provider's key
//! rotation reaches a warm function without a redeploy.
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

pub struct RemoteJwks {
    url: String,
    /// The AWS SDK's own HTTPS connector (rustls, AWS-LC, the system's CA roots):
    /// no second HTTP stack in the binary.
    connector: Connector,
    last_attempt: Mutex<Option<Instant>>,
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
        })
    }

    /// The published document, unless the last attempt was less than
    /// [`COOL_DOWN`] ago (`None`). Concurrent callers wait for one fetch.
    pub async fn fetch_if_due(&self) -> Option<Result<String, String>> {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| at.elapsed() < COOL_DOWN) {
            return None;
        }
        *last_attempt = Some(Instant::now());
        Some(
            tokio::time::timeout(FETCH_TIMEOUT, self.fetch())
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {FETCH_TIMEOUT:?}"))),
        )
    }

    async fn fetch(&self) -> Result<String, String> {
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
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("unreadable document (over {MAX_DOCUMENT_BYTES} bytes?): {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| "the document is not UTF-8".into())
    }
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url)
            .finish()
    }
}
