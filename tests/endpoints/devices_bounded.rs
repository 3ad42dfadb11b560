//! Devices are bounded and age out (docs/design.md): past `MAX_DEVICES_PER_USER` a
//! sign-in removes the least recently seen device neither trusted nor in use, or is
//! refused; a device unused past its TTL is gone from every read, and its fingerprint
//! signs in as a new device. Bursts of sign-ins all succeed, and the reads stay small
//! at every limit.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::{Value, json};
use shared::domain::{
    Actor, EventType, Origin, SecurityEvent, SessionId, TargetType, UserId, fingerprint_hash,
};
use shared::store::SignInWrite;

use crate::support::*;

const DAY: i64 = 86_400;

fn number(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

/// A device signed in once by `session`, trusted or not, that session then ended: no
/// live session on it. Its id.
async fn unused(t: &TestApp, fingerprint: &str, session: &str, trusted: bool) -> String {
    let device = t.sign_in_other(session, fingerprint).await;
    if trusted {
        t.request(Route::TrustDevice)
            .session(session)
            .json(json!({ "fingerprint": fingerprint }))
            .send()
            .await
            .assert_status(200);
    }
    t.request(Route::RevokeSession)
        .session(session)
        .id(session)
        .send()
        .await
        .assert_status(200);
    device
}

/// Makes a device and its session last seen `ago` seconds ago, as time would.
async fn seen_ago(t: &TestApp, device: &str, session: &str, ago: i64) {
    let at = AttributeValue::N((now() - ago).to_string());
    t.set_stored(&format!("DEVICE#{device}"), &[("lastSeen", at.clone())])
        .await;
    t.set_session(session, &[("lastActivity", at.clone()), ("startedAt", at)])
        .await;
}

/// The ids `GET /devices` lists.
async fn listed(t: &TestApp) -> Vec<String> {
    let answer = t.request(Route::ListDevices).send().await;
    answer.assert_status(200);
    answer.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

/// The device is gone: not listed, 404 by id, no item left, nor its fingerprint's.
async fn assert_gone(t: &TestApp, device: &str, fingerprint: &str) {
    assert!(
        !listed(t).await.contains(&device.to_string()),
        "{device} listed"
    );
    let by_id = t.request(Route::GetDevice).id(device).send().await;
    by_id.assert_status(404);
    assert!(t.stored(&format!("DEVICE#{device}")).await.is_none());
    let entry = format!("FP#{}", fingerprint_hash(fingerprint));
    assert!(t.stored(&entry).await.is_none(), "its fingerprint entry");
}

#[tokio::test]
async fn past_the_limit_a_sign_in_removes_the_least_recently_seen_device_neither_trusted_nor_in_use()
 {
    let t = TestApp::with(&[("MAX_DEVICES_PER_USER", "4")]).await;
    let laptop = t.sign_in("laptop").await;
    let trusted = unused(&t, "trusted", "t1", true).await;
    let old = unused(&t, "old", "o1", false).await;
    let newer = unused(&t, "newer", "n1", false).await;
    // Least recently seen first: the laptop (in use), the trusted one, then old, newer.
    seen_ago(&t, &laptop, &t.session, 4_000).await;
    seen_ago(&t, &trusted, "t1", 3_000).await;
    seen_ago(&t, &old, "o1", 2_000).await;
    seen_ago(&t, &newer, "n1", 1_000).await;

    let fresh = t.sign_in_other("fresh-session", "fresh").await;
    assert_gone(&t, &old, "old").await;
    let mut devices = listed(&t).await;
    devices.sort();
    let mut expected = vec![laptop.clone(), trusted.clone(), newer.clone(), fresh];
    expected.sort();
    assert_eq!(devices, expected);
    let removals: Vec<_> = t
        .stored_events()
        .await
        .into_iter()
        .filter(|e| e.event_type == EventType::DeviceRemoved)
        .collect();
    assert_eq!(removals.len(), 1, "{removals:?}");
    let removal = &removals[0];
    assert_eq!(removal.reason.as_deref(), Some("DEVICE_LIMIT"));
    assert_eq!(removal.target, (TargetType::Device, old.clone()));
    assert_eq!(removal.device_id.as_deref(), Some(old.as_str()));
    assert_eq!(removal.actor, Actor::Session("fresh-session".into()));

    // Its fingerprint signs in again as a new device, which makes room the same way.
    let again = t.sign_in_other("old-again", "old").await;
    assert_ne!(again, old);
    assert_gone(&t, &newer, "newer").await;
    assert!(listed(&t).await.contains(&trusted), "trusted devices stay");
}

#[tokio::test]
async fn at_the_limit_with_every_device_trusted_or_in_use_a_new_device_is_refused() {
    let t = TestApp::with(&[("MAX_DEVICES_PER_USER", "2")]).await;
    t.sign_in("laptop").await;
    let phone = unused(&t, "phone", "p1", true).await;

    let refused = t.register("tablet-session", "tablet").await;
    refused.assert_status(409);
    assert_eq!(refused.code(), "DEVICE_LIMIT_REACHED");
    assert_eq!(refused.body["success"], false);
    assert!(
        refused.body["error"].as_str().unwrap().contains("devices"),
        "{}",
        refused.body
    );
    // Nothing written: no session, its id not spent, no device, no event.
    assert!(t.stored_session("tablet-session").await.is_none());
    assert!(t.stored("USED#tablet-session").await.is_none());
    assert_eq!(listed(&t).await.len(), 2);
    assert!(
        t.stored_events()
            .await
            .iter()
            .all(|e| e.event_type != EventType::DeviceRemoved)
    );
    // A known device still signs in.
    t.sign_in_other("p2", "phone").await;
    t.request(Route::RevokeSession)
        .session("p2")
        .id("p2")
        .send()
        .await
        .assert_status(200);

    // A lapsed trust is no trust: the phone now makes room.
    let lapsed = AttributeValue::N((now() - 1).to_string());
    t.set_stored(&format!("DEVICE#{phone}"), &[("trustExpiresAt", lapsed)])
        .await;
    t.sign_in_other("tablet-session", "tablet").await;
    assert_gone(&t, &phone, "phone").await;
}

#[tokio::test]
async fn a_session_the_sign_in_evicts_frees_its_device_for_removal() {
    let t = TestApp::with(&[
        ("MAX_DEVICES_PER_USER", "2"),
        ("MAX_ACTIVE_SESSIONS_PER_USER", "2"),
    ])
    .await;
    t.sign_in("laptop").await;
    let phone = t.sign_in_other("p1", "phone").await;
    seen_ago(&t, &phone, "p1", 1_000).await;

    // The cap evicts p1, the phone's only session: the phone is then unused.
    t.sign_in_other("tablet-session", "tablet").await;
    let ended = t.request(Route::ListDevices).session("p1").send().await;
    ended.assert_unauthorized();
    assert_eq!(ended.body["reason"], "EVICTED");
    assert_gone(&t, &phone, "phone").await;
    let account = t.account().await;
    for session in account.alive_sessions(now(), None) {
        assert!(account.device(&session.device_id).is_some());
    }
}

#[tokio::test]
async fn an_untrust_gives_the_device_back_the_ttl_of_its_last_sign_in() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let phone = t.sign_in_other("p1", "phone").await;
    let key = format!("DEVICE#{phone}");
    let fingerprint = format!("FP#{}", fingerprint_hash("phone"));
    let signed_in = number(&t.stored(&key).await.unwrap(), "ttl");
    t.request(Route::TrustDevice)
        .session("p1")
        .json(json!({ "fingerprint": "phone" }))
        .send()
        .await
        .assert_status(200);
    assert!(number(&t.stored(&key).await.unwrap(), "ttl") > signed_in);

    t.request(Route::UntrustDevice)
        .id(&phone)
        .send()
        .await
        .assert_status(200);
    let device = t.stored(&key).await.unwrap();
    // The last sign-in's session absolute expiry (its sign-in time plus the absolute
    // timeout) plus the retention: no trust keeps it any longer.
    let expected = number(&device, "lastSeen") + 43_200 + 90 * DAY;
    assert_eq!(number(&device, "ttl"), expected);
    assert_eq!(signed_in, expected);
    assert_eq!(
        number(&t.stored(&fingerprint).await.unwrap(), "ttl"),
        expected
    );
}

#[tokio::test]
async fn a_device_past_its_ttl_is_gone_from_every_read_and_its_fingerprint_makes_a_new_device() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let old = t.sign_in_other("o1", "old").await;
    let fingerprint = format!("FP#{}", fingerprint_hash("old"));

    // The TTL as written: the session's absolute expiry plus the retention, on the
    // device and its fingerprint entry alike.
    let absolute = number(&t.stored_session("o1").await.unwrap(), "absoluteExpiresAt");
    let device_ttl = |item: Option<_>| number(&item.unwrap(), "ttl");
    let ttl = device_ttl(t.stored(&format!("DEVICE#{old}")).await);
    assert_eq!(ttl, absolute + 90 * DAY);
    assert_eq!(device_ttl(t.stored(&fingerprint).await), ttl);
    // A trust keeps it until the retention after the trust expires.
    let trusted = t
        .request(Route::TrustDevice)
        .session("o1")
        .json(json!({ "fingerprint": "old" }))
        .send()
        .await;
    trusted.assert_status(200);
    let device = t.stored(&format!("DEVICE#{old}")).await.unwrap();
    let ttl = number(&device, "ttl");
    assert!(ttl >= number(&device, "trustExpiresAt") + 90 * DAY);
    assert_eq!(device_ttl(t.stored(&fingerprint).await), ttl);

    // Named, so its name can be looked for; then time passes its TTL (which DynamoDB
    // only acts on lazily: the item stays).
    t.request(Route::RenameDevice)
        .session("o1")
        .id(&old)
        .json(json!({ "deviceName": "Aged phone" }))
        .send()
        .await
        .assert_status(200);
    let past = AttributeValue::N((now() - 1).to_string());
    t.set_stored(&format!("DEVICE#{old}"), &[("ttl", past.clone())])
        .await;
    t.set_stored(&fingerprint, &[("ttl", past)]).await;

    assert!(!listed(&t).await.contains(&old));
    t.request(Route::GetDevice)
        .id(&old)
        .send()
        .await
        .assert_status(404);
    let sessions = t.request(Route::ListSessions).send().await;
    sessions.assert_status(200);
    assert!(
        !sessions.body.to_string().contains("Aged phone"),
        "{}",
        sessions.body
    );
    assert!(
        t.stored(&format!("DEVICE#{old}")).await.is_some(),
        "not deleted yet"
    );

    let again = t.sign_in_other("o2", "old").await;
    assert_ne!(again, old, "a new device");
    let devices = listed(&t).await;
    assert!(devices.contains(&again) && !devices.contains(&old));
    let entry = t.stored(&fingerprint).await.unwrap();
    assert_eq!(entry["deviceId"].as_s().unwrap(), &again);
    assert!(number(&entry, "ttl") > now());
    let answer = t.request(Route::GetDevice).id(&again).send().await;
    assert_ne!(answer.body["data"]["deviceName"], "Aged phone");
}

