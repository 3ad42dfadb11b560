//! What the verifier's and the key selection's tests share: keys, claims, tokens.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use super::{JwtSettings, KeyMaterial, Verifier};

pub const SECRET: &str = "unit-test-secret-unit-test-secret-0123";
pub const RSA_PRIVATE: &str = include_str!("../../testdata/rsa-private.pem");
pub const RSA_PUBLIC: &str = include_str!("../../testdata/rsa-public.pem");
pub const EC_PRIVATE: &str = include_str!("../../testdata/ec-private.pem");

pub fn now() -> i64 {
    crate::domain::now()
}

pub fn claims() -> serde_json::Value {
    json!({ "sub": "alice", "sid": "session-1", "exp": now() + 600 })
}

pub fn hs256(claims: &serde_json::Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

pub fn rs256(claims: &serde_json::Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `sub` and `sid`, the given algorithms, no issuer, audience or type.
pub fn settings(algorithms: Option<&str>) -> JwtSettings {
    JwtSettings {
        algorithms: algorithms.map(str::to_string),
        issuer: None,
        audience: None,
        user_claim: "sub".into(),
        session_claim: "sid".into(),
        typ: None,
    }
}

pub fn verifier(material: KeyMaterial, algorithms: Option<&str>) -> Verifier {
    Verifier::new(material, settings(algorithms)).unwrap()
}

pub fn secret_verifier() -> Verifier {
    verifier(KeyMaterial::Secret(SECRET.into()), None)
}
