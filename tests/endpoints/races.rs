//! Concurrency: revocation always wins, and sign-ins never duplicate a device or a
//! session, however requests interleave.

use aws_sdk_dynamodbstreams::types::OperationType;
use futures::future::join_all;
use shared::domain::EventType;

use crate::stream::{Change, StreamTail};
use crate::support::*;

#[tokio::test]
async fn heartbeats_racing_a_revoke_never_resurrect_the_session() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    for round in 0..3 {
        let session = format!("racing-{round}");
        t.sign_in_other(&session, "laptop").await;
        let heartbeats = (0..8).map(|_| {
            t.request(Route::SessionHeartbeat)
                .session(&session)
                .id(&session)
                .send()
        });
        let revoke = t.request(Route::RevokeSession).id(&session).send();
        let (answers, revoked) = futures::join!(join_all(heartbeats), revoke);
        revoked.assert_status(200);
        for answer in answers {
            assert!(matches!(answer.status, 200 | 401), "{:#}", answer.body);
        }
        let stored = t.stored_session(&session).await.unwrap();
        assert_eq!(stored["status"].as_s().unwrap(), "REVOKED");
        t.request(Route::ListSessions)
            .session(&session)
            .send()
            .await
            .assert_unauthorized();
    }
}

#[tokio::test]
async fn concurrent_registrations_of_one_session_make_one_session() {
    let t = TestApp::new().await;
    let answers = join_all((0..6).map(|_| t.register(&t.session, "laptop"))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 200, 201],
        "exactly one created it"
    );
    let account = t.account().await;
    assert_eq!((account.devices.len(), account.sessions.len()), (1, 1));
}

#[tokio::test]
async fn one_session_registered_on_two_devices_at_once_is_bound_to_one() {
    let t = TestApp::new().await;
    let (laptop, phone) = futures::join!(
        t.register(&t.session, "laptop"),
        t.register(&t.session, "phone")
    );
    let mut statuses = vec![laptop.status, phone.status];
    statuses.sort();
    assert_eq!(statuses, vec![201, 409]);
    assert_eq!(t.account().await.sessions.len(), 1);
}

/// Which cascade a race runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cascade {
    RevokeAll,
    Untrust,
    Delete,
}

const ROUNDS: usize = 5;
const SIGN_INS: usize = 8;

#[tokio::test]
async fn revoke_all_racing_sign_ins_ends_every_session_registered_before_it_answers() {
    cascade_racing_sign_ins(Cascade::RevokeAll).await;
}

#[tokio::test]
async fn untrust_racing_sign_ins_ends_every_session_registered_before_it_answers() {
    cascade_racing_sign_ins(Cascade::Untrust).await;
}

#[tokio::test]
async fn delete_racing_sign_ins_leaves_no_live_session_on_a_missing_device() {
    cascade_racing_sign_ins(Cascade::Delete).await;
}

/// A cascade started amid many sign-ins on the device it names, for several rounds,
/// the order of commits read from the table's stream. When the cascade answers 200,
/// every session whose registration committed before the cascade's last commit is
/// ended (the caller's own aside: revoke-all keeps it here), and no live session is
/// bound to a device that is gone.
async fn cascade_racing_sign_ins(cascade: Cascade) {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let mut checked = 0;
    for round in 0..ROUNDS {
        let phone = t.sign_in_other(&format!("seed-{round}"), "phone").await;
        let mut stream = StreamTail::start(t.app.store.table()).await;
        let sessions: Vec<String> = (0..SIGN_INS).map(|i| format!("r{round}-{i}")).collect();
        let fingerprint = |i: usize| match cascade {
            Cascade::RevokeAll if i % 2 == 1 => "tablet",
            _ => "phone",
        };
        let sign_ins = |range: std::ops::Range<usize>| {
            join_all(range.map(|i| t.register(&sessions[i], fingerprint(i))))
        };
        let request = match cascade {
            Cascade::RevokeAll => t
                .request(Route::RevokeAllSessions)
                .query("keepCurrent", "true"),
            Cascade::Untrust => t.request(Route::UntrustDevice).id(&phone),
            Cascade::Delete => t.request(Route::DeleteDevice).id(&phone),
        };
        // Sign-ins already reading when the cascade reads, and more after it.
        let (_, answer, _) = futures::join!(
            sign_ins(0..SIGN_INS / 2),
            request.send(),
            sign_ins(SIGN_INS / 2..SIGN_INS)
        );
        answer.assert_status(200);
        checked += cascade_held(&t, &stream.changes().await, cascade, &phone).await;
    }
    // DynamoDB Local answers fast: in a round, every sign-in may commit after the
    // cascade; over all rounds, some commit before it.
    assert!(checked > 0, "the race checked nothing");
}

