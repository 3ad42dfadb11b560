//! "This wasn't me" links (docs/report-link.md): the code the publisher puts in a
//! new-device sign-in's event shows that sign-in without spending anything, ends
//! exactly it once, and every code that does not work gets one answer.

use futures::future::join_all;
use serde_json::{Value, json};
use shared::domain::{EventType, SecurityEvent, SessionId};
use shared::report::{self, ReportKeys};

use crate::support::*;

const KEY: &str = "endpoint-tests-report-key-0123456789abcdef";

async fn test_app() -> TestApp {
    TestApp::with(&[("REPORT_LINK_KEY", KEY)]).await
}

/// A fresh source address per test: the page's budget is counted per address.
fn address() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    format!("198.51.{}.{}", (n >> 8) as u8, n as u8)
}

/// The owner signed in on "owner", then "thief" on a new device: the thief's
/// sign-in's event and its code, as the publisher makes them.
async fn stolen(t: &TestApp) -> (SecurityEvent, String) {
    t.sign_in_other("owner", "fp-owner").await;
    t.sign_in_other("thief", "fp-thief").await;
    let event = t
        .stored_events()
        .await
        .into_iter()
        .find(|e| e.event_type == EventType::NewDeviceSignIn && e.target.1 == "thief")
        .expect("the thief's sign-in event");
    let (code, _) = report::issue(&ReportKeys::new(KEY.as_bytes(), None), &event, 600).unwrap();
    (event, code)
}

async fn call(t: &TestApp, route: Route, ip: &str, code: &str) -> Answer {
    t.request(route)
        .authorization(None)
        .source_ip(ip)
        .json(json!({ "code": code }))
        .send()
        .await
}

async fn whoami(t: &TestApp, session: &str) -> Answer {
    t.request(Route::CurrentSession)
        .session(session)
        .send()
        .await
}

#[tokio::test]
async fn a_link_shows_its_sign_in_then_ends_exactly_it_once() {
    let t = test_app().await;
    let ip = address();
    t.sign_in_other("other", "fp-other").await;
    let (event, code) = stolen(&t).await;
    // The thief names its device like one of the owner's: the page shows the sign-in
    // as it was recorded, not the name.
    let thief_device = t
        .account()
        .await
        .session(&SessionId::parse("thief").unwrap())
        .unwrap()
        .device_id
        .clone();
    t.request(Route::RenameDevice)
        .session("thief")
        .id(thief_device.as_str())
        .json(json!({ "deviceName": "Owner's iPhone" }))
        .send()
        .await
        .assert_status(200);
    let before = t.account().await;

    // Looking it up (twice: a mail scanner, then the owner) shows it and changes nothing.
    for _ in 0..2 {
        let shown = call(&t, Route::NotMeLookup, &ip, &code).await;
        shown.assert_status(200);
        let data = &shown.body["data"];
        assert_eq!(data["deviceName"], "Firefox on macOS", "{data}");
        assert_eq!(
            (&data["os"], &data["browser"]),
            (&json!("macOS"), &json!("Firefox"))
        );
        assert_eq!(data["signedInAt"], shared::domain::rfc3339(event.at()));
        assert_eq!(data["ipAddress"], "203.0.113.10");
        assert!(!shown.body.to_string().contains(&code));
    }
    whoami(&t, "thief").await.assert_status(200);
    assert_eq!(t.account().await.sessions.len(), before.sessions.len());
    assert_eq!(t.account().await.devices.len(), before.devices.len());

    let confirmed = call(&t, Route::NotMeConfirm, &ip, &code).await;
    confirmed.assert_status(200);
    assert_eq!(confirmed.body["data"]["sessionsEnded"], 1);
    assert!(!confirmed.body.to_string().contains(&code));

    // That session is over, for that reason; the owner's others are not.
    let refused = whoami(&t, "thief").await;
    refused.assert_unauthorized();
    assert_eq!(refused.body["reason"], "REPORTED", "{:#}", refused.body);
    whoami(&t, "owner").await.assert_status(200);
    whoami(&t, "other").await.assert_status(200);
    // Its device is gone, with its trust and fingerprint: a sign-in from it is new again.
    let device = event.device_id.clone().unwrap();
    assert!(t.stored(&format!("DEVICE#{device}")).await.is_none());
    assert_eq!(t.account().await.devices.len(), before.devices.len() - 1);

    // One event, naming the reported session and its device, in the user's log.
    let reported: Vec<_> = t
        .stored_events()
        .await
        .into_iter()
        .filter(|e| e.event_type == EventType::SignInReported)
        .collect();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].target.1, "thief");
    assert_eq!(reported[0].device_id.as_deref(), Some(device.as_str()));
    assert_eq!(reported[0].count, Some(1));
    let log = t
        .request(Route::SecurityEvents)
        .session("owner")
        .send()
        .await;
    log.assert_status(200);
    let log = log.body.to_string();
    assert!(log.contains("SIGN_IN_REPORTED") && !log.contains(&code));
    assert!(!log.contains("reportLink"), "{log}");

    // Spent: both calls now answer as for any code that does not work.
    for route in Route::REPORT {
        let again = call(&t, route, &ip, &code).await;
        again.assert_status(404);
        assert_eq!(again.code(), "CODE_NOT_FOUND");
    }
}

