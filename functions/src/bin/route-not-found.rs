use functions::routes::route_not_found::{FAILURE, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve(FAILURE, handle).await
}
