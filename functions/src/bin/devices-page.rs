//! The "Your devices" page: see `functions::devices_page`.

use functions::devices_page::{self, FRAME_ANCESTORS_VARIABLE, PAGE};
use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::init_logging();
    let setting = std::env::var(FRAME_ANCESTORS_VARIABLE).ok();
    // A setting that is not understood fails closed: no framing, said once in the log.
    let ancestors = devices_page::frame_ancestors(setting.as_deref()).unwrap_or_else(|error| {
        tracing::error!(%error, "framing refused");
        "'none'".into()
    });
    let csp = devices_page::content_security_policy(PAGE, &ancestors);
    lambda_http::run(service_fn(|_: Request| {
        let response = devices_page::answer(&csp);
        async move { Ok::<_, std::convert::Infallible>(response) }
    }))
    .await
}
