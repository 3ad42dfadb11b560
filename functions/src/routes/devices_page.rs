//! `GET /account/devices` — the "Your devices" page (`web/devices.html`), served on the
//! API's own origin so it calls the API without CORS. It needs no token to be served
//! (the page redeems the one-time code in its URL fragment, which never reaches a
//! server, for the token: docs/devices-page.md) and no DynamoDB: this function only
//! hands out one file, with headers that let that file run and nothing else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response, service_fn};
use sha2::{Digest, Sha256};

/// The page, compiled in: one file, its script and style inline.
pub const PAGE: &str = include_str!("../../../web/devices.html");

/// Who may frame the page (CSP `frame-ancestors`): `'none'` unless the operator names
/// the platform's origins in `PAGE_FRAME_ANCESTORS` (space-separated).
pub const FRAME_ANCESTORS_VARIABLE: &str = "PAGE_FRAME_ANCESTORS";

/// The Content-Security-Policy: the page's own script and style, allowed by hash (no
/// `'unsafe-inline'`), calls to its own origin only, no other source of anything (the
/// empty `data:` icon aside, which keeps browsers from asking for /favicon.ico), DOM
/// sinks that parse markup refused (Trusted Types), and framing as configured.
pub fn content_security_policy(page: &str, frame_ancestors: &str) -> String {
    let script = inline_hash(page, "script");
    let style = inline_hash(page, "style");
    format!(
        "default-src 'none'; script-src '{script}'; style-src '{style}'; connect-src 'self'; \
         img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}; \
         require-trusted-types-for 'script'; trusted-types 'none'"
    )
}

/// `sha256-…` of the text inside the page's one `<tag>…</tag>` block.
fn inline_hash(page: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = page.find(&open).expect("the page has an inline block") + open.len();
    let end = start + page[start..].find(&format!("</{tag}>")).expect("closed");
    format!(
        "sha256-{}",
        STANDARD.encode(Sha256::digest(&page[start..end]))
    )
}

/// The frame ancestors to allow, from the setting: `'none'`, `'self'` or exact origins
/// such as `https://app.example.com`; anything else (a wildcard host or port, which
/// lets any site frame the page, a `;` that would add a directive, a path, a quote)
/// is refused and framing stays off (docs/devices-page.md).
pub fn frame_ancestors(setting: Option<&str>) -> Result<String, String> {
    let setting = setting.map(str::trim).filter(|s| !s.is_empty());
    let Some(setting) = setting else {
        return Ok("'none'".into());
    };
    let valid = |source: &str| {
        source == "'none'"
            || source == "'self'"
            || source
                .strip_prefix("https://")
                .or_else(|| source.strip_prefix("http://"))
                .is_some_and(|origin| {
                    let (host, port) = origin.split_once(':').unwrap_or((origin, "1"));
                    host.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && host
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
                        && port.bytes().all(|b| b.is_ascii_digit())
                        && port.parse::<u16>().is_ok()
                })
    };
    match setting.split_whitespace().find(|source| !valid(source)) {
        Some(bad) => Err(format!(
            "{FRAME_ANCESTORS_VARIABLE}: {bad:?} is not 'none', 'self' or an origin"
        )),
        None => Ok(setting.split_whitespace().collect::<Vec<_>>().join(" ")),
    }
}

/// The function: the policy worked out once at cold start, then the same answer to
/// every request. A framing setting that is not understood fails closed: no framing,
/// said once in the log.
pub async fn run() -> Result<(), lambda_http::Error> {
    shared::runtime::init_logging();
    let setting = std::env::var(FRAME_ANCESTORS_VARIABLE).ok();
    let ancestors = frame_ancestors(setting.as_deref()).unwrap_or_else(|error| {
        tracing::error!(%error, "framing refused");
        "'none'".into()
    });
    let csp = content_security_policy(PAGE, &ancestors);
    lambda_http::run(service_fn(|_: Request| {
        let response = answer(&csp);
        async move { Ok::<_, std::convert::Infallible>(response) }
    }))
    .await
}

/// The answer to every request this function gets (its one route).
pub fn answer(csp: &str) -> Response<Body> {
    html(PAGE, csp)
}

/// A page of the stack's own, under `csp` (the "This wasn't me" page is served alike).
pub fn html(page: &str, csp: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, csp)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header("cross-origin-opener-policy", "same-origin")
        .header("cross-origin-resource-policy", "same-origin")
        .header(
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        )
        // Small and changes with each deployment: revalidate rather than cache stale.
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::Text(page.to_string()))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_pages_script_and_style() {
        let csp = content_security_policy(PAGE, "'none'");
        assert_eq!(PAGE.matches("<script>").count(), 1, "one inline script");
        assert_eq!(PAGE.matches("<style>").count(), 1, "one inline style");
        assert!(!PAGE.contains("<script src") && !PAGE.contains("stylesheet"));
        assert!(csp.contains("script-src 'sha256-") && !csp.contains("unsafe"));
        // The hash changes with the script: an edited page is never run under an old policy.
        let edited = PAGE.replace("\"use strict\";", "\"use strict\"; ");
        assert_ne!(content_security_policy(&edited, "'none'"), csp);
    }

    #[test]
    fn framing_is_off_unless_origins_are_named() {
        assert_eq!(frame_ancestors(None).unwrap(), "'none'");
        assert_eq!(frame_ancestors(Some("  ")).unwrap(), "'none'");
        assert_eq!(
            frame_ancestors(Some("'self'  https://app.example.com")).unwrap(),
            "'self' https://app.example.com"
        );
        for bad in [
            "https://a.example; script-src *",
            "*",
            "https://a.example/path",
            "'unsafe-inline'",
            "javascript:",
        ] {
            assert!(frame_ancestors(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcard_hosts_are_never_frame_ancestors() {
        // Any site, or any subdomain, could frame the page: name exact origins.
        for bad in [
            "https://*",
            "https://*.example.com",
            "'self' https://*",
            "https://app.example.com:*",
            "http://*",
            "https://app.example.com:+1",
        ] {
            assert!(frame_ancestors(Some(bad)).is_err(), "{bad}");
        }
        assert!(frame_ancestors(Some("https://app.example.com:8443")).is_ok());
    }
}
