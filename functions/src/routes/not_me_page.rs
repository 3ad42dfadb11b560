//! `GET /account/not-me` — the "This wasn't me" page (`web/not-me.html`) a new-device
//! sign-in's mail links to, its code in the fragment (docs/report-link.md). Served
//! like the devices page, on the API's own origin under the same strict policy, but
//! never framed: a page whose one button signs a device out is no page to overlay.
//! No token, no DynamoDB: opening it changes nothing.

use lambda_http::{Request, service_fn};

use super::devices_page::{content_security_policy, html};

/// The page, compiled in: one file, its script and style inline.
pub const PAGE: &str = include_str!("../../../web/not-me.html");

pub async fn run() -> Result<(), lambda_http::Error> {
    shared::runtime::init_logging();
    let csp = content_security_policy(PAGE, "'none'");
    lambda_http::run(service_fn(|_: Request| {
        let response = html(PAGE, &csp);
        async move { Ok::<_, std::convert::Infallible>(response) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_runs_only_its_own_script_and_is_never_framed() {
        let csp = content_security_policy(PAGE, "'none'");
        assert_eq!(PAGE.matches("<script>").count(), 1, "one inline script");
        assert_eq!(PAGE.matches("<style>").count(), 1, "one inline style");
        assert!(!PAGE.contains("<script src") && !PAGE.contains("stylesheet"));
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
        // Never a credential: no form, no password field, no sign-in link.
        for asked in ["<form", "<input", "password\"", "href=\"http"] {
            assert!(!PAGE.contains(asked), "{asked}");
        }
    }
}
