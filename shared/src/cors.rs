//! Browser preflights. API Gateway's `$default` route catches every method no route
//! names, OPTIONS included, so a browser's CORS preflight (an OPTIONS with `Origin` and
//! `Access-Control-Request-Method`) reaches `route-not-found` instead of API Gateway's
//! own CORS answer — and a preflight that is not 2xx makes the browser refuse the real
//! call. That function answers it with the policy the template configures for the API
//! (`CorsConfiguration`); the contract test checks the two agree.

use lambda_http::Request;
use lambda_http::http::{HeaderName, HeaderValue, header};

/// The methods of every route (template: `AllowMethods`).
pub const ALLOW_METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE"];
/// The request headers a browser may send (template: `AllowHeaders`).
pub const ALLOW_HEADERS: &[&str] = &["authorization", "content-type", "dpop"];
/// The response headers browser code may read beyond the safelisted ones (template:
/// `ExposeHeaders`): when to retry after a 429, why a 401 was refused, and the nonce
/// the next DPoP proof must carry.
pub const EXPOSE_HEADERS: &[&str] = &["retry-after", "www-authenticate", "dpop-nonce"];
/// How long a browser may cache a preflight's answer (template: `MaxAge`).
pub const MAX_AGE_SECONDS: u32 = 600;

/// Whether the request is a CORS preflight.
pub fn is_preflight(request: &Request) -> bool {
    request.method() == lambda_http::http::Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The headers of the answer to a preflight (204, on any path). An origin the policy
/// does not name gets no `Access-Control-Allow-Origin`, so its browser refuses the
/// call; the answer is still 2xx, as API Gateway's own is.
pub fn preflight_headers(
    request: &Request,
    allowed_origins: &[String],
) -> Vec<(HeaderName, String)> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .unwrap_or_default();
    let mut headers = vec![(header::VARY, "Origin".to_string())];
    let allowed = allowed_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin));
    if allowed && HeaderValue::from_str(origin).is_ok() {
        headers.extend([
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.to_string()),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                ALLOW_METHODS.join(","),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                ALLOW_HEADERS.join(","),
            ),
            (
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                EXPOSE_HEADERS.join(","),
            ),
            (header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECONDS.to_string()),
        ]);
    }
    headers
}
