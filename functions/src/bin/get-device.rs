use functions::routes::get_device::{FAILURE, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve(FAILURE, handle).await
}
