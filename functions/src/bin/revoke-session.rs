use functions::routes::revoke_session::{FAILURE, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve(FAILURE, handle).await
}
