//! The Lambda authorizer (not a route): see `functions::authorize`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::lambda_runtime::Error> {
    functions::authorize::run().await
}
