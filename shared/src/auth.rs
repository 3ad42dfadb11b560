//! Authentication: the Bearer header and the JWT it carries (RFC 6750, RFC 8725).
//!
//! Algorithms are pinned by configuration and a key only ever verifies the family
//! it was configured for, so `alg: none` and HS/RS confusion are refused by
//! construction. Whether the token's *session* is still alive is not decided here
//! but in the store, on every request (see `store::Store::guard`).

use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;
use serde_json::{Map, Value};

use crate::domain::{Epoch, SessionId, UserId};
use crate::error::{AuthFailure, Error};
use crate::jwks::{MAX_KEYS, RemoteJwks};

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
}

/// The configured key material (DESIGN §5): exactly one source.
pub enum KeyMaterial {
    Secret(String),
    PublicKeyPem(String),
    Jwks(String),
    /// Where the provider publishes its JWKS (fetched, see `jwks`).
    JwksUrl(String),
}

impl KeyMaterial {
    /// Takes exactly one key source. Mixing a shared secret with public keys is
    /// refused: that mix is what algorithm-confusion attacks feed on.
    pub fn from_sources(
        secret: Option<String>,
        public_key_pem: Option<String>,
        jwks: Option<String>,
        jwks_url: Option<String>,
    ) -> Result<Self, String> {
        match (secret, public_key_pem, jwks, jwks_url) {
            (Some(secret), None, None, None) => Ok(KeyMaterial::Secret(secret)),
            (None, Some(pem), None, None) => Ok(KeyMaterial::PublicKeyPem(pem)),
            (None, None, Some(document), None) => Ok(KeyMaterial::Jwks(document)),
            (None, None, None, Some(url)) => Ok(KeyMaterial::JwksUrl(url)),
            (None, None, None, None) => Err(
                "one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS or JWT_JWKS_URL is required".into(),
            ),
            _ => {
                Err("set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS and JWT_JWKS_URL".into())
            }
        }
    }
}

/// Minimum HMAC secret length: RFC 7518 §3.2 wants a key at least as long as the hash.
const MIN_SECRET_BYTES: usize = 32;

