//! "This wasn't me" links (docs/report-link.md): the code in the link the platform's
//! notifier mails for every new-device sign-in, which lets the account's owner end that
//! sign-in without signing in.
//!
//! A code names the sign-in's security event and proves it was made by this
//! deployment: base64url of
//!
//! ```text
//! version (1) | expiresAt (8, big-endian epoch s) | at (8, epoch ms) | event id (16) | tag (32) | user id (UTF-8)
//! ```
//!
//! where `tag` is HMAC-SHA-256, under the deployment's report key, of those fields and
//! of the session and device the event names. Only the publisher computes it, from the
//! event on its way to the bus; it is never stored: whoever reads the table, a backup
//! or the stream has the event but not the key, so cannot make the link, and a thief
//! holding one of the account's sessions never sees it (no API answer carries it).
//! Spending it is `store/report.rs`'s: a marker item per sign-in, created once.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use lambda_http::Request;
use serde::Deserialize;

use crate::app::App;
use crate::config::{ConfigError, LOCAL_JWT_SECRET};
use crate::domain::{Epoch, EventType, SecurityEvent, TargetType, UserId};
use crate::error::Error;
use crate::input;

/// The variable naming the current key, and the one naming the key before it, still
/// accepted (for a link's lifetime after a rotation).
pub const KEY_VARIABLE: &str = "REPORT_LINK_KEY";
pub const PREVIOUS_KEY_VARIABLE: &str = "REPORT_LINK_PREVIOUS_KEY";
/// Seconds a link works (`REPORT_LINK_TTL_SECONDS`, 7 days by default).
pub const TTL_VARIABLE: &str = "REPORT_LINK_TTL_SECONDS";
pub const DEFAULT_TTL: i64 = 7 * 86_400;

/// The path of the page a link opens; the code follows in the fragment.
pub const PAGE_PATH: &str = "/account/not-me";

const VERSION: u8 = 1;
const TAG_BYTES: usize = 32;
const HEAD_BYTES: usize = 1 + 8 + 8 + 16;
/// Names this use of the key, so a tag is good for nothing else.
const LABEL: &[u8] = b"flashback not-me link v1";

/// The deployment's report keys: the current one signs and verifies, the previous one
/// (during a rotation) only verifies. Their `Debug` shows neither.
#[derive(Clone)]
pub struct ReportKeys {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl fmt::Debug for ReportKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReportKeys(..)")
    }
}

impl ReportKeys {
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        ReportKeys {
            current: current.to_vec(),
            previous: previous.map(<[u8]>::to_vec),
        }
    }

    /// The keys from `REPORT_LINK_KEY` (at least 32 characters) and optionally
    /// `REPORT_LINK_PREVIOUS_KEY`. A local stack (`local`) without one derives a fixed
    /// key from the local JWT secret, as the fingerprint digest key does; a deployment
    /// without one has none, and its links are off (the template requires the key).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        local: bool,
    ) -> Result<Option<Self>, ConfigError> {
        let key = |name: &str| match get(name) {
            Some(key) if key.len() >= 32 => Ok(Some(key.into_bytes())),
            Some(_) => Err(ConfigError(format!(
                "{name} must be at least 32 characters"
            ))),
            None => Ok(None),
        };
        let previous = key(PREVIOUS_KEY_VARIABLE)?;
        let current = match key(KEY_VARIABLE)? {
            Some(current) => current,
            None if local => [
                b"flashback-local-report-key\0".as_slice(),
                LOCAL_JWT_SECRET.as_bytes(),
            ]
            .concat(),
            None => return Ok(None),
        };
        Ok(Some(ReportKeys { current, previous }))
    }

    /// The tag of a sign-in under the current key.
    fn sign(&self, fields: &Fields<'_>) -> [u8; TAG_BYTES] {
        fields.mac(&self.current).finalize().into_bytes().into()
    }

    /// Whether `tag` is the sign-in's under the current or the previous key, compared
    /// in constant time.
    fn verify(&self, fields: &Fields<'_>, tag: &[u8]) -> bool {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| fields.mac(key).verify_slice(tag).is_ok())
    }
}

/// What a tag covers: everything in the code, and the session and device the event
/// names.
struct Fields<'a> {
    user: &'a str,
    at_millis: i64,
    event_id: &'a [u8; 16],
    session: &'a str,
    device: &'a str,
    expires_at: Epoch,
}