/// A trust commits between a sign-in's read and its write: the device the sign-in
/// meant to remove is trusted now, so the write is refused and nothing changes.
#[tokio::test]
async fn a_trust_landing_after_the_read_keeps_the_device_a_sign_in_meant_to_remove() {
    let t = TestApp::with(&[("MAX_DEVICES_PER_USER", "2")]).await;
    t.sign_in("laptop").await;
    let phone = unused(&t, "phone", "p1", false).await;
    let stale = t.account().await;
    let candidate = stale
        .device(&shared::domain::DeviceId::parse(&phone).unwrap())
        .unwrap()
        .clone();

    // Trusted by another session of the user, after the read.
    t.sign_in_other("p2", "phone").await;
    t.request(Route::TrustDevice)
        .session("p2")
        .json(json!({ "fingerprint": "phone" }))
        .send()
        .await
        .assert_status(200);
    t.request(Route::RevokeSession)
        .session("p2")
        .id("p2")
        .send()
        .await
        .assert_status(200);
    let read = t.account().await;

    // The sign-in writes from a read at the current count, but the trust it did not see.
    let user = UserId::parse(&t.user).unwrap();
    let at = now();
    let mut device = candidate.clone();
    device.id = shared::domain::DeviceId::new();
    device.fingerprint_hash = fingerprint_hash("tablet");
    let session = new_session("tablet-session", &device.id, at);
    let event = |event_type, target: &str| {
        SecurityEvent::new(
            &user,
            event_type,
            Actor::Session("tablet-session".into()),
            (TargetType::Device, target),
            Origin::default(),
        )
    };
    let write = SignInWrite {
        session: &session,
        device: &device,
        device_is_new: true,
        event: &event(EventType::NewDeviceSignIn, device.id.as_str()),
        evicted: Vec::new(),
        removed: vec![(
            &candidate,
            event(EventType::DeviceRemoved, candidate.id.as_str()).because("DEVICE_LIMIT"),
        )],
        sign_ins: read.sign_ins,
        ceiling: read.sign_ins,
    };
    let landed = t.app.store.register(&user, &write, at).await.unwrap();
    assert!(!landed, "refused: read again");
    assert!(
        listed(&t).await.contains(&phone),
        "the trusted device stays"
    );
    assert!(t.stored_session("tablet-session").await.is_none());
    // Read again, the sign-in sees the trust: every device trusted or in use.
    let refused = t.register("tablet-session", "tablet").await;
    refused.assert_status(409);
    assert_eq!(refused.code(), "DEVICE_LIMIT_REACHED");
}

