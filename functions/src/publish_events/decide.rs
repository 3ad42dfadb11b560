//! What each record asks for: a security event to publish, a session expired by TTL
//! to announce, or nothing (docs/security-events.md).

use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::domain::{Actor, EventType, Origin, SecurityEvent, TargetType};
use shared::domain::{EndReason, SessionStatus};
use shared::store::{EVENTS, event_from, stored_session};

use super::record::{Item, Record, image};

/// The principal of DynamoDB's TTL deletions in a stream record's `userIdentity`.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// What a record asks for.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Put this event on the bus.
    Publish(Box<SecurityEvent>),
    /// Not an event: nothing to do.
    Ignore,
    /// Unreadable (logged and counted as done): why.
    Skip(String),
}

/// Decides one stream record. The sequence number is `None` only when the record is
/// too malformed to carry one.
pub fn decide(record: &Value) -> (Option<String>, Decision) {
    let sequence = record
        .pointer("/dynamodb/SequenceNumber")
        .and_then(Value::as_str)
        .map(str::to_string);
    let record: Record = match serde_json::from_value(record.clone()) {
        Ok(record) => record,
        Err(error) => {
            return (
                sequence,
                Decision::Skip(format!("not a stream record: {error}")),
            );
        }
    };
    let decision = match record.event_name.as_str() {
        "INSERT" if key(&record, "PK").is_some_and(|pk| pk.starts_with(EVENTS)) => {
            match record.dynamodb.new_image.as_ref().map(image) {
                None => Decision::Skip("an INSERT without its new image".into()),
                Some(Err(error)) => Decision::Skip(format!("unreadable new image: {error}")),
                Some(Ok(item)) => match event_from(&item) {
                    Some(event) => Decision::Publish(Box::new(event)),
                    None => Decision::Skip("an EVENTS# item that is not a security event".into()),
                },
            }
        }
        "REMOVE"
            if removed_by_ttl(&record)
                && key(&record, "PK").is_some_and(|pk| pk.starts_with(USER))
                && key(&record, "SK").is_some_and(|sk| sk.starts_with(SESSION)) =>
        {
            match record.dynamodb.old_image.as_ref().map(image) {
                None => Decision::Skip("a REMOVE without its old image".into()),
                Some(Err(error)) => Decision::Skip(format!("unreadable old image: {error}")),
                Some(Ok(item)) => match expired_session(&item, &record.event_id) {
                    Ok(Some(event)) => Decision::Publish(Box::new(event)),
                    Ok(None) => Decision::Ignore,
                    Err(why) => Decision::Skip(why),
                },
            }
        }
        _ => Decision::Ignore,
    };
    (Some(record.dynamodb.sequence_number), decision)
}

const USER: &str = "USER#";
const SESSION: &str = "SESSION#";

fn key<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record.dynamodb.keys.get(name)?.get("S")?.as_str()
}

fn removed_by_ttl(record: &Record) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|who| who.kind == "Service" && who.principal_id == TTL_PRINCIPAL)
}

/// The `SESSION_EXPIRED` event of a session item TTL removed (`Ok(None)`: the session
/// had been revoked, and that was its event). Its id is derived from the stream
/// record's id, so a retried record publishes the same event.
pub fn expired_session(
    item: &Item,
    stream_event_id: &str,
) -> Result<Option<SecurityEvent>, String> {
    let (user, session) = stored_session(item).ok_or("not a readable session item")?;
    if session.lifetime.status != SessionStatus::Active {
        return Ok(None);
    }
    // It ended at whichever expiry came first, for the reason that expiry gives.
    let lifetime = session.lifetime;
    let ended = lifetime.expires_at.min(lifetime.absolute_expires_at);
    let reason = lifetime
        .ended(ended)
        .map_or("ABSOLUTE_TIMEOUT", EndReason::as_str);
    let mut event = SecurityEvent::new(
        &user,
        EventType::SessionExpired,
        Actor::System("ttl".into()),
        (TargetType::Session, session.id.as_str()),
        Origin::default(),
    )
    .because(reason)
    .on_device(&session.device_id);
    event.id = expired_event_id(stream_event_id);
    event.at_millis = ended.saturating_mul(1000);
    Ok(Some(event))
}

/// 32 hex digits, like every event id, the same for the same stream record.
fn expired_event_id(stream_event_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"flashback-session-expired\0")
        .chain_update(stream_event_id)
        .finalize();
    hex::encode(&digest[..16])
}