struct VerificationKey {
    kid: Option<String>,
    /// The algorithm a JWK pins itself to (its `alg`, or its curve's only one), if any.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl VerificationKey {
    fn any(key: DecodingKey) -> Self {
        VerificationKey {
            kid: None,
            alg: None,
            key,
        }
    }
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

fn is_symmetric(algorithm: &Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

impl Verifier {
    pub fn new(
        material: KeyMaterial,
        algorithms: Option<&str>,
        issuer: Option<&str>,
        audience: Option<&str>,
        user_claim: String,
        session_claim: String,
    ) -> Result<Self, String> {
        let material_url = match &material {
            KeyMaterial::JwksUrl(url) => Some(url.clone()),
            _ => None,
        };
        let default = match material {
            KeyMaterial::Secret(_) => "HS256",
            _ => "RS256",
        };
        let algorithms = algorithms
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
        let keys = match material {
            KeyMaterial::Secret(_) if !symmetric => {
                return Err(
                    "JWT_SECRET verifies only HS256/HS384/HS512 (check JWT_ALGORITHMS)".into(),
                );
            }
            KeyMaterial::Secret(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(format!(
                    "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
                ));
            }
            KeyMaterial::Secret(secret) => {
                vec![VerificationKey::any(DecodingKey::from_secret(
                    secret.as_bytes(),
                ))]
            }
            _ if symmetric => {
                return Err(
                    "public keys cannot verify HS* algorithms (check JWT_ALGORITHMS)".into(),
                );
            }
            KeyMaterial::PublicKeyPem(pem) => {
                vec![VerificationKey::any(pem_key(&pem, &algorithms)?)]
            }
            KeyMaterial::Jwks(document) => jwks_keys(&document, "JWT_JWKS", &algorithms)?,
            // Fetched at cold start (`refresh`), before the first request.
            KeyMaterial::JwksUrl(_) => Vec::new(),
        };
        let remote = match material_url {
            Some(url) => Some(RemoteJwks::new(&url)?),
            None => None,
        };

        let mut validation = Validation::new(algorithms[0]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match audience {
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
            token_type: None,
        })
    }

    /// Pins the `typ` header tokens must carry (compared without case, and with or
    /// without the `application/` prefix, RFC 7515 §4.1.9).
    pub fn require_type(mut self, token_type: Option<String>) -> Self {
        self.token_type = token_type.map(|t| media_type(&t));
        self
    }

    /// Reads the caller's identity from the `Authorization` header. With published
    /// keys, a stale set, or a token naming a key id not yet held (rotation), first
    /// refreshes them (see `jwks`).
    pub async fn authenticate(&self, request: &Request) -> Result<Identity, Error> {
        self.authenticate_header(authorization_header(request)?)
            .await
    }

    /// The same from the raw `Authorization` value (`None`: no header), for callers
    /// that do not get a `Request` (the Lambda authorizer's events).
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
    /// id), at most once per `jwks::COOL_DOWN`, and replaces the set whole: a key
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
    /// cool-down) without waiting: see `jwks::RemoteJwks::let_time_pass`.
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
                return Some(Identity {
                    user_id,
                    session_id,
                    expires_at,
                    auth_time,
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

/// The signature keys of a JWKS document that fit the pinned `algorithms`, at most
/// [`MAX_KEYS`] of them. Every other key — another key type or curve, `use: "enc"`,
/// `key_ops` without `verify`, an `alg` that is not a pinned signature algorithm, a
/// symmetric key (it would let anyone holding the public document forge tokens), a
/// private one, anything unparseable, any beyond the bound — is skipped with one log
/// line naming its `kid` and why (never the key), so one odd key in a provider's set
/// never stops the others from verifying. Each key is read on its own, since one
/// unparseable key would fail a whole `JwkSet`. Only a set with no usable key at all
/// is refused.
///
/// A token names its key by `kid`; one without is tried against every held key its
/// algorithm fits — at most [`MAX_KEYS`] signature checks.
fn jwks_keys(
    document: &str,
    source: &str,
    algorithms: &[Algorithm],
) -> Result<Vec<VerificationKey>, String> {
    let set: Value = serde_json::from_str(document)
        .map_err(|e| format!("{source} is not a JWKS document: {e}"))?;
    let listed = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{source} is not a JWKS document: no \"keys\" array"))?;
    let mut keys = Vec::with_capacity(listed.len().min(MAX_KEYS));
    for raw in listed {
        let kid = raw.get("kid").and_then(Value::as_str).unwrap_or("(none)");
        match usable_key(raw, algorithms) {
            Ok(_) if keys.len() == MAX_KEYS => {
                let why = "more usable keys than jwks::MAX_KEYS";
                tracing::warn!(source, kid, why, "published key skipped");
            }
            Ok(key) => keys.push(key),
            Err(why) => tracing::warn!(source, kid, why, "published key skipped"),
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "{source} holds no key usable for {algorithms:?} (public signature keys only)"
        ));
    }
    Ok(keys)
}

/// One JWK as a verification key, or why it is not one.
fn usable_key(raw: &Value, algorithms: &[Algorithm]) -> Result<VerificationKey, &'static str> {
    use Algorithm::*;
    if !raw.is_object() {
        return Err("not a JSON object");
    }
    if raw.get("use").is_some_and(|u| u != "sig") {
        return Err("not a signature key (use)");
    }
    if raw.get("key_ops").is_some_and(|ops| {
        !ops.as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"))
    }) {
        return Err("not a verification key (key_ops)");
    }
    if raw.get("d").is_some() {
        return Err("a private key (d)");
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|_| "unparseable")?;
    // What the key's type and curve can verify, whatever its `alg` says.
    let verifies: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => &[ES256],
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => &[ES384],
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => &[EdDSA],
        AlgorithmParameters::EllipticCurve(_) | AlgorithmParameters::OctetKeyPair(_) => {
            return Err("an unsupported curve");
        }
        AlgorithmParameters::OctetKey(_) => return Err("a symmetric key (kty oct)"),
        _ => return Err("an unsupported key type"),
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(named) => Some(
            Algorithm::try_from(named)
                .ok()
                .filter(|alg| verifies.contains(alg))
                .ok_or("its alg is no signature algorithm of its key type")?,
        ),
    };
    let pinned = match alg {
        Some(alg) => algorithms.contains(&alg),
        None => verifies.iter().any(|alg| algorithms.contains(alg)),
    };
    if !pinned {
        return Err("its type or alg is not among JWT_ALGORITHMS");
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "unusable key material")?;
    Ok(VerificationKey {
        kid: jwk.common.key_id.clone(),
        // A curve allows one algorithm: the key is pinned to it even without `alg`.
        alg: alg.or(match verifies {
            [only] => Some(*only),
            _ => None,
        }),
        key,
    })
}

