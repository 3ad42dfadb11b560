//! Proofs of possession (DPoP, RFC 9449): a session registered with a proof is bound
//! to the device key that signed it, and every request of that session must carry a
//! fresh proof by the same key (docs/device-binding.md). This module checks one proof
//! against one request, without I/O; that a proof is used once is the store's
//! (`Store::remember_proof`), and that the key is the session's, the guard's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use lambda_http::Request;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::Epoch;
use crate::error::{AuthFailure, Error};

/// The request header that carries the proof.
pub const HEADER: &str = "dpop";

/// The algorithms a proof may be signed with, as `WWW-Authenticate` lists them.
pub const ALGORITHMS: &str = "ES256 EdDSA";

/// How far a proof's `iat` may be from the server's clock, either way: older proofs
/// are refused, and a proof's `jti` is remembered this long past its `iat`, so it
/// can be accepted at most once.
pub const WINDOW_SECONDS: i64 = 300;

/// Proofs longer than this are refused before any parsing.
const MAX_PROOF_BYTES: usize = 4 * 1024;

/// The response header that hands the client the nonce its next proofs must carry.
pub const NONCE_HEADER: &str = "dpop-nonce";

/// How long one nonce is issued for; it is accepted for that period and the next, so
/// for one to two periods (RFC 9449 §9).
pub const NONCE_PERIOD_SECONDS: i64 = 60;

/// The deployment's key for server nonces (`DPOP_NONCE=on`; docs/device-binding.md
/// "Nonces"): a nonce is its period and a MAC of it, so any instance checks any
/// other's without storing anything.
#[derive(Clone)]
pub struct NonceKey([u8; 32]);

impl NonceKey {
    /// A key from secret material (one-way: it tells nothing of the material).
    pub fn derive(material: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"flashback-dpop-nonce-key")
            .expect("HMAC takes a key of any length");
        mac.update(material);
        NonceKey(mac.finalize().into_bytes().into())
    }

    /// The nonce for the period `now` falls in: base64url of the period (8 bytes, big
    /// endian) and the first 16 bytes of its MAC.
    pub fn issue(&self, now: Epoch) -> String {
        let period = now.div_euclid(NONCE_PERIOD_SECONDS).to_be_bytes();
        let tag = self.mac(&period).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode([&period[..], &tag[..16]].concat())
    }

    /// Whether `nonce` was issued for the period `now` falls in or the one before
    /// (its MAC compared in constant time).
    pub fn accepts(&self, nonce: Option<&str>, now: Epoch) -> bool {
        let Some(bytes) = nonce.and_then(|nonce| URL_SAFE_NO_PAD.decode(nonce).ok()) else {
            return false;
        };
        let Some((period, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let current = now.div_euclid(NONCE_PERIOD_SECONDS);
        (current - 1..=current).contains(&i64::from_be_bytes(*period))
            && tag.len() == 16
            && self.mac(period).verify_truncated_left(tag).is_ok()
    }

    fn mac(&self, period: &[u8; 8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"flashback dpop nonce v1\0");
        mac.update(period);
        mac
    }
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// The request a proof must be for: its method and the URL the client called,
/// without query or fragment (`htm`, `htu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub method: String,
    pub url: String,
}

impl Target {
    /// The method and URL of `request`: `public_base` (`PUBLIC_BASE_URL`, for a proxy
    /// or custom domain in front) and the request's path, or the URL the request
    /// names itself.
    pub fn of(request: &Request, public_base: Option<&str>) -> Self {
        let uri = request.uri();
        let url = match public_base {
            Some(base) => format!("{}{}", base.trim_end_matches('/'), uri.path()),
            None => match (uri.scheme_str(), uri.authority()) {
                (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
                _ => uri.path().to_string(),
            },
        };
        Target {
            method: request.method().as_str().to_string(),
            url,
        }
    }
}

/// A proof that passed every check but the single use: who signed it (the RFC 7638
/// SHA-256 thumbprint of its key), and what to remember it by and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub thumbprint: String,
    /// SHA-256 of the `jti`, hex: fixed-size whatever the client sent.
    pub jti: String,
    /// Until when it could be accepted: when the memory of it may go.
    pub usable_until: Epoch,
    /// The server nonce it carries, if any (checked by the caller when nonces are on).
    pub nonce: Option<String>,
}

/// The one `DPoP` header of `request`, if any; two, or not text, is an invalid proof.
pub fn header(request: &Request) -> Result<Option<&str>, Error> {
    let mut values = request.headers().get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    value.to_str().map(Some).map_err(|_| invalid())
}

/// 401 `INVALID_DPOP_PROOF`: the same for every check that fails.
pub fn invalid() -> Error {
    Error::Unauthorized(AuthFailure::InvalidProof)
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: String,
    #[serde(default)]
    nonce: Option<String>,
}

/// Checks `proof` (RFC 9449 §4.3) for `target` and the access `token` it is sent
/// with, at `now`: `typ` `dpop+jwt`, an allowed algorithm, a public key of that
/// algorithm in `jwk` (no private member), a valid signature by it, `htm` and `htu`
/// the request's, `iat` within [`WINDOW_SECONDS`], `ath` the token's hash. `None`
/// for any failure: the caller learns nothing about which check failed.
pub fn verify(proof: &str, token: &str, target: &Target, now: Epoch) -> Option<Proof> {
    if proof.len() > MAX_PROOF_BYTES {
        return None;
    }
    let header: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(proof.split('.').next()?).ok()?).ok()?;
    if header.get("typ")?.as_str()? != "dpop+jwt" {
        return None;
    }
    let algorithm = match header.get("alg")?.as_str()? {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    };
    let jwk = header.get("jwk")?.as_object()?;
    let curve = (jwk.get("kty")?.as_str()?, jwk.get("crv")?.as_str()?);
    let key_fits = match algorithm {
        Algorithm::ES256 => curve == ("EC", "P-256"),
        _ => curve == ("OKP", "Ed25519"),
    };
    // A private key in the header means the client's key is not private any more.
    let private = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if !key_fits || private.iter().any(|member| jwk.contains_key(*member)) {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone())).ok()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = decode::<Claims>(proof, &key, &validation).ok()?.claims;

    let fresh = now
        .checked_sub(claims.iat)
        .is_some_and(|age| (-WINDOW_SECONDS..=WINDOW_SECONDS).contains(&age));
    let for_this_request = claims.htm == target.method
        && normalized(&claims.htu).is_some_and(|htu| Some(htu) == normalized(&target.url));
    let for_this_token = claims.ath == access_token_hash(token);
    if !(fresh && for_this_request && for_this_token) || claims.jti.is_empty() {
        return None;
    }
    Some(Proof {
        thumbprint: jwk.thumbprint(ThumbprintHash::SHA256).ok()?,
        jti: hex::encode(Sha256::digest(claims.jti.as_bytes())),
        usable_until: claims.iat + WINDOW_SECONDS,
        nonce: claims.nonce,
    })
}