/// A trust commits between a sign-in's read and its write on the same device: the
/// sign-in's TTL, made of the trust it read, would cut the trusted device's life
/// short, so the write is refused and the TTL stays the trust's.
#[tokio::test]
async fn a_trust_landing_during_a_sign_in_on_its_device_makes_the_sign_in_read_again() {
    let t = TestApp::new().await;
    t.sign_in("laptop").await;
    let stale = t.account().await;
    let device = stale.device_by_fingerprint("laptop").unwrap().clone();
    t.request(Route::TrustDevice)
        .json(json!({ "fingerprint": "laptop" }))
        .send()
        .await
        .assert_status(200);
    let trusted_ttl = number(
        &t.stored(&format!("DEVICE#{}", device.id.as_str()))
            .await
            .unwrap(),
        "ttl",
    );

    let user = UserId::parse(&t.user).unwrap();
    let at = now();
    let session = new_session("late", &device.id, at);
    let event = SecurityEvent::new(
        &user,
        EventType::SuccessfulLogin,
        Actor::Session("late".into()),
        (TargetType::Session, "late"),
        Origin::default(),
    );
    let sign_ins = t.account().await.sign_ins;
    let write = SignInWrite {
        session: &session,
        device: &device,
        device_is_new: false,
        event: &event,
        evicted: Vec::new(),
        removed: Vec::new(),
        sign_ins,
        ceiling: sign_ins,
    };
    let landed = t.app.store.register(&user, &write, at).await.unwrap();
    assert!(!landed, "refused: read again");
    assert!(t.stored_session("late").await.is_none(), "nothing written");
    let key = format!("DEVICE#{}", device.id.as_str());
    assert_eq!(number(&t.stored(&key).await.unwrap(), "ttl"), trusted_ttl);
    // Read again, it keeps the trust's TTL.
    t.sign_in_other("late", "laptop").await;
    assert!(number(&t.stored(&key).await.unwrap(), "ttl") >= trusted_ttl);
}

