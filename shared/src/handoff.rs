//! The devices page's hand-off (docs/devices-page.md, "Opening it"): the page gets its
//! credentials (the user's token, and this device's fingerprint) from a one-time code
//! redeemed by POST, never from its URL, which browsers keep in their history.
//!
//! A code is 256 bits from the OS's random source, base64url (43 characters). The
//! table holds one item per code, keyed by the code's SHA-256, and the credentials
//! only sealed with AES-256-GCM under a key derived from the code (HKDF-SHA-256): the
//! table, its backups and its stream hold nothing that signs anyone in. The stored key
//! and the expiry are the sealing's associated data, so a sealed value moved to another
//! key, or kept past a changed expiry, no longer opens.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::Epoch;
use crate::error::Error;

/// Bytes of a code: 256 bits, beyond any guessing.
pub const CODE_BYTES: usize = 32;

/// Characters of a code as sent: base64url of [`CODE_BYTES`] without padding.
pub const CODE_CHARS: usize = 43;

/// The HKDF `info` of the sealing key: names this use, so the code's bytes serve it alone.
const SEALING: &[u8] = b"flashback devices-page hand-off v1";

/// Bytes of an AES-GCM nonce.
const NONCE_BYTES: usize = 12;

/// A hand-off code. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Code([u8; CODE_BYTES]);

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(…)")
    }
}

impl Code {
    /// A new code from the OS's random source.
    pub fn new() -> Result<Code, Error> {
        let mut bytes = [0; CODE_BYTES];
        random(&mut bytes)?;
        Ok(Code(bytes))
    }

    /// A code as sent: exactly [`CODE_CHARS`] base64url characters, else none.
    pub fn parse(text: &str) -> Option<Code> {
        if text.len() != CODE_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Code(bytes.try_into().ok()?))
    }

    /// The code as sent and shown: base64url, no padding.
    pub fn as_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Where its item is stored: the SHA-256 of the code, hex. Tells nothing of the
    /// sealing key (a different function of the code).
    pub fn storage_key(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    fn cipher(&self) -> Aes256Gcm {
        let mut key = [0; 32];
        Hkdf::<Sha256>::new(None, &self.0)
            .expand(SEALING, &mut key)
            .expect("32 bytes is a valid HKDF-SHA-256 length");
        Aes256Gcm::new_from_slice(&key).expect("a 256-bit key")
    }
}

/// What the page is handed: the user's token, and this device's fingerprint when the
/// opener knows it. Its `Debug` never shows either.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub token: String,
    pub fingerprint: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(…)")
    }
}

/// The associated data of a sealing: the item's key and expiry.
fn bound_to(code: &Code, expires_at: Epoch) -> Vec<u8> {
    format!("{}|{expires_at}", code.storage_key()).into_bytes()
}

/// `credentials` sealed under `code`, for the item that expires at `expires_at`: a
/// random nonce, then the ciphertext and its tag.
pub fn seal(code: &Code, expires_at: Epoch, credentials: &Credentials) -> Result<Vec<u8>, Error> {
    let mut nonce = [0; NONCE_BYTES];
    random(&mut nonce)?;
    let plaintext = serde_json::to_vec(credentials).expect("strings serialize");
    let aad = bound_to(code, expires_at);
    let sealed = code
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Internal("sealing the hand-off failed".into()))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

/// The credentials `seal` sealed under this code and expiry; none when anything differs.
pub fn open(code: &Code, expires_at: Epoch, sealed: &[u8]) -> Option<Credentials> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
    let aad = bound_to(code, expires_at);
    let plaintext = code
        .cipher()
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .ok()?;
    serde_json::from_slice(&plaintext).ok()
}

fn random(bytes: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(bytes).map_err(|error| Error::Internal(format!("OS random source: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            token: "header.claims.signature".into(),
            fingerprint: Some("fp-secret".into()),
        }
    }

    #[test]
    fn codes_are_256_random_bits_in_43_characters() {
        let (a, b) = (Code::new().unwrap(), Code::new().unwrap());
        assert_ne!(a, b);
        let text = a.as_text();
        assert_eq!(text.len(), CODE_CHARS);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(Code::parse(&text), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "Code(…)");
        assert_eq!(a.storage_key().len(), 64);
        assert!(!a.storage_key().contains(&text));
    }

    #[test]
    fn only_a_well_formed_code_parses() {
        let text = Code::new().unwrap().as_text();
        for bad in [
            "",
            &text[1..],
            &format!("{text}A"),
            &format!("{}=", &text[..42]),
            &format!("{}+", &text[..42]),
            &format!("{}/", &text[..42]),
        ] {
            assert!(Code::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sealed_credentials_open_with_their_code_and_expiry_only() {
        let code = Code::new().unwrap();
        let sealed = seal(&code, 1_000, &credentials()).unwrap();
        assert_eq!(open(&code, 1_000, &sealed), Some(credentials()));
        // Nothing of the token or the fingerprint in what is stored.
        let stored = String::from_utf8_lossy(&sealed);
        assert!(!stored.contains("claims") && !stored.contains("fp-secret"));
        // Another code, another expiry, a flipped bit, a cut: nothing opens.
        assert_eq!(open(&Code::new().unwrap(), 1_000, &sealed), None);
        assert_eq!(open(&code, 1_001, &sealed), None);
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert_eq!(open(&code, 1_000, &flipped), None);
        assert_eq!(open(&code, 1_000, &sealed[..10]), None);
        // Each sealing its own nonce.
        assert_ne!(seal(&code, 1_000, &credentials()).unwrap(), sealed);
        assert_eq!(format!("{:?}", credentials()), "Credentials(…)");
    }
}