fn pem_key(pem: &str, algorithms: &[Algorithm]) -> Result<DecodingKey, String> {
    use Algorithm::*;
    let family = |a: &Algorithm| match a {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => 0,
        ES256 | ES384 => 1,
        _ => 2,
    };
    if algorithms
        .iter()
        .any(|a| family(a) != family(&algorithms[0]))
    {
        return Err("JWT_PUBLIC_KEY is one key: JWT_ALGORITHMS must name one key family".into());
    }
    let parsed = match family(&algorithms[0]) {
        0 => DecodingKey::from_rsa_pem(pem.as_bytes()),
        1 => DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => DecodingKey::from_ed_pem(pem.as_bytes()),
    };
    parsed.map_err(|e| format!("JWT_PUBLIC_KEY is not a usable PEM public key: {e}"))
}

/// Exactly one `Authorization: Bearer <token>` header, with one space and a
/// non-empty token of base64url and dots; anything else is malformed.
pub fn bearer_token(request: &Request) -> Result<&str, Error> {
    bearer(authorization_header(request)?)
}

/// The one `Authorization` header's value, `None` without one; repeated, or not
/// text, it is malformed.
fn authorization_header(request: &Request) -> Result<Option<&str>, Error> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed = Error::Unauthorized(AuthFailure::Malformed);
    if values.next().is_some() {
        return Err(malformed);
    }
    value.to_str().map(Some).map_err(|_| malformed)
}

