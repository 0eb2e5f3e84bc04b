//! Token validation against keys made here: what passes, and each way a token is refused.

use crate::{KeyCache, OidcError, Verifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const ISSUER: &str = "https://idp.example";

struct Signer {
    key: EncodingKey,
    jwk: Value,
}

/// An ES256 key pair with its public JWK under `kid`.
fn signer(kid: &str) -> Signer {
    let pair = rcgen::KeyPair::generate().expect("key pair");
    let point = pair.public_key_raw();
    assert_eq!(point.len(), 65, "uncompressed P-256 point");
    Signer {
        key: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "jitgate", "sub": "u1", "exp": now() + 300, "iat": now(),
           "preferred_username": "alice", "groups": ["analysts"], "nonce": "n1"})
}

fn sign(signer: &Signer, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    encode(&header, claims, &signer.key).expect("sign")
}

fn verifier(keys: &[&Signer]) -> Verifier {
    let jwks = json!({"keys": keys.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>()});
    Verifier::with_keys(
        ISSUER,
        "jitgate",
        &["jitgate".into()],
        KeyCache::fixed(&jwks),
    )
}

fn refused(result: Result<crate::VerifiedToken, OidcError>) -> String {
    match result {
        Err(OidcError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_valid_token_passes_with_its_claims() {
    let k1 = signer("k1");
    let token = sign(&k1, "k1", &claims());
    let verified = verifier(&[&k1]).verify(&token, Some("n1")).expect("valid");
    assert_eq!(verified.string_claim("preferred_username"), Some("alice"));
    assert_eq!(verified.strings_claim("groups"), ["analysts"]);
    assert!(verified.expires_at > now());
}

#[test]
fn expiry_audience_issuer_and_nonce_are_checked() {
    let k1 = signer("k1");
    let v = verifier(&[&k1]);
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        sign(&k1, "k1", &c)
    };
    assert_eq!(
        refused(v.verify(&with("exp", json!(now() - 120)), None)),
        "the token has expired"
    );
    // Within the leeway a just-expired token still passes.
    assert!(v.verify(&with("exp", json!(now() - 5)), None).is_ok());
    assert_eq!(
        refused(v.verify(&with("aud", json!("someone-else")), None)),
        "the token is for another audience"
    );
    assert_eq!(
        refused(v.verify(&with("iss", json!("https://evil.example")), None)),
        "the token is from another issuer"
    );
    assert_eq!(
        refused(v.verify(&sign(&k1, "k1", &claims()), Some("other"))),
        "the nonce does not match this login"
    );
    let mut several = claims();
    several["aud"] = json!(["jitgate", "other-app"]);
    several["azp"] = json!("other-app");
    assert_eq!(
        refused(v.verify(&sign(&k1, "k1", &several), None)),
        "the token was issued to another client"
    );
}

#[test]
fn forged_tokens_are_refused() {
    let k1 = signer("k1");
    let v = verifier(&[&k1]);
    let token = sign(&k1, "k1", &claims());
    // Tampered payload: more groups, same signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut c = claims();
    c["groups"] = json!(["admins"]);
    parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
    assert_eq!(
        refused(v.verify(&parts.join("."), None)),
        "the signature does not verify"
    );
    // Signed by a key the provider does not publish, under the provider's key id.
    let mallory = signer("k1");
    assert_eq!(
        refused(v.verify(&sign(&mallory, "k1", &claims()), None)),
        "the signature does not verify"
    );
    // alg none, and HS256 keyed with anything (the classic: the provider's public key).
    let unsigned = |alg: &str| {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string());
        format!(
            "{header}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims().to_string())
        )
    };
    assert!(refused(v.verify(&unsigned("none"), None)).contains("not a signed JWT"));
    assert!(refused(v.verify(&unsigned("HS256"), None)).contains("HS256"));
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(k1.jwk.to_string().as_bytes()),
    )
    .expect("sign");
    assert!(refused(v.verify(&hs, None)).contains("not allowed"));
    assert!(refused(v.verify("garbage", None)).contains("not a signed JWT"));
}

#[test]
fn unknown_keys_and_symmetric_keys_in_the_set_are_not_used() {
    let k1 = signer("k1");
    let k2 = signer("k2");
    let v = verifier(&[&k1]);
    assert!(refused(v.verify(&sign(&k2, "k2", &claims()), None)).contains("does not publish"));
    // An `oct` key in the published set must never verify anything.
    let jwks = json!({"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}, k1.jwk.clone()]});
    let v = Verifier::with_keys(
        ISSUER,
        "jitgate",
        &["jitgate".into()],
        KeyCache::fixed(&jwks),
    );
    assert!(v.verify(&sign(&k1, "k1", &claims()), None).is_ok());
}
