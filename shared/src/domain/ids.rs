//! The three identifiers, each parsed once at the edge. Parsing answers `None` for a
//! bad one: which HTTP error that is depends on where it came from (`input.rs`).

/// The user a token names. Opaque, bounded, printable. It only ever comes from a
/// verified token, so a bad one is a bad token (401), never a 400.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Option<Self> {
        let printable = raw.chars().all(|c| !c.is_control());
        (!raw.is_empty() && raw.len() <= 256 && printable).then(|| UserId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session id as the identity platform issues it (the token's session claim).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub const MAX_LEN: usize = 128;

    /// 1 to 128 characters of `A-Z a-z 0-9 . _ ~ : -`: every id format identity
    /// platforms issue (UUIDs, ULIDs, opaque base64url), nothing that needs escaping.
    pub fn parse(raw: &str) -> Option<Self> {
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | ':' | '-');
        let valid = !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.chars().all(allowed);
        valid.then(|| SessionId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A device id: a UUID we issue, kept in its one canonical (lowercase, hyphenated)
/// spelling so that no two strings name the same device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn new() -> Self {
        DeviceId(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 36 {
            return None;
        }
        let canonical = uuid::Uuid::try_parse(raw).ok()?.hyphenated().to_string();
        (canonical == raw).then_some(DeviceId(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DeviceId {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_canonical_uuids() {
        let id = DeviceId::new();
        assert_eq!(DeviceId::parse(id.as_str()).unwrap(), id);
        for bad in [
            "",
            "not-a-uuid",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
            "6f9619ff8b86d011b42d00c04fc964ff",
            &"a".repeat(10_000),
        ] {
            assert!(DeviceId::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn session_ids_are_bounded_and_plain() {
        assert!(SessionId::parse("01J9ZK3Q-sess_1.a~b:c").is_some());
        for bad in ["", "a b", "a/b", "a#b", "ü", &"a".repeat(129)] {
            assert!(SessionId::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