#[tokio::test]
async fn used_expired_forged_and_unknown_codes_get_one_answer() {
    let t = test_app().await;
    let ip = address();
    let (event, code) = stolen(&t).await;
    let keys = ReportKeys::new(KEY.as_bytes(), None);
    let expired = report::issue(&keys, &event, -1).unwrap().0;
    let forged_key = ReportKeys::new(&[7; 32], None);
    let forged = report::issue(&forged_key, &event, 600).unwrap().0;
    // A sign-in's code for another user's partition: the event is not there.
    let mut elsewhere = event.clone();
    elsewhere.user = shared::domain::UserId::parse(&unique("user")).unwrap();
    let unknown = report::issue(&keys, &elsewhere, 600).unwrap().0;

    // Before the sign-in is reported (so only what is wrong with each code refuses
    // it), then the good code once used.
    let mut answers: Vec<Value> = Vec::new();
    for bad in [expired.as_str(), &forged, &unknown, "made-up", "", &code] {
        if bad == code {
            whoami(&t, "thief").await.assert_status(200);
            let confirmed = call(&t, Route::NotMeConfirm, &ip, &code).await;
            confirmed.assert_status(200);
        }
        for route in Route::REPORT {
            let answer = call(&t, route, &ip, bad).await;
            answer.assert_status(404);
            answers.push(answer.body);
        }
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:#?}");
    assert_eq!(answers[0]["code"], "CODE_NOT_FOUND");
}

#[tokio::test]
async fn of_racing_confirms_exactly_one_lands() {
    // Twice: a live sign-in, and one whose device the owner already removed (which
    // can still be reported, once: only the spent marker's condition stops a second).
    for removed_first in [false, true] {
        let t = test_app().await;
        let (event, code) = stolen(&t).await;
        if removed_first {
            let device = event.device_id.as_deref().unwrap();
            let removed = t.request(Route::DeleteDevice).session("owner").id(device);
            removed.send().await.assert_status(200);
        }
        let confirms = (0..4).map(|_| call(&t, Route::NotMeConfirm, "192.0.2.44", &code));
        let answers = join_all(confirms).await;
        // A confirm overtaken by another's transaction may answer 409: never a second
        // 200, and no other answer than a used code's.
        let landed = answers.iter().filter(|a| a.status == 200).count();
        assert_eq!(landed, 1, "{answers:#?}");
        for answer in answers.iter().filter(|a| a.status != 200) {
            assert!(
                answer.code() == "CODE_NOT_FOUND" || answer.status == 409,
                "{answer:#?}"
            );
        }
        // Spent, however the race went.
        call(&t, Route::NotMeConfirm, "192.0.2.44", &code)
            .await
            .assert_status(404);
        let events = t.stored_events().await;
        let reported = events
            .iter()
            .filter(|e| e.event_type == EventType::SignInReported);
        assert_eq!(reported.count(), 1, "removed first: {removed_first}");
    }
}

#[tokio::test]
async fn the_page_calls_are_rate_limited_per_source_address() {
    let t = test_app().await;
    let (ip, other) = (address(), address());
    // All in one minute's budget: not across a minute's end.
    let into = now().rem_euclid(60);
    if into > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - into) as u64)).await;
    }
    for _ in 0..shared::store::NOT_ME_CALLS_PER_MINUTE {
        call(&t, Route::NotMeLookup, &ip, "probe")
            .await
            .assert_status(404);
    }
    for route in Route::REPORT {
        let refused = call(&t, route, &ip, "probe").await;
        refused.assert_status(429);
        assert!(refused.headers.contains_key("retry-after"));
    }
    call(&t, Route::NotMeLookup, &other, "probe")
        .await
        .assert_status(404);
}

/// Deletes one item straight from the emulator, from outside the test's runtime: what
/// another request commits while the front holds this one.
fn delete_now(
    table: String,
    key: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = aws_sdk_dynamodb::Client::new(&shared::App::sdk_config().await);
            let deleted = client
                .delete_item()
                .table_name(table)
                .set_key(Some(key))
                .send()
                .await;
            deleted.expect("DeleteItem");
        });
    })
    .join()
    .unwrap();
}

#[tokio::test]
async fn a_device_removed_between_a_confirms_read_and_its_write_still_ends_the_sign_in() {
    // The reported device goes (the owner removes it, or it ages out) after the confirm
    // read the account and before its transaction: the confirm reads again and ends the
    // sign-in all the same, rather than tell the owner the link no longer works.
    let armed: std::sync::Arc<std::sync::Mutex<Option<(String, _)>>> = Default::default();
    let trigger = armed.clone();
    let front = crate::front::Front::deciding(move |operation, _| {
        if operation == "TransactWriteItems"
            && let Some((table, key)) = trigger.lock().unwrap().take()
        {
            delete_now(table, key);
        }
        crate::front::Verdict::Pass
    })
    .await;
    let t = TestApp::through_with(&front, &[("REPORT_LINK_KEY", KEY)]).await;
    let ip = address();
    let (event, code) = stolen(&t).await;
    let device = event.device_id.clone().expect("the sign-in's device");
    let key = std::collections::HashMap::from([
        (
            "PK".to_string(),
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", t.user)),
        ),
        (
            "SK".to_string(),
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DEVICE#{device}")),
        ),
    ]);
    *armed.lock().unwrap() = Some((t.app.store.table().to_string(), key));

    let confirmed = call(&t, Route::NotMeConfirm, &ip, &code).await;
    confirmed.assert_status(200);
    assert!(
        armed.lock().unwrap().is_none(),
        "the device went between read and write"
    );
    let thief = whoami(&t, "thief").await;
    thief.assert_status(401);
    assert_eq!(thief.body["reason"], "REPORTED");
    let reported = t.stored_events().await;
    assert!(
        reported
            .iter()
            .any(|e| e.event_type == EventType::SignInReported)
    );
    // Spent: the link works no more.
    call(&t, Route::NotMeConfirm, &ip, &code)
        .await
        .assert_status(404);
}