/// `ath`: base64url of the SHA-256 of the access token (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A URL as RFC 9449 §4.3 compares `htu`: without query and fragment, scheme and host
/// in lower case, the scheme's default port left out. `None` if it is not an
/// `http(s)` URL.
fn normalized(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_string(),
        ("https" | "http", _) => authority,
        _ => return None,
    };
    let path = if path.is_empty() { "/" } else { path };
    Some(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const EC_PRIVATE: &str = include_str!("../../testdata/ec-private.pem");
    const ED_PRIVATE: &str = include_str!("../../testdata/ed25519-private.pem");
    const TOKEN: &str = "header.payload.signature";
    const NOW: Epoch = 1_800_000_000;

    fn target() -> Target {
        Target {
            method: "GET".into(),
            url: "https://api.example.com/devices".into(),
        }
    }

    fn claims() -> Value {
        json!({ "jti": "j-1", "htm": "GET", "htu": "https://api.example.com/devices",
                "iat": NOW, "ath": access_token_hash(TOKEN) })
    }

    fn signed(key: &EncodingKey, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(Jwk::from_encoding_key(key, alg).unwrap());
        encode(&header, claims, key).unwrap()
    }

    fn es256(claims: &Value) -> String {
        let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
        signed(&key, Algorithm::ES256, claims)
    }

    /// A proof with this header (as JSON) over `claims`, signed with the EC key.
    fn with_header(header: &Value, claims: &Value) -> String {
        let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::ES256).unwrap();
        format!("{signing_input}.{signature}")
    }

    fn public_jwk() -> Value {
        let proof = es256(&claims());
        let header = URL_SAFE_NO_PAD
            .decode(proof.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["jwk"].clone()
    }

    #[test]
    fn a_proof_for_this_request_and_token_names_its_key() {
        let proof = verify(&es256(&claims()), TOKEN, &target(), NOW).expect("valid");
        assert_eq!(proof.thumbprint.len(), 43, "base64url of 32 bytes");
        assert_eq!(proof.usable_until, NOW + WINDOW_SECONDS);
        let ed = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap();
        let eddsa = signed(&ed, Algorithm::EdDSA, &claims());
        let other = verify(&eddsa, TOKEN, &target(), NOW).expect("EdDSA is accepted");
        assert_ne!(other.thumbprint, proof.thumbprint);
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 §3.1's members in order, hashed: computed here independently.
        let jwk = public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let proof = verify(&es256(&claims()), TOKEN, &target(), NOW).unwrap();
        assert_eq!(proof.thumbprint, expected);
    }

    #[test]
    fn each_claim_must_match_the_request() {
        let refused = |change: (&str, Value)| {
            let mut claims = claims();
            claims[change.0] = change.1;
            verify(&es256(&claims), TOKEN, &target(), NOW)
        };
        assert!(refused(("htm", json!("POST"))).is_none(), "another method");
        assert!(refused(("htu", json!("https://api.example.com/sessions"))).is_none());
        assert!(refused(("htu", json!("https://evil.example/devices"))).is_none());
        assert!(
            refused(("iat", json!(NOW - 600))).is_none(),
            "10 minutes old"
        );
        assert!(
            refused(("iat", json!(NOW + 600))).is_none(),
            "10 minutes ahead"
        );
        assert!(refused(("iat", json!(i64::MIN))).is_none(), "no overflow");
        assert!(refused(("ath", json!(access_token_hash("another.token.x")))).is_none());
        assert!(refused(("jti", json!(""))).is_none());
        for missing in ["jti", "htm", "htu", "iat", "ath"] {
            let mut claims = claims();
            claims.as_object_mut().unwrap().remove(missing);
            assert!(
                verify(&es256(&claims), TOKEN, &target(), NOW).is_none(),
                "{missing}"
            );
        }
        // Within the window, and the URL compared as RFC 9449 §4.3 says.
        assert!(refused(("iat", json!(NOW - 290))).is_some());
        assert!(refused(("htu", json!("HTTPS://API.example.com:443/devices?x=1#f"))).is_some());
    }

    #[test]
    fn only_a_public_key_of_an_allowed_algorithm_signs() {
        let jwk = public_jwk();
        let header =
            |alg: &str, typ: &str, jwk: &Value| json!({ "alg": alg, "typ": typ, "jwk": jwk });
        // The helper's own output passes: the refusals below are the changes alone.
        assert!(
            verify(
                &with_header(&header("ES256", "dpop+jwt", &jwk), &claims()),
                TOKEN,
                &target(),
                NOW
            )
            .is_some()
        );
        let typ = with_header(&header("ES256", "JWT", &jwk), &claims());
        assert!(verify(&typ, TOKEN, &target(), NOW).is_none(), "another typ");
        let mut private = jwk.clone();
        private["d"] = json!("c2VjcmV0");
        let private = with_header(&header("ES256", "dpop+jwt", &private), &claims());
        assert!(
            verify(&private, TOKEN, &target(), NOW).is_none(),
            "private key"
        );
        let no_key = with_header(&json!({ "alg": "ES256", "typ": "dpop+jwt" }), &claims());
        assert!(verify(&no_key, TOKEN, &target(), NOW).is_none(), "no jwk");
        // alg none: no signature at all.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header("none", "dpop+jwt", &jwk).to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert!(verify(&none, TOKEN, &target(), NOW).is_none(), "alg none");
        // HS256 keyed with the public key's text.
        let hs = encode(
            &Header {
                typ: Some("dpop+jwt".into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(),
            &EncodingKey::from_secret(jwk.to_string().as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(verify(&hs, TOKEN, &target(), NOW).is_none(), "HS256");
        // Signed by another key than the one in the header.
        let mut forged: Vec<&str> = es256(&claims()).leak().split('.').collect();
        let ed = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap();
        let other = signed(&ed, Algorithm::EdDSA, &claims());
        forged[2] = other.split('.').nth(2).unwrap();
        assert!(
            verify(&forged.join("."), TOKEN, &target(), NOW).is_none(),
            "bad signature"
        );
        assert!(verify(&"x".repeat(MAX_PROOF_BYTES + 1), TOKEN, &target(), NOW).is_none());
        assert!(verify("a.b.c", TOKEN, &target(), NOW).is_none());
    }

    #[test]
    fn a_nonce_is_accepted_for_its_period_and_the_next_only() {
        let key = NonceKey::derive(b"deployment secret");
        let start = NOW - NOW.rem_euclid(NONCE_PERIOD_SECONDS);
        let nonce = key.issue(start);
        assert_eq!(nonce.len(), 32);
        assert_eq!(
            key.issue(start + NONCE_PERIOD_SECONDS - 1),
            nonce,
            "one per period"
        );
        for (at, accepted) in [
            (start - 1, false),
            (start, true),
            (start + 2 * NONCE_PERIOD_SECONDS - 1, true),
            (start + 2 * NONCE_PERIOD_SECONDS, false),
        ] {
            assert_eq!(key.accepts(Some(&nonce), at), accepted, "{}", at - start);
        }
        let other = NonceKey::derive(b"another deployment");
        assert!(!other.accepts(Some(&nonce), start));
        for bad in [None, Some(""), Some("not base64!"), Some(&nonce[..20])] {
            assert!(!key.accepts(bad, start), "{bad:?}");
        }
    }

    #[test]
    fn urls_compare_as_rfc_9449_says() {
        assert_eq!(
            normalized("http://127.0.0.1:9000/devices").unwrap(),
            "http://127.0.0.1:9000/devices"
        );
        assert_eq!(
            normalized("https://A.example:443").unwrap(),
            "https://a.example/"
        );
        assert_ne!(
            normalized("https://a.example/Devices"),
            normalized("https://a.example/devices")
        );
        assert!(normalized("ftp://a.example/").is_none());
        assert!(normalized("/devices").is_none());
    }
}