/// The cascade's promise, checked against the order of commits; how many sessions
/// registered before the cascade's last commit it checked.
async fn cascade_held(t: &TestApp, changes: &[Change], cascade: Cascade, device: &str) -> usize {
    let of_user = |c: &&Change, prefix: &str| c.text("PK") == Some(&format!("{prefix}{}", t.user));
    // A registration puts a session item (its id, its device); a cascade's last
    // transaction, and only it, writes the cascade's security event.
    let registrations: Vec<(u128, String, String)> = changes
        .iter()
        .filter(|c| of_user(c, "USER#") && c.operation == Some(OperationType::Insert))
        .filter_map(|c| {
            let id = c.text("SK")?.strip_prefix("SESSION#")?;
            Some((c.sequence, id.to_string(), c.text("deviceId")?.to_string()))
        })
        .collect();
    let event = match cascade {
        Cascade::RevokeAll => "ALL_SESSIONS_REVOKED",
        Cascade::Untrust => "DEVICE_UNTRUSTED",
        Cascade::Delete => "DEVICE_REMOVED",
    };
    let last_cascade_commit = changes
        .iter()
        .filter(|c| of_user(c, "EVENTS#") && c.text("type") == Some(event))
        .map(|c| c.sequence)
        .max()
        .expect("the cascade committed");
    let account = t.account().await;
    let alive: Vec<String> = account
        .alive_sessions(now(), None)
        .map(|s| s.id.as_str().to_string())
        .collect();
    let mut checked = 0;
    for (sequence, id, on_device) in &registrations {
        let in_scope = match cascade {
            Cascade::RevokeAll => *id != t.session,
            Cascade::Untrust | Cascade::Delete => on_device == device,
        };
        if in_scope && *sequence < last_cascade_commit {
            checked += 1;
            assert!(
                !alive.contains(id),
                "{cascade:?}: session {id} registered (#{sequence}) before the cascade's last commit (#{last_cascade_commit}) is alive",
            );
        }
    }
    for session in account.alive_sessions(now(), None) {
        assert!(
            account.device(&session.device_id).is_some(),
            "{cascade:?}: live session {} is bound to a missing device",
            session.id.as_str()
        );
    }
    checked
}

/// Sign-ins racing at the device limit, for several rounds: new devices, which remove
/// the devices with no live session, and sign-ins on exactly those devices, which put
/// a live session on them. Whatever commits first, every sign-in answers 201 or 409
/// `DEVICE_LIMIT_REACHED`, the limit holds, and no live session is bound to a device
/// that is gone.
#[tokio::test]
async fn sign_ins_racing_at_the_device_limit_never_leave_a_live_session_on_a_removed_device() {
    const LIMIT: usize = 4;
    let t = TestApp::with(&[("MAX_DEVICES_PER_USER", "4")]).await;
    t.sign_in("laptop").await;
    for round in 0..ROUNDS {
        // Every device but the laptop unused again; two of them signed in again below.
        t.request(Route::RevokeAllSessions)
            .query("keepCurrent", "true")
            .send()
            .await
            .assert_status(200);
        for fingerprint in ["old-a", "old-b"] {
            let seed = format!("r{round}-seed-{fingerprint}");
            t.sign_in_other(&seed, fingerprint).await;
            t.request(Route::RevokeSession)
                .session(&seed)
                .id(&seed)
                .send()
                .await
                .assert_status(200);
        }
        let sessions: Vec<String> = (0..SIGN_INS).map(|i| format!("r{round}-{i}")).collect();
        let fingerprints: Vec<String> = (0..SIGN_INS)
            .map(|i| match i % 2 {
                0 => format!("r{round}-new-{i}"),
                _ => ["old-a", "old-b"][i / 2 % 2].to_string(),
            })
            .collect();
        let answers =
            join_all((0..SIGN_INS).map(|i| t.register(&sessions[i], &fingerprints[i]))).await;
        for answer in &answers {
            assert!(
                answer.status == 201 || answer.code() == "DEVICE_LIMIT_REACHED",
                "{}: {:#}",
                answer.status,
                answer.body
            );
        }
        let account = t.account().await;
        assert!(account.devices.len() <= LIMIT, "{}", account.devices.len());
        for session in account.alive_sessions(now(), None) {
            assert!(
                account.device(&session.device_id).is_some(),
                "round {round}: live session {} is bound to a removed device",
                session.id.as_str()
            );
        }
    }
    let events = t.stored_events().await;
    let removed = events
        .iter()
        .filter(|e| e.event_type == EventType::DeviceRemoved);
    assert!(removed.count() > 0, "the race removed nothing");
}
