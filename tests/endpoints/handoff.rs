//! The devices page's hand-off (docs/devices-page.md, "Opening it"): a code made with
//! the user's token opens the page once, within its lifetime, and the table never holds
//! the token or the fingerprint it hands over.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::{Value, json};
use shared::domain::rfc3339;
use shared::handoff::Code;

use crate::support::*;

const FINGERPRINT: &str = "fp-handoff-secret-7f3a9c";

/// A new code for `token` (with the test's fingerprint): the 201's `data`.
async fn create(t: &TestApp, token: &str) -> Value {
    let answer = t
        .request(Route::CreatePageCode)
        .authorization(Some(&format!("Bearer {token}")))
        .json(json!({ "fingerprint": FINGERPRINT }))
        .send()
        .await;
    answer.assert_status(201);
    answer.body["data"].clone()
}

async fn redeem(t: &TestApp, code: &str) -> Answer {
    t.request(Route::RedeemPageCode)
        .authorization(None)
        .json(json!({ "code": code }))
        .send()
        .await
}

/// The code's item, read straight from the table.
async fn stored(t: &TestApp, code: &str) -> Option<HashMap<String, AttributeValue>> {
    let key = Code::parse(code).expect("a code").storage_key();
    t.app
        .store
        .client()
        .get_item()
        .table_name(t.app.store.table())
        .key("PK", AttributeValue::S(format!("PAGECODE#{key}")))
        .key("SK", AttributeValue::S("CODE".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
}

#[tokio::test]
async fn a_code_hands_the_page_the_token_and_fingerprint_it_was_made_with() {
    let t = TestApp::new().await;
    t.sign_in(FINGERPRINT).await;
    let token = t.token();
    let made = create(&t, &token).await;
    let code = made["code"].as_str().unwrap();
    assert_eq!(code.len(), 43);
    assert_eq!(made["path"], format!("/account/devices#code={code}"));
    // A minute from now (the default lifetime).
    let a_minute_on: Vec<String> = (now() + 55..=now() + 60).map(rfc3339).collect();
    assert!(
        a_minute_on.contains(&made["expiresAt"].as_str().unwrap().to_string()),
        "{made}"
    );

    let answer = redeem(&t, code).await;
    answer.assert_status(200);
    assert_eq!(answer.body["data"]["token"], token);
    assert_eq!(answer.body["data"]["fingerprint"], FINGERPRINT);
    assert_eq!(answer.headers["cache-control"], "no-store");
    // The token handed over works as the app's own.
    let whoami = t
        .request(Route::CurrentSession)
        .authorization(Some(&format!(
            "Bearer {}",
            answer.body["data"]["token"].as_str().unwrap()
        )))
        .send()
        .await;
    whoami.assert_status(200);

    // Without a body: no fingerprint, and the page will not offer trust.
    let answer = t
        .request(Route::CreatePageCode)
        .body(None, None)
        .send()
        .await;
    answer.assert_status(201);
    let redeemed = redeem(&t, answer.body["data"]["code"].as_str().unwrap()).await;
    redeemed.assert_status(200);
    assert_eq!(redeemed.body["data"]["fingerprint"], Value::Null);
}

#[tokio::test]
async fn a_code_works_once_and_used_expired_and_unknown_codes_answer_alike() {
    let t = TestApp::new().await;
    let used = create(&t, &t.token()).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    redeem(&t, &used).await.assert_status(200);
    let again = redeem(&t, &used).await;
    again.assert_status(404);
    assert_eq!(again.code(), "CODE_NOT_FOUND");
    assert!(stored(&t, &used).await.is_none(), "spent codes are deleted");

    // Expired: a code never outlives the token it hands over, so a token that ends in
    // two seconds makes a code that does. TTL deletes lazily (DynamoDB: within days),
    // so the item's `ttl` is moved out of the local emulator's quicker reach: the
    // refusal must come from the expiry check itself.
    let short = mint(json!({ "sub": t.user, "sid": t.session, "exp": now() + 2, "iat": now() }));
    let expired = create(&t, &short).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let key = Code::parse(&expired).unwrap().storage_key();
    t.app
        .store
        .client()
        .update_item()
        .table_name(t.app.store.table())
        .key("PK", AttributeValue::S(format!("PAGECODE#{key}")))
        .key("SK", AttributeValue::S("CODE".into()))
        .update_expression("SET #ttl = :later")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":later", n(now() + 3600))
        .send()
        .await
        .expect("UpdateItem");
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    assert!(stored(&t, &expired).await.is_some(), "still stored");
    let late = redeem(&t, &expired).await;

    let unknown = redeem(&t, &Code::new().unwrap().as_text()).await;
    for answer in [&again, &late, &unknown] {
        answer.assert_status(404);
        assert_eq!(answer.body, again.body, "one answer for all three");
    }
    assert_eq!(
        again.body,
        json!({
            "success": false,
            "code": "CODE_NOT_FOUND",
            "error": "This link has expired or was already used",
        })
    );
}

#[tokio::test]
async fn of_racing_redeems_exactly_one_gets_the_token() {
    let t = TestApp::new().await;
    for _ in 0..3 {
        let code = create(&t, &t.token()).await["code"]
            .as_str()
            .unwrap()
            .to_string();
        let answers = join_all((0..8).map(|_| redeem(&t, &code))).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 404).count(),
            7,
            "{statuses:?}"
        );
    }
}