/// Sign-ins of one user at once, `known` of them on devices already there, the rest on
/// new ones; every answer.
async fn burst(t: &TestApp, round: &str, sign_ins: usize, known: &[&str]) -> Vec<Answer> {
    let sessions: Vec<String> = (0..sign_ins).map(|i| format!("{round}-{i}")).collect();
    let fingerprints: Vec<String> = (0..sign_ins)
        .map(|i| match i % 2 {
            1 => known[i % known.len()].to_string(),
            _ => format!("{round}-device-{i}"),
        })
        .collect();
    join_all((0..sign_ins).map(|i| t.register(&sessions[i], &fingerprints[i]))).await
}

/// Bursts per test: one burst may happen to spread out; three rarely all do.
const BURSTS: usize = 3;

#[tokio::test]
async fn twenty_sign_ins_at_once_all_succeed() {
    let t = TestApp::with(&[
        ("RATE_LIMIT_SIGN_INS_PER_MINUTE", "100"),
        ("MAX_ACTIVE_SESSIONS_PER_USER", "100"),
        ("MAX_DEVICES_PER_USER", "50"),
    ])
    .await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone-seed", "phone").await;
    for round in 0..BURSTS {
        let answers = burst(&t, &format!("burst{round}"), 20, &["laptop", "phone"]).await;
        for answer in &answers {
            answer.assert_status(201);
        }
    }
    let account = t.account().await;
    assert_eq!(account.alive_sessions(now(), None).count(), 2 + 20 * BURSTS);
    assert_eq!(account.devices.len(), 2 + 10 * BURSTS);
    assert_eq!(
        account.sign_ins,
        2 + 20 * BURSTS as i64,
        "each counted once"
    );
}

