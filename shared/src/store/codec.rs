//! Items and keys: how devices and sessions are stored, and the helpers that build
//! DynamoDB values.

use std::collections::HashMap;

use crate::domain::{
    Actor, Device, DeviceId, DeviceType, EndReason, Epoch, EventType, Lifetime, Origin,
    SecurityEvent, Session, SessionEnded, SessionId, SessionStatus, TargetType, TrustState, UserId,
    fingerprint_hash, now,
};
use crate::error::Error;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{EVENTS, Item, SESSION, TTL_ATTRIBUTE, USED};

pub(super) fn pk(user: &UserId) -> AttributeValue {
    s(format!("USER#{}", user.as_str()))
}

pub(super) fn session_sk(id: &SessionId) -> String {
    format!("{SESSION}{}", id.as_str())
}

/// The sort key of a session id's used-id marker.
pub(super) fn used_sk(id: &SessionId) -> String {
    format!("{USED}{}", id.as_str())
}

pub(super) fn key(user: &UserId, sk: String) -> Item {
    HashMap::from([("PK".to_string(), pk(user)), ("SK".to_string(), s(sk))])
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn optional(value: &Option<String>) -> AttributeValue {
    value.as_ref().map_or(AttributeValue::Null(true), s)
}

pub(super) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(super) fn owned(item: &Item, name: &str) -> Option<String> {
    text(item, name).map(str::to_string)
}

pub(super) fn number(item: &Item, name: &str) -> Option<Epoch> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(super) fn device_sk(id: &DeviceId) -> String {
    format!("DEVICE#{}", id.as_str())
}

/// The sort key of a device's entry, which makes it the one device of what names it:
/// its fingerprint (`FP#`), or once bound its key (`KEY#`, docs/device-binding.md) —
/// so an unbound sign-in naming a bound device's fingerprint never finds it.
pub(super) fn fingerprint_sk(device: &Device) -> String {
    match &device.key_thumbprint {
        Some(key) => format!("KEY#{key}"),
        None => format!("FP#{}", device.fingerprint_hash),
    }
}

/// When TTL may remove a device and its fingerprint item: `retention` after the later
/// of its last session's absolute expiry and its trust's expiry, so never while a
/// session on it can be alive or while it is trusted (docs/design.md).
pub(super) fn device_ttl(
    last_session_until: Epoch,
    trust_until: Option<Epoch>,
    retention: i64,
) -> Epoch {
    last_session_until.max(trust_until.unwrap_or(0)) + retention
}

/// The fingerprint's entry: one device per fingerprint, gone with its device.
pub(super) fn fingerprint_item(user: &UserId, device: &Device, ttl: Epoch) -> Item {
    let mut item = key(user, fingerprint_sk(device));
    item.insert("deviceId".into(), s(device.id.as_str()));
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    item
}

pub(super) fn device_item(user: &UserId, device: &Device, ttl: Epoch) -> Item {
    let mut item = key(user, device_sk(&device.id));
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    let fields = [
        ("deviceId", s(device.id.as_str())),
        ("fingerprintHash", s(&device.fingerprint_hash)),
        ("deviceName", s(&device.name)),
        ("nameChosen", AttributeValue::Bool(device.name_chosen)),
        ("deviceType", s(device.device_type.as_str())),
        ("os", s(&device.os)),
        ("browser", s(&device.browser)),
        ("userAgent", s(&device.user_agent)),
        ("ipAddress", optional(&device.ip_address)),
        ("country", optional(&device.country)),
        ("city", optional(&device.city)),
        ("trust", s(device.trust.as_str())),
        ("lastSeen", n(device.last_seen)),
        ("createdAt", n(device.created_at)),
    ];
    item.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let Some(expires) = device.trust_expires_at {
        item.insert("trustExpiresAt".into(), n(expires));
    }
    if let Some(key) = &device.key_thumbprint {
        item.insert("keyThumbprint".into(), s(key));
    }
    item
}

/// A device as stored; none once its TTL has passed: TTL deletes lazily, and every read
/// goes through here, so no read shows a device past it (docs/design.md).
pub(super) fn device_from(item: &Item) -> Option<Device> {
    if number(item, TTL_ATTRIBUTE).is_some_and(|ttl| ttl <= now()) {
        return None;
    }
    Some(Device {
        id: DeviceId::parse(text(item, "deviceId")?)?,
        // Devices stored before hashes were: the raw value, hashed as it is read.
        fingerprint_hash: owned(item, "fingerprintHash")
            .or_else(|| text(item, "fingerprint").map(fingerprint_hash))?,
        name: owned(item, "deviceName")?,
        name_chosen: item
            .get("nameChosen")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        device_type: DeviceType::parse(text(item, "deviceType")?).unwrap_or(DeviceType::Unknown),
        os: owned(item, "os").unwrap_or_default(),
        browser: owned(item, "browser").unwrap_or_default(),
        user_agent: owned(item, "userAgent").unwrap_or_default(),
        ip_address: owned(item, "ipAddress"),
        country: owned(item, "country"),
        city: owned(item, "city"),
        trust: text(item, "trust")
            .and_then(TrustState::parse)
            .unwrap_or(TrustState::Never),
        trust_expires_at: number(item, "trustExpiresAt"),
        last_seen: number(item, "lastSeen")?,
        created_at: number(item, "createdAt")?,
        key_thumbprint: owned(item, "keyThumbprint"),
    })
}

pub(super) fn session_item(user: &UserId, session: &Session) -> Item {
    let mut item = key(user, session_sk(&session.id));
    let fields = [
        ("sessionId", s(session.id.as_str())),
        ("deviceId", s(session.device_id.as_str())),
        ("status", s(session.lifetime.status.as_str())),
        ("startedAt", n(session.started_at)),
        ("lastActivity", n(session.last_activity)),
        ("expiresAt", n(session.lifetime.expires_at)),
        ("absoluteExpiresAt", n(session.lifetime.absolute_expires_at)),
        ("ipAddress", optional(&session.ip_address)),
        ("location", optional(&session.location)),
        ("loginMethod", optional(&session.login_method)),
        // It can be alive no longer; heartbeats never move the cap, so never the TTL.
        (TTL_ATTRIBUTE, n(session.lifetime.absolute_expires_at)),
    ];
    item.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    // Only when bound: the heartbeat's condition reads "no such attribute" as unbound.
    if let Some(key) = &session.key_thumbprint {
        item.insert("keyThumbprint".into(), s(key));
    }
    item
}

/// A session item as stored (or as a stream record's image holds it), with its
/// user: what the stream publisher needs of an item TTL removed.
pub fn stored_session(item: &Item) -> Option<(UserId, Session)> {
    let user = text(item, "PK")?.strip_prefix("USER#")?;
    Some((UserId::parse(user)?, session_from(item)?))
}

/// The 401 for the caller's session that a write found not alive, from the old item
/// DynamoDB handed back with the refusal: why it ended, or that there is none.
pub(super) fn session_ended(old: Option<&Item>, now: Epoch) -> Error {
    let reason = old
        .and_then(session_from)
        .and_then(|s| s.lifetime.ended(now))
        .unwrap_or(EndReason::NotRegistered);
    SessionEnded(reason).into()
}

pub(super) fn session_from(item: &Item) -> Option<Session> {
    let status = SessionStatus::parse(text(item, "status")?).unwrap_or(SessionStatus::Revoked);
    Some(Session {
        id: SessionId::parse(text(item, "sessionId")?)?,
        device_id: DeviceId::parse(text(item, "deviceId")?)?,
        lifetime: Lifetime {
            status,
            expires_at: number(item, "expiresAt")?,
            absolute_expires_at: number(item, "absoluteExpiresAt")?,
            revoked_because: text(item, "endReason").and_then(EndReason::parse),
            revoked_at: number(item, "revokedAt"),
        },
        started_at: number(item, "startedAt")?,
        last_activity: number(item, "lastActivity")?,
        ip_address: owned(item, "ipAddress"),
        location: owned(item, "location"),
        login_method: owned(item, "loginMethod"),
        key_thumbprint: owned(item, "keyThumbprint"),
    })
}

/// Whether `key` has the shape of an event's sort key (a cursor must).
pub fn is_event_key(key: &str) -> bool {
    match key.split_once('#') {
        Some((millis, id)) => {
            millis.len() == 13
                && millis.bytes().all(|b| b.is_ascii_digit())
                && id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }
        None => false,
    }
}

/// The sort key of an event: time first, so a partition reads in order.
pub fn event_sort_key(event: &SecurityEvent) -> String {
    format!("{:013}#{}", event.at_millis, event.id)
}

pub(super) fn event_item(event: &SecurityEvent, retention: i64) -> Item {
    let mut item = Item::from([
        (
            "PK".to_string(),
            s(format!("{EVENTS}{}", event.user.as_str())),
        ),
        ("SK".to_string(), s(event_sort_key(event))),
        ("eventId".to_string(), s(&event.id)),
        ("userId".to_string(), s(event.user.as_str())),
        ("type".to_string(), s(event.event_type.as_str())),
        ("actorType".to_string(), s(event.actor.kind())),
        ("actorId".to_string(), s(event.actor.id())),
        ("targetType".to_string(), s(event.target.0.as_str())),
        ("targetId".to_string(), s(&event.target.1)),
        ("at".to_string(), n(event.at())),
        (TTL_ATTRIBUTE.to_string(), n(event.at() + retention)),
    ]);
    let optional = [
        ("reason", event.reason.as_deref()),
        ("deviceId", event.device_id.as_deref()),
        ("sourceIp", event.origin.source_ip.as_deref()),
        ("userAgent", event.origin.user_agent.as_deref()),
        ("location", event.origin.location.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_string(), s(value));
        }
    }
    if let Some(count) = event.count {
        item.insert("count".to_string(), n(count as i64));
    }
    item
}

/// An event as stored (or as a stream record's image holds it); `None` for anything
/// else.
pub fn event_from(item: &Item) -> Option<SecurityEvent> {
    let sk = text(item, "SK")?;
    let at_millis = sk.split('#').next()?.parse().ok()?;
    let actor_id = owned(item, "actorId")?;
    let actor = match text(item, "actorType")? {
        "SESSION" => Actor::Session(actor_id),
        "SERVICE" => Actor::Service(actor_id),
        _ => Actor::System(actor_id),
    };
    let target_type = TargetType::parse(text(item, "targetType")?).unwrap_or(TargetType::Account);
    Some(SecurityEvent {
        id: owned(item, "eventId")?,
        user: UserId::parse(text(item, "userId")?)?,
        event_type: EventType::parse(text(item, "type")?)?,
        reason: owned(item, "reason"),
        actor,
        target: (target_type, owned(item, "targetId")?),
        device_id: owned(item, "deviceId"),
        count: number(item, "count").map(|c| c.max(0) as usize),
        origin: Origin {
            source_ip: owned(item, "sourceIp"),
            user_agent: owned(item, "userAgent"),
            location: owned(item, "location"),
        },
        at_millis,
    })
}