impl<'a> Fields<'a> {
    fn mac(&self, key: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(LABEL);
        for part in [
            self.user.as_bytes(),
            self.session.as_bytes(),
            self.device.as_bytes(),
        ] {
            // Length-prefixed: no two sets of fields run together into the same bytes.
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.update(&self.at_millis.to_be_bytes());
        mac.update(self.event_id);
        mac.update(&self.expires_at.to_be_bytes());
        mac
    }

    /// The fields of a `NEW_DEVICE_SIGN_IN` event that expires at `expires_at`.
    fn of(event: &'a SecurityEvent, event_id: &'a [u8; 16], expires_at: Epoch) -> Option<Self> {
        if event.event_type != EventType::NewDeviceSignIn || event.target.0 != TargetType::Session {
            return None;
        }
        Some(Fields {
            user: event.user.as_str(),
            at_millis: event.at_millis,
            event_id,
            session: &event.target.1,
            device: event.device_id.as_deref().unwrap_or_default(),
            expires_at,
        })
    }
}

/// A link's code as received: which sign-in it names, until when. Its `Debug` never
/// shows the tag.
#[derive(Clone, PartialEq, Eq)]
pub struct ReportCode {
    pub user: UserId,
    pub at_millis: i64,
    event_id: [u8; 16],
    pub expires_at: Epoch,
    tag: [u8; TAG_BYTES],
}

impl fmt::Debug for ReportCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReportCode(…)")
    }
}

/// The code for a sign-in's event, and when it stops working: `None` for any other
/// event (or an event id not made of 32 hex digits). The same event always gives the
/// same code, so a publish repeated gives the same link.
pub fn issue(keys: &ReportKeys, event: &SecurityEvent, ttl: i64) -> Option<(String, Epoch)> {
    let event_id: [u8; 16] = hex::decode(&event.id).ok()?.try_into().ok()?;
    let expires_at = event.at() + ttl;
    let fields = Fields::of(event, &event_id, expires_at)?;
    let tag = keys.sign(&fields);
    let mut bytes = Vec::with_capacity(HEAD_BYTES + TAG_BYTES + fields.user.len());
    bytes.push(VERSION);
    bytes.extend_from_slice(&expires_at.to_be_bytes());
    bytes.extend_from_slice(&event.at_millis.to_be_bytes());
    bytes.extend_from_slice(&event_id);
    bytes.extend_from_slice(&tag);
    bytes.extend_from_slice(fields.user.as_bytes());
    Some((URL_SAFE_NO_PAD.encode(bytes), expires_at))
}

/// The link a code goes in: the page on the API's own origin, the code in the
/// fragment (which no request sends, so no server or proxy logs it).
pub fn link(base_url: &str, code: &str) -> String {
    format!("{}{PAGE_PATH}#{code}", base_url.trim_end_matches('/'))
}

impl ReportCode {
    /// A code as sent; `None` when it is not one (never a reason: every bad code gets
    /// the same answer).
    pub fn parse(text: &str) -> Option<ReportCode> {
        if text.len() > 1024 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() <= HEAD_BYTES + TAG_BYTES || bytes[0] != VERSION {
            return None;
        }
        let number = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let user = std::str::from_utf8(&bytes[HEAD_BYTES + TAG_BYTES..]).ok()?;
        Some(ReportCode {
            user: UserId::parse(user)?,
            expires_at: number(1),
            at_millis: number(9),
            event_id: bytes[17..HEAD_BYTES].try_into().ok()?,
            tag: bytes[HEAD_BYTES..HEAD_BYTES + TAG_BYTES].try_into().ok()?,
        })
    }

    /// The sort key of the event it names in the user's events partition.
    pub fn event_sort_key(&self) -> String {
        format!("{:013}#{}", self.at_millis, hex::encode(self.event_id))
    }

    /// Whether the code is the one `issue` gave for `event` (read from the table by
    /// [`Self::event_sort_key`]), under a key of the deployment, and still before its
    /// expiry at `now`.
    pub fn admits(&self, keys: &ReportKeys, event: &SecurityEvent, now: Epoch) -> bool {
        let named = event.user == self.user
            && event.at_millis == self.at_millis
            && event.id == hex::encode(self.event_id);
        named
            && now < self.expires_at
            && Fields::of(event, &self.event_id, self.expires_at)
                .is_some_and(|fields| keys.verify(&fields, &self.tag))
    }
}

