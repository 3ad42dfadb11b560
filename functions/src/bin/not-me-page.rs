//! The "This wasn't me" page: see `functions::routes::not_me_page`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::routes::not_me_page::run().await
}
