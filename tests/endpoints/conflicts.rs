//! Real DynamoDB refuses a write to an item another transaction holds
//! (`TransactionConflict`) instead of queueing it, and every write of a user touches
//! that user's rate-limit counter: two writes at once meet. The emulator runs one
//! request at a time and never refuses, so a front answers chosen writes with the
//! conflict DynamoDB would send. A refused write is tried again and lands; one refused
//! on every try answers 409 and changes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use shared::store::CONFLICT_ATTEMPTS;

use crate::front::{self, Front};
use crate::support::*;

const TRIES: usize = CONFLICT_ATTEMPTS as usize;

/// A front refusing the next `arm(n)` requests of one operation for a conflict.
struct Conflicts {
    front: Front,
    left: Arc<AtomicUsize>,
}

impl Conflicts {
    async fn on(operation: &'static str) -> Self {
        let left = Arc::new(AtomicUsize::new(0));
        let counter = left.clone();
        let front = Front::start(move |op, request| {
            let take = |n: usize| n.checked_sub(1);
            let refuse = op == operation
                && counter
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take)
                    .is_ok();
            refuse.then(|| match op {
                "TransactWriteItems" => front::transaction_conflict(request),
                _ => front::error(
                    "TransactionConflictException",
                    json!({ "message": "Transaction is ongoing for the item" }),
                ),
            })
        })
        .await;
        Conflicts { front, left }
    }

    fn arm(&self, refusals: usize) {
        self.left.store(refusals, Ordering::SeqCst);
    }

    fn transactions(&self) -> usize {
        self.front.count("TransactWriteItems")
    }
}

/// The devices and sessions as stored, to compare before and after.
async fn snapshot(t: &TestApp) -> String {
    let account = t.account().await;
    format!("{:?} {:?}", account.devices, account.sessions)
}

#[tokio::test]
async fn a_transaction_refused_for_a_conflict_is_tried_again_and_lands() {
    let conflicts = Conflicts::on("TransactWriteItems").await;
    let t = TestApp::through(&conflicts.front).await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone-session", "phone").await;

    conflicts.arm(TRIES - 1);
    let before = conflicts.transactions();
    t.request(Route::RevokeSession)
        .id("phone-session")
        .send()
        .await
        .assert_status(200);
    assert_eq!(
        conflicts.transactions() - before,
        TRIES,
        "refused, then landed"
    );
    let stored = t.stored_session("phone-session").await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "REVOKED");
}

#[tokio::test]
async fn every_write_refused_on_every_try_is_409_and_changes_nothing() {
    let conflicts = Conflicts::on("TransactWriteItems").await;
    let t = TestApp::through(&conflicts.front).await;
    let laptop = t.sign_in("laptop").await;
    let phone = t.sign_in_other("phone-session", "phone").await;
    let unchanged = snapshot(&t).await;

    let writes = [
        t.request(Route::RevokeSession).id("phone-session"),
        t.request(Route::RevokeAllSessions),
        t.request(Route::TrustDevice)
            .json(json!({ "fingerprint": "laptop" })),
        t.request(Route::UntrustDevice).id(&phone),
        t.request(Route::DeleteDevice).id(&phone),
        t.request(Route::DeleteDevice).id(&laptop),
        t.request(Route::RegisterSession)
            .session("tablet-session")
            .json(json!({ "fingerprint": "tablet" })),
    ];
    for write in writes {
        conflicts.arm(usize::MAX);
        let before = conflicts.transactions();
        let answer = write.send().await;
        conflicts.arm(0);
        answer.assert_status(409);
        assert_eq!(answer.code(), "CONFLICT");
        assert!(
            conflicts.transactions() - before >= TRIES,
            "tried {TRIES} times"
        );
        assert_eq!(snapshot(&t).await, unchanged, "{:#}", answer.body);
    }
}

#[tokio::test]
async fn a_heartbeat_refused_for_a_conflict_is_tried_again() {
    let conflicts = Conflicts::on("UpdateItem").await;
    let t = TestApp::through(&conflicts.front).await;
    t.sign_in("laptop").await;
    let (last_activity, expires_at) = (now() - 100, now() + 60);
    t.set_session(
        &t.session,
        &[
            ("lastActivity", n(last_activity)),
            ("expiresAt", n(expires_at)),
        ],
    )
    .await;
    let heartbeat = || t.request(Route::SessionHeartbeat).id(&t.session).send();

    // Refused on every try: 409, and the session as it was.
    conflicts.arm(usize::MAX);
    let answer = heartbeat().await;
    conflicts.arm(0);
    answer.assert_status(409);
    assert_eq!(answer.code(), "CONFLICT");
    assert_eq!(
        conflicts.front.count("UpdateItem"),
        1 + TRIES,
        "set, then tries"
    );
    let stored = t.stored_session(&t.session).await.unwrap();
    assert_eq!(stored["lastActivity"], n(last_activity));
    assert_eq!(stored["expiresAt"], n(expires_at));

    // Refused on all tries but the last: the expiry slides.
    conflicts.arm(TRIES - 1);
    heartbeat().await.assert_status(200);
    let stored = t.stored_session(&t.session).await.unwrap();
    let slid: i64 = stored["expiresAt"].as_n().unwrap().parse().unwrap();
    assert!(slid > expires_at, "the expiry slid");
}