/// Past the cap each sign-in evicts the least recently active session, so those must
/// commit one after another (on the emulator, under the other tests' load, each try can
/// take a second: two such here): a burst that crosses the cap still all succeeds, and
/// the cap holds exactly.
#[tokio::test]
async fn twenty_sign_ins_at_once_across_the_cap_all_succeed_and_the_cap_holds() {
    const CAP: usize = 20;
    let t = TestApp::with(&[
        ("RATE_LIMIT_SIGN_INS_PER_MINUTE", "100"),
        ("MAX_ACTIVE_SESSIONS_PER_USER", "20"),
    ])
    .await;
    t.sign_in("laptop").await;
    t.sign_in_other("phone-seed", "phone").await;
    let answers = burst(&t, "capped", 20, &["laptop", "phone"]).await;
    for answer in &answers {
        answer.assert_status(201);
    }
    let account = t.account().await;
    let alive: Vec<_> = account.alive_sessions(now(), None).collect();
    assert_eq!(alive.len(), CAP, "the cap, exactly");
    for session in &alive {
        assert!(account.device(&session.device_id).is_some());
    }
    // Each eviction made room for one sign-in: never one more than needed.
    let evictions = t
        .stored_events()
        .await
        .iter()
        .filter(|e| e.event_type == EventType::SessionEvicted)
        .count();
    assert_eq!(evictions, 2 + 20 - CAP);
}

/// A body with every text field at its longest, of 4-byte characters: the most bytes
/// a sign-in can store.
fn longest_sign_in(i: usize) -> Value {
    let text = |chars: usize| "\u{1D54F}".repeat(chars);
    json!({
        "fingerprint": format!("{i:03}{}", text(509)),
        "deviceInfo": {
            "deviceName": text(128),
            "deviceType": "DESKTOP",
            "os": text(64),
            "browser": text(64),
            "userAgent": text(1024),
        },
        "geolocation": { "country": text(64), "city": text(128) },
        "loginMethod": text(64),
    })
}

#[tokio::test]
async fn at_every_limit_with_every_field_at_its_longest_reads_stay_well_inside_6_mb() {
    // The most devices the configuration allows, each with a live session.
    const DEVICES: usize = 100;
    let t = TestApp::with(&[
        ("MAX_DEVICES_PER_USER", "100"),
        ("MAX_ACTIVE_SESSIONS_PER_USER", "100"),
    ])
    .await;
    let session = |i: usize| format!("{i:03}{}", "s".repeat(SessionId::MAX_LEN - 3));
    for chunk in (0..DEVICES).collect::<Vec<_>>().chunks(10) {
        let answers = join_all(chunk.iter().map(|&i| {
            t.request(Route::RegisterSession)
                .session(&session(i))
                .json(longest_sign_in(i))
                .send()
        }))
        .await;
        for answer in answers {
            answer.assert_status(201);
        }
    }

    let caller = session(0);
    let devices = t.request(Route::ListDevices).session(&caller).send().await;
    devices.assert_status(200);
    let listed = devices.body["devices"].as_array().unwrap();
    assert_eq!(listed.len(), DEVICES);
    let sessions = t.request(Route::ListSessions).session(&caller).send().await;
    sessions.assert_status(200);
    let device = listed[0]["id"].as_str().unwrap();
    let one = t
        .request(Route::GetDevice)
        .session(&caller)
        .id(device)
        .send()
        .await;
    one.assert_status(200);
    for (route, answer) in [
        ("GET /devices", &devices),
        ("GET /sessions", &sessions),
        ("GET /devices/{id}", &one),
    ] {
        let bytes = answer.body.to_string().len();
        println!("{route}: {bytes} bytes at {DEVICES} devices and sessions");
        assert!(bytes < 1_000_000, "{route}: {bytes} bytes");
    }
}
