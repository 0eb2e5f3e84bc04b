//! Token validation: everything OpenID Connect Core §3.1.3.7 asks of an ID token that applies
//! to a token presented to jitgate, and the same for JWT access tokens.

use crate::discovery::{discover, Metadata};
use crate::jwks::KeyCache;
use crate::OidcError;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// Only asymmetric algorithms: with `none` anyone could mint tokens, and with HS* the
/// provider's *public* key would become the HMAC secret.
pub const ALLOWED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Clock difference tolerated between jitgate and the provider for `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: Map<String, Value>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

impl VerifiedToken {
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A claim holding a list of strings, or a single string; anything else gives nothing.
    pub fn strings_claim(&self, name: &str) -> Vec<&str> {
        match self.claims.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            _ => Vec::new(),
        }
    }
}

/// Checks tokens of one provider for one set of audiences. Discovery happens at first use and
/// is retried at the next if the provider was unreachable, so jitgate starts without it.
pub struct Verifier {
    issuer: String,
    audiences: Vec<String>,
    client_id: String,
    discovered: Mutex<Option<Discovered>>,
}

/// What discovery found, kept for the process's life (keys refresh themselves).
#[derive(Clone)]
struct Discovered {
    metadata: Option<Metadata>,
    keys: Arc<KeyCache>,
}

impl Verifier {
    pub fn new(issuer: &str, client_id: &str, audiences: &[String]) -> Verifier {
        Verifier {
            issuer: issuer.to_owned(),
            audiences: audiences.to_vec(),
            client_id: client_id.to_owned(),
            discovered: Mutex::new(None),
        }
    }

    /// A verifier with known keys and no discovery (tests, and providers without it).
    pub fn with_keys(issuer: &str, client_id: &str, audiences: &[String], keys: KeyCache) -> Self {
        let verifier = Verifier::new(issuer, client_id, audiences);
        if let Ok(mut slot) = verifier.discovered.lock() {
            *slot = Some(Discovered {
                metadata: None,
                keys: Arc::new(keys),
            });
        }
        verifier
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn discovered(&self) -> Result<Discovered, OidcError> {
        let mut slot = self
            .discovered
            .lock()
            .map_err(|_| OidcError::Provider("verifier poisoned".into()))?;
        if let Some(found) = slot.as_ref() {
            return Ok(found.clone());
        }
        let metadata = discover(&self.issuer)?;
        let found = Discovered {
            keys: Arc::new(KeyCache::new(&metadata.jwks_uri)),
            metadata: Some(metadata),
        };
        *slot = Some(found.clone());
        Ok(found)
    }

    /// The provider's metadata (discovered at first use): its token endpoint, for refreshes.
    pub fn metadata(&self) -> Result<Metadata, OidcError> {
        self.discovered()?
            .metadata
            .ok_or_else(|| OidcError::Provider(format!("{} was not discovered", self.issuer)))
    }

    /// Validates `token` fully; with `nonce`, its `nonce` claim must be exactly that.
    pub fn verify(&self, token: &str, nonce: Option<&str>) -> Result<VerifiedToken, OidcError> {
        let refused = |why: &str| OidcError::Refused(why.to_owned());
        if token.len() > MAX_TOKEN_BYTES {
            return Err(refused("the token is too long"));
        }
        // An unknown `alg` such as "none" does not even parse into a header.
        let header = decode_header(token).map_err(|_| {
            refused("not a signed JWT with an allowed algorithm (RS*, PS*, ES256/384, EdDSA)")
        })?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(OidcError::Refused(format!(
                "algorithm {:?} is not allowed; only asymmetric signatures are",
                header.alg
            )));
        }
        let candidates = self.discovered()?.keys.candidates(header.kid.as_deref())?;
        if candidates.is_empty() {
            return Err(OidcError::Refused(format!(
                "signed with key {:?}, which the provider does not publish",
                header.kid.as_deref().unwrap_or("(none named)")
            )));
        }
        let mut last = refused("no published key fits the token's algorithm");
        for jwk in candidates.iter().filter(|k| key_allows(k, header.alg)) {
            match self.check_with(token, header.alg, jwk) {
                Ok(verified) => return self.check_rest(verified, nonce),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn check_with(
        &self,
        token: &str,
        alg: Algorithm,
        jwk: &Jwk,
    ) -> Result<VerifiedToken, OidcError> {
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| OidcError::Provider(format!("unusable signing key: {e}")))?;
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            OidcError::Refused(
                match e.kind() {
                    K::InvalidSignature => "the signature does not verify",
                    K::ExpiredSignature => "the token has expired",
                    K::ImmatureSignature => "the token is not valid yet",
                    K::InvalidAudience => "the token is for another audience",
                    K::InvalidIssuer => "the token is from another issuer",
                    K::MissingRequiredClaim(_) => "the token lacks exp, iss, aud or sub",
                    K::InvalidAlgorithm => "the token's algorithm does not fit the key",
                    _ => "the token is malformed",
                }
                .to_owned(),
            )
        })?;
        let expires_at = data
            .claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| OidcError::Refused("exp is not a number".into()))?;
        Ok(VerifiedToken {
            claims: data.claims,
            expires_at,
        })
    }

    /// Checks that need the claims: the authorised party and the nonce.
    fn check_rest(
        &self,
        verified: VerifiedToken,
        nonce: Option<&str>,
    ) -> Result<VerifiedToken, OidcError> {
        // Core §3.1.3.7 (5): with several audiences, `azp` says who the token was issued to.
        if let Some(azp) = verified.string_claim("azp") {
            let several =
                matches!(verified.claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
            if several && azp != self.client_id && !self.audiences.iter().any(|a| a == azp) {
                return Err(OidcError::Refused(
                    "the token was issued to another client".into(),
                ));
            }
        }
        if let Some(expected) = nonce {
            if verified.string_claim("nonce") != Some(expected) {
                return Err(OidcError::Refused(
                    "the nonce does not match this login".into(),
                ));
            }
        }
        Ok(verified)
    }
}

/// Whether a published key may check a signature with `alg`: its declared algorithm (if any)
/// must be that one. The key type is checked again when the signature is.
fn key_allows(jwk: &Jwk, alg: Algorithm) -> bool {
    match jwk.common.key_algorithm {
        // The two enums name the JOSE algorithms alike ("RS256", …); the key's has more (the
        // encryption ones), which never equal a signature algorithm.
        Some(declared) => format!("{declared:?}") == format!("{alg:?}"),
        None => true,
    }
}
