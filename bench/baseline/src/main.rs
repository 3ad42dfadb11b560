//! The benchmark's baseline: one request, one GetItem, nothing else.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("TABLE_NAME")?;
    let client = aws_sdk_dynamodb::Client::new(&aws_config::load_from_env().await);
    lambda_http::run(service_fn(|_request: Request| {
        let (client, table) = (&client, &table);
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key("PK", AttributeValue::S("USER#baseline".into()))
                .key("SK", AttributeValue::S("DEVICE#baseline".into()))
                .send()
                .await?;
            let found = item.item.is_some();
            Ok::<_, Error>(Response::new(Body::from(format!("{{\"found\":{found}}}"))))
        }
    }))
    .await
}
