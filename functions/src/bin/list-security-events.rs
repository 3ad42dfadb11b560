use functions::routes::list_security_events::{FAILURE, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve(FAILURE, handle).await
}
