//! Revoked sessions swept out of the account's reads (docs/design.md, "Revoked
//! sessions are swept"): the next sign-in deletes the revoked session items it read
//! that were revoked over the grace period ago, keeping each reason on its used-id
//! marker, and every route still answers such a session 401 with that reason.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::json;
use shared::domain::{EndReason, SessionStatus, UserId, rfc3339};
use shared::error::{AuthFailure, Error};
use shared::store::{MOST_SWEPT, SWEEP_GRACE_SECONDS};

use crate::support::*;

/// Moves a revoked session's revocation past the grace period, as time would.
async fn revoked_long_ago(t: &TestApp, session: &str) {
    let at = now() - SWEEP_GRACE_SECONDS - 1;
    t.set_session(session, &[("revokedAt", n(at))]).await;
}

/// The owner signed in on a laptop, and `session` on another device (`fingerprint`)
/// signed out from the laptop, its last activity `active_until` when given: that
/// device's id.
async fn signed_out_elsewhere(
    t: &TestApp,
    session: &str,
    fingerprint: &str,
    active_until: Option<i64>,
) -> String {
    t.sign_in("laptop").await;
    let device = t.sign_in_other(session, fingerprint).await;
    if let Some(at) = active_until {
        t.set_session(session, &[("lastActivity", n(at))]).await;
    }
    t.request(Route::RevokeSession)
        .id(session)
        .send()
        .await
        .assert_status(200);
    device
}

/// The session items the account's reads fetch.
async fn session_items(t: &TestApp) -> usize {
    t.account().await.sessions.len()
}

/// A device's `lastSeen` as `GET /devices/{id}` shows it.
async fn last_seen(t: &TestApp, device: &str) -> serde_json::Value {
    let answer = t.request(Route::GetDevice).id(device).send().await;
    answer.assert_status(200);
    answer.body["device"]["lastSeen"].clone()
}

#[track_caller]
fn assert_ended(answer: &Answer, reason: &str) {
    answer.assert_unauthorized();
    assert_eq!(answer.body["reason"], reason, "{:#}", answer.body);
}

#[tokio::test]
async fn a_revoked_session_leaves_the_reads_at_the_next_sign_in_and_still_answers_why() {
    let t = TestApp::new().await;
    signed_out_elsewhere(&t, "stolen", "phone", None).await;
    revoked_long_ago(&t, "stolen").await;
    assert_eq!(session_items(&t).await, 2);

    t.sign_in_other("tablet-1", "tablet").await;
    assert!(t.stored_session("stolen").await.is_none(), "swept");
    let marker = t.stored("USED#stolen").await.expect("the marker stays");
    assert_eq!(marker["endReason"], AttributeValue::S("REVOKED".into()));
    assert_eq!(session_items(&t).await, 2, "the laptop's and the tablet's");

    // Every way a request meets its session: a Query of the account, a read by key,
    // a write conditioned on it, a registration of it again.
    for route in [
        Route::ListSessions,
        Route::CurrentSession,
        Route::ListDevices,
    ] {
        assert_ended(&t.request(route).session("stolen").send().await, "REVOKED");
    }
    let heartbeat = t
        .request(Route::SessionHeartbeat)
        .session("stolen")
        .id("stolen")
        .send()
        .await;
    assert_ended(&heartbeat, "REVOKED");
    let again = t
        .request(Route::RegisterSession)
        .session("stolen")
        .json(json!({ "fingerprint": "phone" }))
        .send()
        .await;
    assert_ended(&again, "REVOKED");
    // A write whose read found the session alive, landing after it was swept: the
    // transaction's own condition on the caller's session says why.
    match t.app.store.spend_write(&t.identity("stolen"), now()).await {
        Err(Error::Unauthorized(AuthFailure::SessionEnded(EndReason::Revoked))) => {}
        other => panic!("{other:?}"),
    }
    // Another user's session id, never registered here, is still just that.
    let unknown = t
        .request(Route::CurrentSession)
        .session("never-here")
        .send()
        .await;
    assert_ended(&unknown, "NOT_REGISTERED");
}

#[tokio::test]
async fn a_session_revoked_within_the_grace_period_stays_until_a_later_sign_in() {
    // No cascade that read it alive can still be writing to it once the grace is
    // over (every function's timeout is shorter); until then it stays.
    let t = TestApp::new().await;
    signed_out_elsewhere(&t, "phone-1", "phone", None).await;
    t.sign_in_other("tablet-1", "tablet").await;
    let kept = t.stored_session("phone-1").await.expect("not swept yet");
    assert_eq!(kept["status"], AttributeValue::S("REVOKED".into()));

    revoked_long_ago(&t, "phone-1").await;
    t.sign_in_other("tablet-2", "tablet").await;
    assert!(t.stored_session("phone-1").await.is_none());
}

