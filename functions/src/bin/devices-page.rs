//! The "Your devices" page: see `functions::routes::devices_page`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::routes::devices_page::run().await
}
