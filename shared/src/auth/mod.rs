//! Authentication: the Bearer header and the JWT it carries (RFC 6750, RFC 8725).
//!
//! Algorithms are pinned by configuration and a key only ever verifies the family
//! it was configured for, so `alg: none` and HS/RS confusion are refused by
//! construction. Whether the token's *session* is still alive is not decided here
//! but on every request, by the session guard (`store::Account::guard`). The
//! settings are in docs/configuration.md; the authorizer's use in docs/authorizer.md.
//!
//! - `bearer`: the header; `keys`: key material and which keys verify what;
//!   `remote`: the provider's published keys (`JWT_JWKS_URL`), fetched and refreshed.

mod bearer;
pub mod dpop;
mod keys;
pub mod remote;

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

use crate::domain::{Epoch, SessionId, UserId};
use crate::error::{AuthFailure, Error};

pub use bearer::{authorization_header, bearer, bearer_token};
pub use keys::KeyMaterial;

use keys::{VerificationKey, is_symmetric, jwks_keys};
use remote::RemoteJwks;

/// Tokens longer than this are refused before any parsing (RFC 8725 §3.1: bound the work).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// Who is calling: the user and the session named by a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The token's `exp`: registration refuses a token outliving its id's tombstone.
    pub expires_at: Epoch,
    /// The token's `auth_time` (when the user last authenticated), if it says: the
    /// destructive routes can demand a recent one (step-up, RFC 9470).
    pub auth_time: Option<Epoch>,
    /// The token's `iat`: registration's sign-in time when `auth_time` is absent.
    pub issued_at: Option<Epoch>,
    /// The thumbprint of the device key whose DPoP proof came with this request,
    /// checked and used up (`App::authenticate`); the guard holds it against the
    /// session's binding.
    pub key: Option<String>,
}

/// How tokens are checked, from the `JWT_*` settings (`config.rs`).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// `JWT_ALGORITHMS`, comma-separated; none: HS256 for a secret, RS256 otherwise.
    pub algorithms: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The claims naming the user and the session.
    pub user_claim: String,
    pub session_claim: String,
    /// The `typ` header tokens must carry (`JWT_TOKEN_TYPE`), compared without case and
    /// with or without the `application/` prefix (RFC 7515 §4.1.9); none: not looked at.
    pub typ: Option<String>,
}

pub struct Verifier {
    /// The keys in use; replaced whole when a published key set is fetched.
    keys: RwLock<Arc<[VerificationKey]>>,
    /// Where the keys are published, when they are (`JWT_JWKS_URL`).
    remote: Option<RemoteJwks>,
    /// One validation per allowed algorithm: the library refuses a key whose family
    /// differs from *any* algorithm of a validation, so a JWKS with RSA and EC keys
    /// needs each token checked against its own (already allowed) algorithm only.
    validations: Vec<Validation>,
    user_claim: String,
    session_claim: String,
    /// The `typ` header a token must carry (`JWT_TOKEN_TYPE`, e.g. `at+jwt` for RFC 9068
    /// access tokens), when pinned: an ID token of the same provider has another.
    token_type: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Verifier")
            .field("keys", &self.current_keys().len())
            .field("remote", &self.remote)
            .field(
                "algorithms",
                &self
                    .validations
                    .iter()
                    .map(|v| v.algorithms[0])
                    .collect::<Vec<_>>(),
            )
            .field("user_claim", &self.user_claim)
            .field("session_claim", &self.session_claim)
            .finish()
    }
}

