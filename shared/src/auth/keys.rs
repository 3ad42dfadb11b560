//! Key material and key selection: which configured or published keys may verify
//! tokens, and for which algorithms. A key only ever verifies the family it was
//! configured for, and a published set's odd keys are skipped one by one, never the
//! set (docs/configuration.md, `JWT_*`).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::remote::MAX_KEYS;

/// The configured key material (docs/configuration.md): exactly one source.
pub enum KeyMaterial {
    Secret(String),
    PublicKeyPem(String),
    Jwks(String),
    /// Where the provider publishes its JWKS (fetched, see `remote`).
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

    /// The keys held before any fetch, for the pinned `algorithms`: a secret verifies
    /// HS* only, and public keys never do. Published keys come at cold start (`refresh`).
    pub(super) fn into_keys(
        self,
        algorithms: &[Algorithm],
    ) -> Result<Vec<VerificationKey>, String> {
        let symmetric = algorithms.iter().all(is_symmetric);
        let keys = match self {
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
                // Never empty here: shorter than MIN_SECRET_BYTES is refused above.
                let key = DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|error| format!("JWT_SECRET: {error}"))?;
                vec![VerificationKey::any(key)]
            }
            _ if symmetric => {
                return Err(
                    "public keys cannot verify HS* algorithms (check JWT_ALGORITHMS)".into(),
                );
            }
            KeyMaterial::PublicKeyPem(pem) => {
                vec![VerificationKey::any(pem_key(&pem, algorithms)?)]
            }
            KeyMaterial::Jwks(document) => jwks_keys(&document, "JWT_JWKS", algorithms)?,
            // Fetched at cold start (`refresh`), before the first request.
            KeyMaterial::JwksUrl(_) => Vec::new(),
        };
        Ok(keys)
    }
}

/// Minimum HMAC secret length: RFC 7518 §3.2 wants a key at least as long as the hash.
const MIN_SECRET_BYTES: usize = 32;

pub(super) struct VerificationKey {
    pub(super) kid: Option<String>,
    /// The algorithm a JWK pins itself to (its `alg`, or its curve's only one), if any.
    pub(super) alg: Option<Algorithm>,
    pub(super) key: DecodingKey,
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

pub(super) fn is_symmetric(algorithm: &Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
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
pub(super) fn jwks_keys(
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

#[cfg(test)]
mod tests {

    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;
    use crate::auth::Verifier;
    use crate::auth::fixtures::*;

    /// What a closure logs, as JSON lines.
    fn logged<T>(run: impl FnOnce() -> T) -> (T, Vec<serde_json::Value>) {
        crate::runtime::logged_at(tracing_subscriber::filter::LevelFilter::TRACE, run)
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
        let refused = Verifier::new(KeyMaterial::Jwks(symmetric), settings(None));
        assert!(refused.unwrap_err().contains("no key usable"));
    }
}
