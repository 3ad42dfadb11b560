//! The stream consumer (not a route): see `functions::publish_events`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::lambda_runtime::Error> {
    functions::publish_events::run().await
}