impl Verifier {
    pub fn new(material: KeyMaterial, settings: JwtSettings) -> Result<Self, String> {
        let JwtSettings {
            algorithms,
            issuer,
            audience,
            user_claim,
            session_claim,
            typ,
        } = settings;
        let material_url = match &material {
            KeyMaterial::JwksUrl(url) => Some(url.clone()),
            _ => None,
        };
        let default = match material {
            KeyMaterial::Secret(_) => "HS256",
            _ => "RS256",
        };
        let algorithms = algorithms
            .as_deref()
            .unwrap_or(default)
            .split(',')
            .map(|name| {
                name.trim()
                    .parse::<Algorithm>()
                    .map_err(|_| format!("JWT_ALGORITHMS: unknown algorithm {name:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let symmetric = algorithms.iter().all(is_symmetric);
        if !symmetric && algorithms.iter().any(is_symmetric) {
            return Err("JWT_ALGORITHMS must not mix HS* with public-key algorithms".into());
        }
        let keys = material.into_keys(&algorithms)?;
        let remote = match material_url {
            Some(url) => Some(RemoteJwks::new(&url)?),
            None => None,
        };

        let mut validation = Validation::new(algorithms[0]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = &issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            // Without a configured audience, an `aud` in the token is not checked.
            None => validation.validate_aud = false,
        }
        Ok(Verifier {
            keys: RwLock::new(keys.into()),
            remote,
            validations: algorithms
                .iter()
                .map(|&algorithm| Validation {
                    algorithms: vec![algorithm],
                    ..validation.clone()
                })
                .collect(),
            user_claim,
            session_claim,
            token_type: typ.map(|t| media_type(&t)),
        })
    }

    /// Reads the caller's identity from the raw `Authorization` value (`None`: no
    /// header; `App::identify` passes it, and the proof). With published keys, a stale
    /// set, or a token naming a key id not yet held (rotation), first refreshes them
    /// (see `remote`).
    pub async fn authenticate_header(&self, header: Option<&str>) -> Result<Identity, Error> {
        let token = bearer(header)?;
        let stale = self.remote.as_ref().is_some_and(|remote| remote.is_stale());
        if self.remote.is_some() && (stale || self.needs_new_keys(token)) {
            self.refresh().await?;
        }
        self.verify(token)
            .ok_or(Error::Unauthorized(AuthFailure::InvalidToken))
    }

    /// Fetches the published keys (at cold start, once stale, and on an unknown key
    /// id), at most once per `remote::COOL_DOWN`, and replaces the set whole: a key
    /// the provider removed stops verifying here. A failed fetch, or a document
    /// without a usable key, keeps the keys already held (logged, with how long
    /// they are overdue); with none held the service cannot verify anyone: 503,
    /// not 401.
    pub async fn refresh(&self) -> Result<(), Error> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let algorithms: Vec<Algorithm> = self.validations.iter().map(|v| v.algorithms[0]).collect();
        let refreshed = remote
            .refresh_if_due(|document| {
                let keys = jwks_keys(document, "the JWKS at JWT_JWKS_URL", &algorithms)?;
                tracing::info!(keys = keys.len(), "published keys loaded");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys.into();
                Ok(())
            })
            .await;
        if let Some(Err(error)) = refreshed {
            crate::metrics::count(crate::metrics::KEY_REFRESH_FAILURES, 1);
            tracing::error!(
                %error,
                keys_held = self.current_keys().len(),
                stale_for_seconds = remote.stale_for().map(|d| d.as_secs()),
                "published keys not refreshed; any keys held stay in use"
            );
        }
        if self.current_keys().is_empty() {
            return Err(Error::Unavailable("no published keys loaded".into()));
        }
        Ok(())
    }

    /// Lets `elapsed` pass for the published keys' schedule (freshness and
    /// cool-down) without waiting: see `remote::RemoteJwks::let_time_pass`.
    pub fn let_time_pass(&self, elapsed: std::time::Duration) {
        if let Some(remote) = &self.remote {
            remote.let_time_pass(elapsed);
        }
    }

    fn current_keys(&self) -> Arc<[VerificationKey]> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// No keys yet, or the token's header names a key id none of them has.
    fn needs_new_keys(&self, token: &str) -> bool {
        let keys = self.current_keys();
        if keys.is_empty() {
            return true;
        }
        if token.len() > MAX_TOKEN_BYTES {
            return false;
        }
        let kid = decode_header(token).ok().and_then(|header| header.kid);
        kid.is_some_and(|kid| !keys.iter().any(|k| k.kid.as_deref() == Some(kid.as_str())))
    }

    /// Verifies signature, algorithm, time and issuer/audience, then reads the
    /// configured user and session claims. `None` for any failure: the caller
    /// learns nothing about which check failed.
    pub fn verify(&self, token: &str) -> Option<Identity> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = decode_header(token).ok()?;
        if let Some(wanted) = &self.token_type
            && header.typ.as_deref().map(media_type).as_ref() != Some(wanted)
        {
            return None;
        }
        let validation = self
            .validations
            .iter()
            .find(|v| v.algorithms == [header.alg])?;
        let keys = self.current_keys();
        let candidates = keys.iter().filter(|k| {
            k.alg.is_none_or(|alg| alg == header.alg)
                && match (&header.kid, &k.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        for candidate in candidates {
            if let Ok(data) = decode::<Map<String, Value>>(token, &candidate.key, validation) {
                let claim = |name: &str| data.claims.get(name).and_then(Value::as_str);
                let user_id = UserId::parse(&user_claim(data.claims.get(&self.user_claim)?)?)?;
                let session_id = SessionId::parse(claim(&self.session_claim)?)?;
                // Required and checked by the validation: a number.
                let expires_at = data.claims.get("exp")?.as_f64()? as Epoch;
                let auth_time = data.claims.get("auth_time").and_then(Value::as_i64);
                let issued_at = data.claims.get("iat").and_then(Value::as_i64);
                return Some(Identity {
                    user_id,
                    session_id,
                    expires_at,
                    auth_time,
                    issued_at,
                    key: None,
                });
            }
        }
        None
    }
}

/// A `typ` value as a comparable media type: lowercase, without `application/`.
fn media_type(typ: &str) -> String {
    let typ = typ.to_ascii_lowercase();
    typ.strip_prefix("application/").unwrap_or(&typ).to_string()
}

/// The user claim as text. Some identity providers issue user ids as JSON numbers
/// (`"sub": 12345`): that is the user "12345". A whole number only, never a
/// fraction, an exponent or a boolean, so no two spellings name one user.
fn user_claim(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) if number.is_u64() || number.is_i64() => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_pinned_token_type_refuses_tokens_of_another_type() {
        let typed = |typ: Option<&str>| {
            let header = Header {
                typ: typ.map(str::to_string),
                ..Header::default()
            };
            encode(
                &header,
                &claims(),
                &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            )
            .unwrap()
        };
        let pinned = Verifier::new(
            KeyMaterial::Secret(SECRET.into()),
            JwtSettings {
                typ: Some("at+jwt".into()),
                ..settings(None)
            },
        )
        .unwrap();
        for accepted in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            assert!(
                pinned.verify(&typed(Some(accepted))).is_some(),
                "{accepted}"
            );
        }
        for refused in [Some("JWT"), Some("id+jwt"), None] {
            assert!(pinned.verify(&typed(refused)).is_none(), "{refused:?}");
        }
        // Unpinned, the type is not looked at.
        assert!(secret_verifier().verify(&typed(Some("JWT"))).is_some());
    }

    #[test]
    fn a_valid_token_names_user_and_session() {
        let identity = secret_verifier().verify(&hs256(&claims())).unwrap();
        assert_eq!(identity.user_id.as_str(), "alice");
        assert_eq!(identity.session_id.as_str(), "session-1");
    }

    #[test]
    fn time_claims_are_enforced_with_a_small_leeway() {
        let v = secret_verifier();
        let expired = json!({ "sub": "a", "sid": "s", "exp": now() - 120 });
        assert!(v.verify(&hs256(&expired)).is_none(), "expired");
        let skewed = json!({ "sub": "a", "sid": "s", "exp": now() - 5 });
        assert!(v.verify(&hs256(&skewed)).is_some(), "within leeway");
        let early = json!({ "sub": "a", "sid": "s", "exp": now() + 600, "nbf": now() + 120 });
        assert!(v.verify(&hs256(&early)).is_none(), "not yet valid");
        let no_exp = json!({ "sub": "a", "sid": "s" });
        assert!(v.verify(&hs256(&no_exp)).is_none(), "exp is required");
    }

    #[test]
    fn signatures_and_algorithms_are_pinned() {
        let v = secret_verifier();
        let forged = encode(
            &Header::default(),
            &claims(),
            &EncodingKey::from_secret(b"some-other-secret-some-other-secret").unwrap(),
        )
        .unwrap();
        assert!(v.verify(&forged).is_none(), "wrong key");

        // alg "none": a header and payload with an empty signature.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(claims().to_string())
        );
        assert!(v.verify(&none).is_none(), "alg none");

        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(v.verify(&hs512).is_none(), "an algorithm not configured");
        assert!(
            v.verify(&rs256(&claims(), None)).is_none(),
            "RS256 against an HS256 configuration"
        );
    }

    #[test]
    fn a_public_key_never_verifies_an_hmac_token() {
        let v = verifier(KeyMaterial::PublicKeyPem(RSA_PUBLIC.into()), Some("RS256"));
        assert!(v.verify(&rs256(&claims(), None)).is_some());
        // The classic confusion: HS256 "signed" with the public key as the secret.
        let confused = encode(
            &Header::default(),
            &claims(),
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(v.verify(&confused).is_none());
        let es256 = encode(
            &Header::new(Algorithm::ES256),
            &claims(),
            &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(v.verify(&es256).is_none(), "another key family");
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let v = Verifier::new(
            KeyMaterial::Secret(SECRET.into()),
            JwtSettings {
                issuer: Some("https://auth.flashback.tech".into()),
                audience: Some("devices-api".into()),
                ..settings(None)
            },
        )
        .unwrap();
        let mut good = claims();
        good["iss"] = json!("https://auth.flashback.tech");
        good["aud"] = json!("devices-api");
        assert!(v.verify(&hs256(&good)).is_some());
        for (claim, value) in [
            ("iss", json!("https://evil.example")),
            ("aud", json!("other-api")),
        ] {
            let mut bad = good.clone();
            bad[claim] = value;
            assert!(v.verify(&hs256(&bad)).is_none(), "wrong {claim}");
            bad.as_object_mut().unwrap().remove(claim);
            assert!(v.verify(&hs256(&bad)).is_none(), "missing {claim}");
        }
    }

    #[test]
    fn user_and_session_claims_must_be_present_and_well_formed() {
        let v = secret_verifier();
        for bad in [
            json!({ "sid": "s", "exp": now() + 600 }),
            json!({ "sub": "a", "exp": now() + 600 }),
            json!({ "sub": 7.5, "sid": "s", "exp": now() + 600 }),
            json!({ "sub": 1e3, "sid": "s", "exp": now() + 600 }),
            json!({ "sub": true, "sid": "s", "exp": now() + 600 }),
            json!({ "sub": ["a"], "sid": "s", "exp": now() + 600 }),
            json!({ "sub": "a", "sid": 7, "exp": now() + 600 }),
            json!({ "sub": "a", "sid": "has space", "exp": now() + 600 }),
            json!({ "sub": "", "sid": "s", "exp": now() + 600 }),
        ] {
            assert!(v.verify(&hs256(&bad)).is_none(), "{bad}");
        }
        // A user id issued as a JSON number is that number's decimal spelling.
        for (sub, user) in [
            (json!(12345), "12345"),
            (json!(-7), "-7"),
            (json!(u64::MAX), "18446744073709551615"),
        ] {
            let token = hs256(&json!({ "sub": sub, "sid": "s", "exp": now() + 600 }));
            let identity = v.verify(&token).expect("a numeric user id");
            assert_eq!(identity.user_id.as_str(), user);
        }
        // Flashback tokens name the user `userId`: the claim names are configuration.
        let flashback = Verifier::new(
            KeyMaterial::Secret(SECRET.into()),
            JwtSettings {
                user_claim: "userId".into(),
                ..settings(None)
            },
        )
        .unwrap();
        let token = hs256(&json!({ "userId": "u-1", "sid": "s", "exp": now() + 600 }));
        assert_eq!(flashback.verify(&token).unwrap().user_id.as_str(), "u-1");
    }

    #[test]
    fn garbage_and_oversized_tokens_are_refused() {
        let v = secret_verifier();
        for garbage in ["", "abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30."] {
            assert!(v.verify(garbage).is_none(), "{garbage:?}");
        }
        let mut big = claims();
        big["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
        assert!(v.verify(&hs256(&big)).is_none());
    }

    #[test]
    fn misconfigurations_fail_at_cold_start() {
        let new = |material, algorithms| Verifier::new(material, settings(algorithms)).unwrap_err();
        assert!(new(KeyMaterial::Secret("short".into()), None).contains("at least 32 bytes"));
        assert!(new(KeyMaterial::Secret(SECRET.into()), Some("RS256")).contains("only HS256"));
        assert!(
            new(KeyMaterial::PublicKeyPem(RSA_PUBLIC.into()), Some("HS256"))
                .contains("cannot verify HS")
        );
        assert!(
            new(
                KeyMaterial::PublicKeyPem(RSA_PUBLIC.into()),
                Some("RS256,HS256")
            )
            .contains("must not mix")
        );
        assert!(new(KeyMaterial::PublicKeyPem("not a key".into()), Some("RS256")).contains("PEM"));
        assert!(
            new(KeyMaterial::Secret(SECRET.into()), Some("XS999")).contains("unknown algorithm")
        );
        let mixed = KeyMaterial::from_sources(Some("s".into()), Some("p".into()), None, None);
        assert!(mixed.is_err());
        let mixed = KeyMaterial::from_sources(None, None, Some("{}".into()), Some("u".into()));
        assert!(mixed.is_err());
    }

    #[test]
    fn published_keys_come_over_https_only() {
        let new =
            |url: &str| Verifier::new(KeyMaterial::JwksUrl(url.into()), settings(Some("RS256")));
        for refused in [
            "http://issuer.example/.well-known/jwks.json",
            "ftp://issuer.example/jwks",
            "issuer.example/jwks",
            "not a url",
        ] {
            let error = new(refused).unwrap_err();
            assert!(error.contains("JWT_JWKS_URL"), "{refused}: {error}");
        }
        for accepted in [
            "https://issuer.example/.well-known/jwks.json",
            "http://127.0.0.1:8123/jwks",
            "http://localhost/jwks",
        ] {
            let verifier = new(accepted).unwrap_or_else(|e| panic!("{accepted}: {e}"));
            // Nothing is fetched until the cold start asks for it.
            assert_eq!(verifier.current_keys().len(), 0);
        }
    }
}