#[tokio::test]
async fn the_table_holds_neither_the_token_nor_the_fingerprint() {
    let t = TestApp::new().await;
    let token = t.token();
    let code = create(&t, &token).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let item = stored(&t, &code).await.expect("the code's item");
    // Every byte stored, key and attributes, as text and as raw bytes.
    let mut everything: Vec<u8> = Vec::new();
    for (name, value) in &item {
        everything.extend(name.as_bytes());
        match value {
            AttributeValue::S(text) | AttributeValue::N(text) => everything.extend(text.as_bytes()),
            AttributeValue::B(blob) => everything.extend(blob.as_ref()),
            other => panic!("unexpected attribute {name}: {other:?}"),
        }
    }
    let contains = |needle: &[u8]| everything.windows(needle.len()).any(|w| w == needle);
    for secret in [token.as_str(), FINGERPRINT, &code] {
        assert!(!contains(secret.as_bytes()), "{secret} is stored");
    }
    // A signature alone would do to replay a token: none of it either.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!contains(signature.as_bytes()));
    // Its own partition, not the user's; gone by TTL once expired.
    let pk = item["PK"].as_s().unwrap();
    assert!(pk.starts_with("PAGECODE#") && !pk.contains(&t.user), "{pk}");
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    assert!((now()..=now() + 60).contains(&ttl));
    assert!(t.account().await.sessions.is_empty() && t.account().await.devices.is_empty());
}

#[tokio::test]
async fn only_a_valid_token_makes_a_code() {
    let t = TestApp::new().await;
    let bad = t.bad_bearers().map(Some);
    for header in [None, Some(t.token())].into_iter().chain(bad) {
        let answer = t
            .request(Route::CreatePageCode)
            .authorization(header.as_deref())
            .json(json!({ "fingerprint": FINGERPRINT }))
            .send()
            .await;
        answer.assert_unauthorized();
        assert!(answer.body.get("data").is_none());
    }
}

#[tokio::test]
async fn malformed_requests_are_400_and_spend_nothing() {
    let t = TestApp::new().await;
    let code = create(&t, &t.token()).await["code"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        json!({}),
        json!({ "code": 5 }),
        json!({ "code": "" }),
        json!({ "code": &code[1..] }),
        json!({ "code": format!("{code}=") }),
        json!({ "code": code.replace(|c: char| c.is_ascii_alphanumeric(), "+") }),
    ] {
        let answer = t
            .request(Route::RedeemPageCode)
            .authorization(None)
            .json(body.clone())
            .send()
            .await;
        answer.assert_status(400);
        assert!(
            [
                "INVALID_CODE",
                "INVALID_FIELD",
                "MISSING_FIELD",
                "INVALID_JSON"
            ]
            .contains(&answer.code()),
            "{body}: {}",
            answer.body
        );
    }
    let no_body = t
        .request(Route::RedeemPageCode)
        .authorization(None)
        .body(None, None)
        .send()
        .await;
    no_body.assert_status(400);
    let bad_fingerprint = t
        .request(Route::CreatePageCode)
        .json(json!({ "fingerprint": "a\u{202e}b" }))
        .send()
        .await;
    bad_fingerprint.assert_status(400);
    // None of it spent the code.
    redeem(&t, &code).await.assert_status(200);
}