/// A client signing in over and over, each sign-in past the cap evicting a session:
/// the account's reads stay the cap plus what the grace period keeps, not every
/// sign-in since the absolute timeout (docs/PERFORMANCE.md).
#[tokio::test]
async fn sign_ins_past_the_cap_leave_the_reads_bounded_and_the_evictions_explained() {
    const CAP: usize = 3;
    const SIGN_INS: usize = MOST_SWEPT + 15;
    let t = TestApp::with(&[
        ("MAX_ACTIVE_SESSIONS_PER_USER", "3"),
        ("RATE_LIMIT_SIGN_INS_PER_MINUTE", "1000"),
    ])
    .await;
    for i in 0..SIGN_INS {
        t.sign_in_other(&format!("loop-{i}"), "the-same-phone")
            .await;
    }
    // Which ones the cap evicted (the least recently active: here, a tie).
    let account = t.account().await;
    let evicted: Vec<String> = account
        .sessions
        .iter()
        .filter(|s| s.lifetime.status == SessionStatus::Revoked)
        .map(|s| s.id.as_str().to_string())
        .collect();
    assert_eq!(evicted.len(), SIGN_INS - CAP);
    for session in &evicted {
        revoked_long_ago(&t, session).await;
    }
    assert_eq!(session_items(&t).await, SIGN_INS);

    // Two sign-ins at once, both sweeping the same backlog: both succeed, whatever
    // their sweeps met (one may lose to the other's transaction); two sign-ins later
    // nothing is left of it, even had both lost.
    let answers =
        join_all(["late-1", "late-2"].map(|session| t.register(session, "the-same-phone"))).await;
    for answer in &answers {
        answer.assert_status(201);
    }
    for session in ["late-3", "late-4"] {
        t.sign_in_other(session, "the-same-phone").await;
    }
    // Left: the cap, and the four evicted by the late sign-ins (within the grace).
    assert_eq!(session_items(&t).await, CAP + 4);
    for session in &evicted {
        assert!(t.stored_session(session).await.is_none(), "{session}");
        let marker = t.stored(&format!("USED#{session}")).await.expect("marker");
        assert_eq!(marker["endReason"], AttributeValue::S("EVICTED".into()));
    }
    let ended = t
        .request(Route::CurrentSession)
        .session(&evicted[0])
        .send()
        .await;
    assert_ended(&ended, "EVICTED");
}

/// A device's last activity is its sessions' too: a swept session's moves onto the
/// device, so sweeping it changes neither what the devices list shows nor which
/// device the device limit would remove first.
#[tokio::test]
async fn a_swept_sessions_last_activity_stays_its_devices() {
    let t = TestApp::new().await;
    // Used for an hour after it signed in (heartbeats), then signed out from the laptop.
    let active_until = now() + 3600;
    let phone = signed_out_elsewhere(&t, "phone-1", "phone", Some(active_until)).await;
    revoked_long_ago(&t, "phone-1").await;
    let before = last_seen(&t, &phone).await;
    assert_eq!(before, rfc3339(active_until));

    t.sign_in_other("tablet-1", "tablet").await;
    assert!(t.stored_session("phone-1").await.is_none(), "swept");
    assert_eq!(last_seen(&t, &phone).await, before);
}

/// What can commit between the sweep's read and its write: a sign-in on the device
/// (its `lastSeen` moves), or the device's removal. Either cancels the sweep, which
/// leaves everything as it was for the next sign-in, never a device seen earlier than
/// it was nor a device item made again.
#[tokio::test]
async fn a_sign_in_or_a_removal_between_the_sweeps_read_and_write_cancels_it() {
    let t = TestApp::new().await;
    let phone = signed_out_elsewhere(&t, "phone-1", "phone", Some(now() + 60)).await;
    revoked_long_ago(&t, "phone-1").await;
    let user = UserId::parse(&t.user).unwrap();
    // The sweeping sign-in is the laptop's.
    let laptop = t
        .account()
        .await
        .device_by_fingerprint("laptop")
        .unwrap()
        .id
        .clone();

    // The phone signs in again after the sweep's read.
    let stale = t.account().await;
    let signed_in_again = now() + 120;
    t.set_stored(
        &format!("DEVICE#{phone}"),
        &[("lastSeen", n(signed_in_again))],
    )
    .await;
    assert!(
        t.app
            .store
            .sweep(&user, &stale, &laptop, now())
            .await
            .is_err()
    );
    assert!(t.stored_session("phone-1").await.is_some(), "nothing swept");
    let device = t.stored(&format!("DEVICE#{phone}")).await.unwrap();
    assert_eq!(device["lastSeen"], n(signed_in_again), "not moved back");

    // The phone is removed after the sweep's read (which had its activity to move on).
    t.set_stored(&format!("DEVICE#{phone}"), &[("lastSeen", n(now() - 10))])
        .await;
    let stale = t.account().await;
    t.request(Route::DeleteDevice)
        .id(&phone)
        .send()
        .await
        .assert_status(200);
    assert!(
        t.app
            .store
            .sweep(&user, &stale, &laptop, now())
            .await
            .is_err()
    );
    assert!(
        t.stored(&format!("DEVICE#{phone}")).await.is_none(),
        "not made again"
    );

    // The next sign-in reads again and sweeps.
    t.sign_in_other("tablet-1", "tablet").await;
    assert!(t.stored_session("phone-1").await.is_none());
}

/// The sign-in that sweeps may be on the swept session's own device: its own write
/// has just moved that device's `lastSeen` to now, past anything the swept session
/// saw, so the sweep leaves the device alone instead of failing on it.
#[tokio::test]
async fn a_sign_in_on_the_swept_sessions_own_device_sweeps_it() {
    let t = TestApp::new().await;
    let phone = signed_out_elsewhere(&t, "phone-1", "phone", Some(now() + 60)).await;
    revoked_long_ago(&t, "phone-1").await;
    t.sign_in_other("phone-2", "phone").await;
    assert!(t.stored_session("phone-1").await.is_none(), "swept");
    let device = t.stored(&format!("DEVICE#{phone}")).await.unwrap();
    let seen: i64 = device["lastSeen"].as_n().unwrap().parse().unwrap();
    assert!(
        (now() - 5..=now()).contains(&seen),
        "the sign-in's own time"
    );
}
