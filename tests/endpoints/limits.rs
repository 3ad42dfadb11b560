//! The per-user write budget: past it, writes answer 429 with `Retry-After` and
//! change nothing; reads are not limited.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn writes_past_the_budget_are_429_and_change_nothing() {
    // Stay inside one minute window: the budget is per calendar minute, and the
    // emulator can be slow under the other tests, so leave 20 s for the ten calls.
    let into_minute = now().rem_euclid(60);
    if into_minute > 40 {
        tokio::time::sleep(Duration::from_secs((61 - into_minute) as u64)).await;
    }
    let t = TestApp::with(&[("RATE_LIMIT_WRITES_PER_MINUTE", "3")]).await;
    let laptop = t.sign_in("laptop").await; // 1
    t.sign_in_other("phone", "phone").await; // 2
    let trust = || {
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": "laptop" }))
            .send()
    };
    let trusted = trust().await; // 3
    trusted.assert_status(200);

    let refused = [
        trust().await,
        t.request(Route::RevokeSession).id("phone").send().await,
        t.request(Route::RevokeAllSessions).send().await,
        t.request(Route::UntrustDevice).id(&laptop).send().await,
        t.request(Route::DeleteDevice).id(&laptop).send().await,
        t.register("tablet", "tablet").await,
    ];
    for answer in refused {
        answer.assert_status(429);
        assert_eq!(answer.code(), "RATE_LIMITED");
        let retry_after: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }

    // Nothing changed, and reads still answer.
    let device = t.request(Route::GetDevice).id(&laptop).send().await;
    device.assert_status(200);
    assert_eq!(
        device.body["device"]["trustExpiresAt"],
        trusted.body["trustExpiresAt"]
    );
    let sessions = t.request(Route::ListSessions).send().await;
    assert_eq!(sessions.body["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(t.account().await.devices.len(), 2);
}
