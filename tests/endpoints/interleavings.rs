//! What can commit between a write's read and its write. Each test reads the account
//! as a request would, lets another request commit, then makes the first request's
//! write from its stale read — straight through the store, so the interleaving is
//! exact — and checks the write's own conditions catch it.

use serde_json::json;
use shared::domain::{Actor, EventType, Origin, SecurityEvent, TargetType};
use shared::domain::{DeviceId, SessionId, UserId};
use shared::error::Error;
use shared::store::SignInWrite;

use crate::support::*;

fn event(t: &TestApp, event_type: EventType, target: &str) -> SecurityEvent {
    SecurityEvent::new(
        &UserId::parse(&t.user).unwrap(),
        event_type,
        Actor::Session(t.session.clone()),
        (TargetType::Device, target),
        Origin::default(),
    )
}

#[tokio::test]
async fn a_rename_landing_during_a_sign_in_makes_the_sign_in_read_again() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    // The sign-in reads: the device named from its User-Agent, no name chosen.
    let stale = t.account().await;
    let device = stale.device_by_fingerprint("laptop").unwrap().clone();
    assert!(!device.name_chosen);

    // The user renames it before the sign-in writes.
    t.request(Route::RenameDevice)
        .id(device.id.as_str())
        .json(json!({ "deviceName": "Work laptop" }))
        .send()
        .await
        .assert_status(200);

    // The sign-in writes from its read (the count is current: only the name differs).
    let at = now();
    let session = new_session("late", &device.id, at);
    let sign_in = event(&t, EventType::SuccessfulLogin, device.id.as_str());
    let write = SignInWrite {
        session: &session,
        device: &device,
        device_is_new: false,
        event: &sign_in,
        evicted: Vec::new(),
        removed: Vec::new(),
        sign_ins: t.account().await.sign_ins,
        ceiling: t.account().await.sign_ins,
    };
    let user = UserId::parse(&t.user).unwrap();
    let landed = t.app.store.register(&user, &write, at).await.unwrap();
    assert!(!landed, "refused: read again");
    let renamed = t.account().await;
    assert_eq!(renamed.device(&device.id).unwrap().name, "Work laptop");
    assert!(renamed.session(&session.id).is_none(), "nothing written");
}

#[tokio::test]
async fn a_device_removed_after_the_read_is_neither_trusted_nor_renamed() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let phone = t.sign_in_other("phone-session", "phone").await;
    let phone = DeviceId::parse(&phone).unwrap();
    let read = t.account().await.device(&phone).unwrap().clone();
    // Trust and rename read the device; a delete commits before they write.
    t.request(Route::DeleteDevice)
        .id(phone.as_str())
        .send()
        .await
        .assert_status(200);
    let caller = t.identity(&t.session);
    let trusted = t
        .app
        .store
        .trust_device(
            &caller,
            &read,
            now() + 60,
            &event(&t, EventType::DeviceTrusted, phone.as_str()),
            now(),
        )
        .await;
    assert!(matches!(trusted, Err(Error::DeviceNotFound)), "{trusted:?}");
    let renamed = t
        .app
        .store
        .rename_device(
            &caller,
            &phone,
            "Ghost",
            &event(&t, EventType::DeviceRenamed, phone.as_str()),
            now(),
        )
        .await;
    assert!(matches!(renamed, Err(Error::DeviceNotFound)), "{renamed:?}");
    assert!(
        t.stored(&format!("DEVICE#{}", phone.as_str()))
            .await
            .is_none(),
        "not recreated"
    );
    let log = t.request(Route::SecurityEvents).send().await;
    let types: Vec<&str> = log.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        !types.contains(&"DEVICE_TRUSTED") && !types.contains(&"DEVICE_RENAMED"),
        "{types:?}"
    );
}

#[tokio::test]
async fn activity_recorded_after_a_revocation_never_revives_the_session() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    // The authorizer reads the session alive; the user signs out before it slides it.
    let read = t.account().await;
    let session = read
        .session(&SessionId::parse(&t.session).unwrap())
        .unwrap()
        .clone();
    t.request(Route::RevokeSession)
        .id(&t.session)
        .send()
        .await
        .assert_status(200);
    let user = UserId::parse(&t.user).unwrap();
    let slid = t
        .app
        .store
        .touch(&user, &session, now() + 120, 1800, 60)
        .await;
    assert!(matches!(slid, Ok(None)), "{slid:?}");
    let stored = t.stored_session(&t.session).await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "REVOKED");
    t.request(Route::ListDevices)
        .send()
        .await
        .assert_unauthorized();
}

#[tokio::test]
async fn a_victim_revoked_after_the_sign_in_read_is_not_evicted_and_the_sign_in_reads_again() {
    let t = TestApp::with(&[("MAX_ACTIVE_SESSIONS_PER_USER", "2")]).await;
    t.sign_in_other("victim", "laptop").await;
    let keeper = t.sign_in_other("keeper", "phone").await;
    // The sign-in reads: two live sessions, the cap reached, "victim" to evict.
    let stale = t.account().await;
    let victim = stale
        .session(&SessionId::parse("victim").unwrap())
        .unwrap()
        .clone();

    // The victim is revoked before the sign-in writes.
    t.request(Route::RevokeSession)
        .session("keeper")
        .id("victim")
        .send()
        .await
        .assert_status(200);

    // The sign-in writes from its read (the count is current: only the victim differs).
    let at = now();
    let session = new_session("newcomer", &DeviceId::parse(&keeper).unwrap(), at);
    let device = stale.device(&session.device_id).unwrap().clone();
    let sign_in = event(&t, EventType::SuccessfulLogin, device.id.as_str());
    let eviction = event(&t, EventType::SessionEvicted, victim.id.as_str());
    let write = SignInWrite {
        session: &session,
        device: &device,
        device_is_new: false,
        event: &sign_in,
        evicted: vec![(&victim.id, eviction)],
        removed: Vec::new(),
        sign_ins: t.account().await.sign_ins,
        ceiling: t.account().await.sign_ins,
    };
    let user = UserId::parse(&t.user).unwrap();
    let landed = t.app.store.register(&user, &write, at).await.unwrap();
    assert!(!landed, "refused: read again");
    let after = t.account().await;
    assert!(after.session(&session.id).is_none(), "nothing written");
    let ended = t.request(Route::ListDevices).session("victim").send().await;
    assert_eq!(
        ended.body["reason"], "REVOKED",
        "its end stays the user's revocation"
    );

    // Read again, the sign-in lands without evicting anyone.
    t.register("newcomer", "phone").await.assert_status(201);
    t.request(Route::ListDevices)
        .session("keeper")
        .send()
        .await
        .assert_status(200);
}
