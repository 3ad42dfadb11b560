//! Concurrency: revocation always wins, and sign-ins never duplicate a device or a
//! session, however requests interleave.

use futures::future::join_all;

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

#[tokio::test]
async fn revoke_all_racing_a_sign_in_ends_every_session_that_existed_before_it() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let before: Vec<String> = (0..20).map(|i| format!("before-{i}")).collect();
    crate::devices::register_all(&t, &before, "phone").await;

    let revoke_all = t.request(Route::RevokeAllSessions).send();
    let during: Vec<String> = (0..4).map(|i| format!("during-{i}")).collect();
    let sign_ins = join_all(during.iter().map(|s| t.register(s, "tablet")));
    let (revoked, _) = futures::join!(revoke_all, sign_ins);
    revoked.assert_status(200);

    let account = t.account().await;
    let alive: Vec<String> = account
        .alive_sessions(now(), None)
        .map(|s| s.id.as_str().to_string())
        .collect();
    assert!(
        alive.iter().all(|id| id.starts_with("during-")),
        "a session from before revoke-all survived: {alive:?}"
    );
    assert!(!alive.contains(&t.session));
}
