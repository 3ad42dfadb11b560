use functions::routes::admin_revoke_sessions::{FAILURE, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve(FAILURE, handle).await
}