/// A code the page sent, checked: the sign-in it names, not reported yet.
#[derive(Debug)]
pub struct Reported {
    pub code: ReportCode,
    pub sign_in: SecurityEvent,
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

impl App {
    /// The first steps of both calls the page makes: the source address's budget, then
    /// the code in the body checked against the event it names and its marker. Every
    /// way a code can fail — malformed, unknown, forged, expired, spent, links off —
    /// is the same 404, so nothing can be learnt by probing. Writes nothing but the
    /// budget counter.
    pub async fn reported_sign_in(&self, request: &Request) -> Result<Reported, Error> {
        let source = input::source_ip(request).unwrap_or_else(|| "unknown".into());
        self.store.not_me_budget(&source, self.now()).await?;
        let body: CodeBody = input::json_body(request)?;
        let (Some(keys), Some(code)) = (&self.config.report_keys, ReportCode::parse(&body.code))
        else {
            return Err(Error::CodeNotFound);
        };
        let Some(read) = self
            .store
            .reported_sign_in(&code.user, &code.event_sort_key())
            .await?
        else {
            return Err(Error::CodeNotFound);
        };
        if read.spent || !code.admits(keys, &read.event, self.now()) {
            return Err(Error::CodeNotFound);
        }
        Ok(Reported {
            code,
            sign_in: read.event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, DeviceId, Origin, SessionId, Target};

    fn sign_in() -> SecurityEvent {
        let user = UserId::parse("alice").unwrap();
        let session = SessionId::parse("phone-1").unwrap();
        SecurityEvent::of(
            &user,
            Actor::Session("phone-1".into()),
            EventType::NewDeviceSignIn,
            Target::Session(&session),
            Origin::default(),
        )
        .on_device(&DeviceId::new())
    }

    fn keys(key: &str) -> ReportKeys {
        ReportKeys::new(key.as_bytes(), None)
    }

    #[test]
    fn a_code_names_its_sign_in_and_admits_it_until_it_expires() {
        let (event, keys) = (sign_in(), keys("k".repeat(32).as_str()));
        let (text, expires_at) = issue(&keys, &event, 600).unwrap();
        assert_eq!(expires_at, event.at() + 600);
        // The same event, the same link: a publish repeated sends the same one.
        assert_eq!(issue(&keys, &event, 600).unwrap().0, text);
        let code = ReportCode::parse(&text).unwrap();
        assert_eq!(code.user.as_str(), "alice");
        assert_eq!(
            code.event_sort_key(),
            format!("{:013}#{}", event.at_millis, event.id)
        );
        assert!(code.admits(&keys, &event, event.at()));
        assert!(!code.admits(&keys, &event, expires_at));
        assert_eq!(format!("{code:?}"), "ReportCode(…)");
    }

    #[test]
    fn a_code_admits_nothing_else() {
        let (event, keys) = (sign_in(), keys("k".repeat(32).as_str()));
        let (text, _) = issue(&keys, &event, 600).unwrap();
        let code = ReportCode::parse(&text).unwrap();
        let now = event.at();
        // Another key, another session or device in the event, another event.
        assert!(!code.admits(&super::tests::keys(&"j".repeat(32)), &event, now));
        let mut other = event.clone();
        other.target.1 = "phone-2".into();
        assert!(!code.admits(&keys, &other, now));
        let other = event.clone().on_device(&DeviceId::new());
        assert!(!code.admits(&keys, &other, now));
        assert!(!code.admits(&keys, &sign_in(), now));
        // Only new-device sign-ins get a code.
        let mut login = event.clone();
        login.event_type = EventType::SuccessfulLogin;
        assert!(issue(&keys, &login, 600).is_none());
        assert!(!code.admits(&keys, &login, now));
        // Any byte changed: another expiry, another tag, another user.
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        for at in [1, 8, 40, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            let changed = ReportCode::parse(&URL_SAFE_NO_PAD.encode(changed));
            assert!(
                changed.is_none_or(|code| !code.admits(&keys, &event, now)),
                "{at}"
            );
        }
        for bad in ["", "AAAA", &text[..60], &format!("{text}!")] {
            assert!(ReportCode::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_previous_key_still_admits_during_a_rotation() {
        let event = sign_in();
        let (old, new) = ("o".repeat(32), "n".repeat(32));
        let (text, _) = issue(&keys(&old), &event, 600).unwrap();
        let code = ReportCode::parse(&text).unwrap();
        let rotated = ReportKeys::new(new.as_bytes(), Some(old.as_bytes()));
        assert!(code.admits(&rotated, &event, event.at()));
        // New links are made with the new key; once the old one is dropped, its links go.
        assert_ne!(issue(&rotated, &event, 600).unwrap().0, text);
        assert!(!code.admits(&keys(&new), &event, event.at()));
    }

    #[test]
    fn keys_come_from_the_environment_and_locally_from_the_local_secret() {
        let none = |_: &str| None;
        assert!(ReportKeys::from_lookup(none, false).unwrap().is_none());
        assert!(ReportKeys::from_lookup(none, true).unwrap().is_some());
        let short = |name: &str| (name == KEY_VARIABLE).then(|| "short".to_string());
        assert!(ReportKeys::from_lookup(short, true).is_err());
        let set = |name: &str| (name == KEY_VARIABLE).then(|| "s".repeat(32));
        assert!(ReportKeys::from_lookup(set, false).unwrap().is_some());
        assert_eq!(
            link("https://api.example/", "abc"),
            "https://api.example/account/not-me#abc"
        );
    }
}
