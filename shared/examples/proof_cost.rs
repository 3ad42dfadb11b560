//! The cost of checking one DPoP proof (`auth::dpop::verify`: parsing, the ES256
//! signature, the claims), beside the cost of verifying one HS256 access token
//! (`Verifier::verify`) in the same process: `make bench` runs it and keeps both in
//! `target/bench/results.json` (docs/PERFORMANCE.md, "Device-bound sessions").
//!
//!     cargo run --release -p shared --example proof_cost [ITERATIONS]
//!
//! Prints one JSON object: microseconds per check, median of five rounds.

use std::time::Instant;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use shared::auth::dpop::{self, Target};
use shared::auth::{JwtSettings, KeyMaterial, Verifier};

const SECRET: &str = "proof-cost-secret-proof-cost-secret-0123";
const EC_PRIVATE: &str = include_str!("../testdata/ec-private.pem");

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .map_or(2_000, |n| n.parse().expect("ITERATIONS is a number"));
    let now = shared::domain::now();
    let token = encode(
        &Header::default(),
        &json!({ "sub": "alice", "sid": "s-1", "exp": now + 600, "iat": now }),
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    let settings = JwtSettings {
        algorithms: None,
        issuer: None,
        audience: None,
        user_claim: "sub".into(),
        session_claim: "sid".into(),
        typ: None,
    };
    let verifier = Verifier::new(KeyMaterial::Secret(SECRET.into()), settings).unwrap();

    let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap());
    let target = Target {
        method: "GET".into(),
        url: "https://api.example.com/devices".into(),
    };
    let claims = json!({ "jti": "j-1", "htm": "GET", "htu": target.url, "iat": now,
                         "ath": dpop::access_token_hash(&token) });
    let proof = encode(&header, &claims, &key).unwrap();

    let per_check = |check: &dyn Fn() -> bool| {
        let mut rounds: Vec<f64> = (0..5)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..iterations {
                    assert!(check());
                }
                started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        rounds[2]
    };
    let token_us = per_check(&|| verifier.verify(&token).is_some());
    let proof_us = per_check(&|| dpop::verify(&proof, &token, &target, now).is_some());
    println!(
        "{}",
        json!({
            "iterations": iterations,
            "access_token_verify_us": (token_us * 1e3).round() / 1e3,
            "proof_verify_us": (proof_us * 1e3).round() / 1e3,
            "ratio": (proof_us / token_us * 100.0).round() / 100.0,
        })
    );
}
