//! Authentication: the Bearer header and the JWT it carries (RFC 6750, RFC 8725).
//!
//! Algorithms are pinned by configuration and a key only ever verifies the family
//! it was configured for, so `alg: none` and HS/RS confusion are refused by
//! construction. Whether the token's *session* is still alive is not decided here
//! but in the store, on every request (see `store::Store::guard`).

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;
use serde_json::{Map, Value};

use crate::domain::{SessionId, UserId};
use crate::error::{AuthFailure, Error};

/// Tokens longer than this are refused before any parsing (RFC 8725 §3.1: bound the work).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// Who is calling: the user and the session named by a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// The configured key material (DESIGN §5): exactly one source.
pub enum KeyMaterial {
    Secret(String),
    PublicKeyPem(String),
    Jwks(String),
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
        if jwks_url.is_some() {
            return Err("JWT_JWKS_URL is not supported by this build: put the JWKS document itself in JWT_JWKS".into());
        }
        match (secret, public_key_pem, jwks) {
            (Some(secret), None, None) => Ok(KeyMaterial::Secret(secret)),
            (None, Some(pem), None) => Ok(KeyMaterial::PublicKeyPem(pem)),
            (None, None, Some(document)) => Ok(KeyMaterial::Jwks(document)),
            (None, None, None) => {
                Err("one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS is required".into())
            }
            _ => Err("set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS".into()),
        }
    }
}

/// Minimum HMAC secret length: RFC 7518 §3.2 wants a key at least as long as the hash.
const MIN_SECRET_BYTES: usize = 32;

struct VerificationKey {
    kid: Option<String>,
    /// The algorithm a JWK pins itself to, if it does.
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
    keys: Vec<VerificationKey>,
    validation: Validation,
    user_claim: String,
    session_claim: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Verifier")
            .field("keys", &self.keys.len())
            .field("algorithms", &self.validation.algorithms)
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
            KeyMaterial::Jwks(document) => jwks_keys(&document)?,
        };

        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
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
            keys,
            validation,
            user_claim,
            session_claim,
        })
    }

    /// Reads the caller's identity from the `Authorization` header.
    pub fn authenticate(&self, request: &Request) -> Result<Identity, Error> {
        let token = bearer_token(request)?;
        self.verify(token)
            .ok_or(Error::Unauthorized(AuthFailure::InvalidToken))
    }

    /// Verifies signature, algorithm, time and issuer/audience, then reads the
    /// configured user and session claims. `None` for any failure: the caller
    /// learns nothing about which check failed.
    pub fn verify(&self, token: &str) -> Option<Identity> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = decode_header(token).ok()?;
        if !self.validation.algorithms.contains(&header.alg) {
            return None;
        }
        let candidates = self.keys.iter().filter(|k| {
            k.alg.is_none_or(|alg| alg == header.alg)
                && match (&header.kid, &k.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        for candidate in candidates {
            if let Ok(data) = decode::<Map<String, Value>>(token, &candidate.key, &self.validation)
            {
                let claim = |name: &str| data.claims.get(name).and_then(Value::as_str);
                let user_id = UserId::parse(claim(&self.user_claim)?).ok()?;
                let session_id = SessionId::parse(claim(&self.session_claim)?).ok()?;
                return Some(Identity {
                    user_id,
                    session_id,
                });
            }
        }
        None
    }
}

fn jwks_keys(document: &str) -> Result<Vec<VerificationKey>, String> {
    let set: JwkSet = serde_json::from_str(document)
        .map_err(|e| format!("JWT_JWKS is not a JWKS document: {e}"))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        // A symmetric key inside a JWKS would let anyone holding the public
        // document forge tokens: only asymmetric keys are taken.
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err("JWT_JWKS must hold public keys only (found kty \"oct\")".into());
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| format!("JWT_JWKS holds an unusable key: {e}"))?;
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse::<Algorithm>().ok());
        keys.push(VerificationKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err("JWT_JWKS holds no keys".into());
    }
    Ok(keys)
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
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or(Error::Unauthorized(AuthFailure::Missing))?;
    let malformed = Error::Unauthorized(AuthFailure::Malformed);
    if values.next().is_some() {
        return Err(malformed);
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(malformed)?;
    let token_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if token.is_empty() || !token.chars().all(token_chars) {
        return Err(Error::Unauthorized(AuthFailure::Malformed));
    }
    Ok(token)
}
