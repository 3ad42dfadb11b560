//! Write budgets: a session's own writes that grant (trust) and a user's sign-ins are
//! counted per minute; past a budget, 429 with `Retry-After` and nothing changed.
//! Ending access is never counted: nothing another session spends can stop a user
//! from revoking sessions, untrusting or removing devices.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::support::*;

/// Waits, if need be, so that the next `seconds` stay inside one calendar minute:
/// budgets are per minute, and the emulator can be slow under the other tests.
async fn inside_one_minute(seconds: i64) {
    let into_minute = now().rem_euclid(60);
    if into_minute > 60 - seconds {
        tokio::time::sleep(Duration::from_secs((61 - into_minute) as u64)).await;
    }
}

#[track_caller]
fn assert_rate_limited(answer: &Answer) {
    answer.assert_status(429);
    assert_eq!(answer.code(), "RATE_LIMITED");
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn a_thief_spending_every_budget_cannot_stop_the_owner_ending_access() {
    inside_one_minute(25).await;
    let t = TestApp::with(&[
        ("RATE_LIMIT_WRITES_PER_MINUTE", "3"),
        ("RATE_LIMIT_SIGN_INS_PER_MINUTE", "5"),
    ])
    .await;
    t.sign_in("laptop").await;
    t.sign_in_other("thief", "phone").await;
    t.sign_in_other("other", "phone").await;
    let tablet = t.sign_in_other("tablet-session", "tablet").await;
    let trust = |session: &str, fingerprint: &str| {
        t.request(Route::TrustDevice)
            .session(session)
            .json(json!({ "fingerprint": fingerprint }))
            .send()
    };

    // The thief spends its session's budget, and past it is refused.
    for _ in 0..3 {
        trust("thief", "phone").await.assert_status(200);
    }
    assert_rate_limited(&trust("thief", "phone").await);
    // The owner's session has its own budget; spend it too.
    for _ in 0..3 {
        trust(&t.session, "laptop").await.assert_status(200);
    }
    assert_rate_limited(&trust(&t.session, "laptop").await);

    // Ending access still answers, every kind of it.
    let revoked = t.request(Route::RevokeSession).id("other").send().await;
    revoked.assert_status(200);
    t.request(Route::UntrustDevice)
        .id(&tablet)
        .send()
        .await
        .assert_status(200);
    t.request(Route::DeleteDevice)
        .id(&tablet)
        .send()
        .await
        .assert_status(200);
    let all = t
        .request(Route::RevokeAllSessions)
        .query("keepCurrent", "true")
        .send()
        .await;
    all.assert_status(200);
    assert_eq!(all.body["revokedCount"], 1, "the thief's session");
    t.request(Route::ListSessions)
        .session("thief")
        .send()
        .await
        .assert_unauthorized();
    // And the owner can still sign in: trusts never spend the sign-in budget.
    t.sign_in_other("new-phone", "phone").await;
}

#[tokio::test]
async fn sign_ins_past_the_budget_are_429_and_change_nothing() {
    inside_one_minute(20).await;
    let t = TestApp::with(&[("RATE_LIMIT_SIGN_INS_PER_MINUTE", "2")]).await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone", "phone").await;
    assert_rate_limited(&t.register("tablet", "tablet").await);
    let account = t.account().await;
    assert_eq!((account.devices.len(), account.sessions.len()), (2, 2));
    // Reads still answer, and a refused sign-in's id is not spent: it can sign in later.
    t.request(Route::ListDevices)
        .send()
        .await
        .assert_status(200);
    assert!(t.stored("USED#tablet").await.is_none());
}

#[tokio::test]
async fn trusts_past_the_session_budget_are_429_and_change_nothing() {
    inside_one_minute(20).await;
    let t = TestApp::with(&[("RATE_LIMIT_WRITES_PER_MINUTE", "1")]).await;
    let laptop = t.sign_in("laptop").await;
    let trust = || {
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": "laptop" }))
            .send()
    };
    let trusted = trust().await;
    trusted.assert_status(200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_rate_limited(&trust().await);
    let device = t.request(Route::GetDevice).id(&laptop).send().await;
    assert_eq!(
        device.body["device"]["trustExpiresAt"], trusted.body["trustExpiresAt"],
        "the refused trust moved nothing"
    );
}

/// A code for the devices page is a write of the session that asks for it: a token
/// cannot fill the table with codes faster than its session may write (the session
/// need not be registered, so the budget is counted by its id), and what the session
/// spent on trust counts too. Another session of the user has its own budget.
#[tokio::test]
async fn page_codes_spend_the_session_budget() {
    inside_one_minute(20).await;
    let t = TestApp::with(&[("RATE_LIMIT_WRITES_PER_MINUTE", "3")]).await;
    t.sign_in("laptop").await;
    let code = |session: &str| {
        t.request(Route::CreatePageCode)
            .session(session)
            .body(None, None)
            .send()
    };
    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);
    for _ in 0..2 {
        code(&t.session).await.assert_status(201);
    }
    assert_rate_limited(&code(&t.session).await);
    // Unregistered, and untouched by the other session's spending.
    code("the-app-before-sign-in").await.assert_status(201);
}

/// Guessing fingerprints spends the guessing session's budget: a wrong one (404)
/// counts like a trust, so a session cannot try them offline-fast.
#[tokio::test]
async fn wrong_fingerprints_spend_the_session_budget() {
    inside_one_minute(20).await;
    let t = TestApp::with(&[("RATE_LIMIT_WRITES_PER_MINUTE", "3")]).await;
    t.sign_in("laptop").await;
    let guess = |fingerprint: &str| {
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": fingerprint }))
            .send()
    };
    for wrong in ["guess-1", "guess-2", "guess-3"] {
        guess(wrong).await.assert_status(404);
    }
    assert_rate_limited(&guess("guess-4").await);
    assert_rate_limited(&guess("laptop").await);
}

#[tokio::test]
async fn budget_counters_stay_out_of_every_read() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    for _ in 0..3 {
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": "laptop" }))
            .send()
            .await
            .assert_status(200);
    }
    // The counters exist…
    let partition = |condition: &'static str| {
        t.app
            .store
            .client()
            .query()
            .table_name(t.app.store.table())
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{}", t.user)))
            .expression_attribute_values(":used", AttributeValue::S("USED#".into()))
            .send()
    };
    let sort_keys = |items: &[std::collections::HashMap<String, AttributeValue>]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["SK"].as_s().unwrap().clone())
            .collect()
    };
    let everything = partition("PK = :pk AND SK > :used").await.unwrap();
    let kept = sort_keys(everything.items());
    let counters = kept.iter().filter(|sk| !sk.starts_with("USED#")).count();
    assert!(counters >= 2, "sign-in and session counters: {kept:?}");
    // …and the range every read covers (the store's `SK < USED#`) holds none of them.
    let read = partition("PK = :pk AND SK < :used").await.unwrap();
    let read = sort_keys(read.items());
    assert!(
        read.iter().all(|sk| sk == "ACCOUNT"
            || ["DEVICE#", "FP#", "SESSION#"]
                .iter()
                .any(|p| sk.starts_with(p))),
        "a read fetches only what it needs: {read:?}"
    );
}