/// `Bearer <token>` with one space and a non-empty token of base64url and dots;
/// anything else is malformed, and no value at all is missing.
pub fn bearer(header: Option<&str>) -> Result<&str, Error> {
    let value = header.ok_or(Error::Unauthorized(AuthFailure::Missing))?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or(Error::Unauthorized(AuthFailure::Malformed))?;
    let token_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if token.is_empty() || !token.chars().all(token_chars) {
        return Err(Error::Unauthorized(AuthFailure::Malformed));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "unit-test-secret-unit-test-secret-0123";
    const RSA_PRIVATE: &str = include_str!("../testdata/rsa-private.pem");
    const RSA_PUBLIC: &str = include_str!("../testdata/rsa-public.pem");
    const EC_PRIVATE: &str = include_str!("../testdata/ec-private.pem");

    fn now() -> i64 {
        crate::domain::now()
    }

    fn claims() -> serde_json::Value {
        json!({ "sub": "alice", "sid": "session-1", "exp": now() + 600 })
    }

    fn hs256(claims: &serde_json::Value) -> String {
        encode(
            &Header::default(),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn rs256(claims: &serde_json::Value, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn verifier(material: KeyMaterial, algorithms: Option<&str>) -> Verifier {
        Verifier::new(material, algorithms, None, None, "sub".into(), "sid".into()).unwrap()
    }

    fn secret_verifier() -> Verifier {
        verifier(KeyMaterial::Secret(SECRET.into()), None)
    }

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
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap()
        };
        let pinned = secret_verifier().require_type(Some("at+jwt".into()));
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
            &EncodingKey::from_secret(b"some-other-secret-some-other-secret"),
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
            &EncodingKey::from_secret(SECRET.as_bytes()),
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
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
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

    /// What a closure logs, as JSON lines.
    fn logged<T>(run: impl FnOnce() -> T) -> (T, Vec<serde_json::Value>) {
        #[derive(Clone, Default)]
        struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let result = tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines = text.lines().map(|l| serde_json::from_str(l).unwrap());
        (result, lines.collect())
    }

    #[test]
    fn one_odd_key_in_a_set_is_skipped_and_the_others_verify() {
        let private = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let mut good = Jwk::from_encoding_key(&private, Algorithm::RS256).unwrap();
        good.common.key_id = Some("good".into());
        let good = serde_json::to_value(&good).unwrap();
        // The good key's own material, marked or named for something else.
        let variant = |kid: &str, field: &str, value: serde_json::Value| {
            let mut key = good.clone();
            key["kid"] = json!(kid);
            key[field] = value;
            key
        };
        let ec_private = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
        let ec =
            serde_json::to_value(Jwk::from_encoding_key(&ec_private, Algorithm::ES256).unwrap())
                .unwrap();
        let mut ec_not_pinned = ec.clone();
        ec_not_pinned["kid"] = json!("ec-not-pinned");
        let mut p521 = ec.clone();
        p521["kid"] = json!("p-521");
        p521["crv"] = json!("P-521");
        let odd = [
            json!({ "kty": "oct", "k": "c2VjcmV0LXNlY3JldA", "kid": "symmetric" }),
            variant("enc", "use", json!("enc")),
            variant("wrap", "key_ops", json!(["wrapKey"])),
            variant("ops-not-a-list", "key_ops", json!("verify")),
            variant("oaep", "alg", json!("RSA-OAEP")),
            variant("alg-of-another-type", "alg", json!("ES256")),
            variant("alg-unknown", "alg", json!("RS1")),
            variant("rs512-not-pinned", "alg", json!("RS512")),
            variant("private", "d", json!("c2VjcmV0")),
            ec_not_pinned,
            p521,
            json!({ "kty": "OKP", "crv": "X25519", "x": "c2VjcmV0", "kid": "x25519" }),
            json!({ "kty": "XYZ", "kid": "unknown-type" }),
            json!({ "kid": "garbage" }),
            json!("not-an-object"),
        ];
        let mut listed = odd.to_vec();
        listed.insert(3, good.clone());
        let document = json!({ "keys": listed }).to_string();

        // RS256 only: the EC keys do not fit either.
        let (v, lines) = logged(|| verifier(KeyMaterial::Jwks(document), Some("RS256")));
        assert_eq!(v.current_keys().len(), 1, "only the good key is held");
        assert!(v.verify(&rs256(&claims(), Some("good"))).is_some());
        assert!(
            v.verify(&rs256(&claims(), None)).is_some(),
            "no kid: tried on the usable keys"
        );
        for kid in ["enc", "wrap", "oaep", "private", "alg-unknown"] {
            assert!(v.verify(&rs256(&claims(), Some(kid))).is_none(), "{kid}");
        }

        // One line per skipped key, naming it and why, never its material.
        assert_eq!(lines.len(), odd.len(), "{lines:#?}");
        for (line, key) in lines.iter().zip(&odd) {
            let fields = &line["fields"];
            assert_eq!(line["level"], "WARN");
            assert_eq!(fields["message"], "published key skipped");
            assert_eq!(
                fields["kid"],
                key.get("kid").unwrap_or(&json!("(none)")).clone()
            );
            assert!(fields["why"].as_str().is_some_and(|why| !why.is_empty()));
        }
        let text = serde_json::to_string(&lines).unwrap();
        for material in [&good["n"], &odd[0]["k"], &ec["x"]] {
            assert!(
                !text.contains(material.as_str().unwrap()),
                "key material logged"
            );
        }
    }

    #[test]
    fn a_set_holds_at_most_max_keys() {
        let private = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let keys: Vec<Jwk> = (0..MAX_KEYS + 3)
            .map(|n| {
                let mut jwk = Jwk::from_encoding_key(&private, Algorithm::RS256).unwrap();
                jwk.common.key_id = Some(format!("key-{n}"));
                jwk
            })
            .collect();
        let document = json!({ "keys": keys }).to_string();
        let (v, lines) = logged(|| verifier(KeyMaterial::Jwks(document), Some("RS256")));
        assert_eq!(v.current_keys().len(), MAX_KEYS);
        assert_eq!(lines.len(), 3, "one line per key beyond the bound");
        assert!(v.verify(&rs256(&claims(), Some("key-0"))).is_some());
        assert!(v.verify(&rs256(&claims(), None)).is_some());
        let beyond = format!("key-{MAX_KEYS}");
        assert!(v.verify(&rs256(&claims(), Some(&beyond))).is_none());
    }

    #[test]
    fn jwks_keys_are_chosen_by_kid() {
        let private = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&private, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("key-1".into());
        let document = json!({ "keys": [jwk] }).to_string();
        let v = verifier(KeyMaterial::Jwks(document), None);
        assert!(v.verify(&rs256(&claims(), Some("key-1"))).is_some());
        assert!(
            v.verify(&rs256(&claims(), Some("key-2"))).is_none(),
            "unknown kid"
        );

        // RSA and EC keys in one set, both algorithms allowed: each verifies its own.
        let ec_private = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
        let mut ec_jwk = Jwk::from_encoding_key(&ec_private, Algorithm::ES256).unwrap();
        ec_jwk.common.key_id = Some("key-ec".into());
        let document = json!({ "keys": [jwk, ec_jwk] }).to_string();
        let v = verifier(KeyMaterial::Jwks(document), Some("RS256,ES256"));
        assert!(v.verify(&rs256(&claims(), Some("key-1"))).is_some());
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("key-ec".into());
        let es256 = encode(&header, &claims(), &ec_private).unwrap();
        assert!(v.verify(&es256).is_some());

        let symmetric =
            json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "kid": "k" }] }).to_string();
        let refused = Verifier::new(
            KeyMaterial::Jwks(symmetric),
            None,
            None,
            None,
            "sub".into(),
            "sid".into(),
        );
        assert!(refused.unwrap_err().contains("no key usable"));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let v = Verifier::new(
            KeyMaterial::Secret(SECRET.into()),
            None,
            Some("https://auth.flashback.tech"),
            Some("devices-api"),
            "sub".into(),
            "sid".into(),
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
            None,
            None,
            None,
            "userId".into(),
            "sid".into(),
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
        let new = |material, algorithms| {
            Verifier::new(material, algorithms, None, None, "sub".into(), "sid".into()).unwrap_err()
        };
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
        let new = |url: &str| {
            Verifier::new(
                KeyMaterial::JwksUrl(url.into()),
                Some("RS256"),
                None,
                None,
                "sub".into(),
                "sid".into(),
            )
        };
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

    #[test]
    fn the_header_must_be_exactly_bearer_and_one_token() {
        let request = |values: &[&str]| {
            let mut builder = lambda_http::http::Request::builder();
            for value in values {
                builder = builder.header(AUTHORIZATION, *value);
            }
            builder.body(lambda_http::Body::Empty).unwrap()
        };
        assert_eq!(
            bearer_token(&request(&["Bearer abc.def.ghi"])).unwrap(),
            "abc.def.ghi"
        );
        let code = |values: &[&str]| bearer_token(&request(values)).unwrap_err().code();
        assert_eq!(code(&[]), "MISSING_TOKEN");
        for bad in [
            "bearer a.b.c",
            "Bearer  a.b.c",
            "Bearer a.b.c d",
            "Bearer ",
            "Basic dXNlcg==",
            "a.b.c",
        ] {
            assert_eq!(code(&[bad]), "INVALID_TOKEN", "{bad:?}");
        }
        assert_eq!(code(&["Bearer a.b.c", "Bearer a.b.c"]), "INVALID_TOKEN");
    }
}
