//! A provider's signing keys (`jwks_uri`), cached. A token naming a key the cache does not know
//! makes one refetch — the provider has rotated its keys — but at most one per
//! [`REFETCH_INTERVAL`], so a stream of tokens with made-up key ids cannot turn jitgate into a
//! load generator against the provider. Keys older than [`MAX_KEY_AGE`] are fetched again, so
//! a key the provider withdraws stops verifying too.

use crate::http;
use crate::OidcError;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two refetches caused by unknown key ids.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys are fetched again after this even when every token names a known one: a key the
/// provider withdrew (compromised, retired early) must stop verifying without a restart.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

pub struct KeyCache {
    /// None for a fixed key set (tests).
    jwks_uri: Option<String>,
    agent: ureq::Agent,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Vec<Jwk>,
    /// When the keys were last fetched (or a fetch last failed); None before the first.
    fetched_at: Option<Instant>,
    /// When an unknown key id last caused a refetch.
    last_refetch: Option<Instant>,
}

impl KeyCache {
    /// Keys fetched from `jwks_uri` at first use.
    pub fn new(jwks_uri: &str) -> KeyCache {
        KeyCache {
            jwks_uri: Some(jwks_uri.to_owned()),
            agent: http::agent(),
            state: Mutex::new(State::default()),
        }
    }

    /// A fixed key set, never refetched.
    pub fn fixed(jwks: &Value) -> KeyCache {
        KeyCache {
            jwks_uri: None,
            agent: http::agent(),
            state: Mutex::new(State {
                keys: parse_keys(jwks),
                fetched_at: Some(Instant::now()),
                last_refetch: None,
            }),
        }
    }

    /// The signature keys that could have signed a token with this key id (all signature keys
    /// when the token names none). Refetches once when the id is unknown.
    pub fn candidates(&self, kid: Option<&str>) -> Result<Vec<Jwk>, OidcError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| OidcError::Provider("key cache poisoned".into()))?;
        match state.fetched_at {
            None => {
                state.keys = self.fetch()?;
                state.fetched_at = Some(Instant::now());
            }
            Some(at) if self.jwks_uri.is_some() && at.elapsed() >= MAX_KEY_AGE => {
                // Stale: fetch again. If the provider is down, the known keys serve a little
                // longer rather than failing every login; the next try is soon.
                match self.fetch() {
                    Ok(keys) => {
                        state.keys = keys;
                        state.fetched_at = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::warn!("refreshing the provider's signing keys: {e}");
                        state.fetched_at =
                            Instant::now().checked_sub(MAX_KEY_AGE - REFETCH_INTERVAL);
                    }
                }
            }
            Some(_) => {}
        }
        let found = matching(&state.keys, kid);
        if !found.is_empty() || self.jwks_uri.is_none() {
            return Ok(found);
        }
        let due = state
            .last_refetch
            .is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL);
        if !due {
            return Ok(found);
        }
        state.last_refetch = Some(Instant::now());
        tracing::info!("signing key {kid:?} unknown; fetching the provider's keys again");
        state.keys = self.fetch()?;
        state.fetched_at = Some(Instant::now());
        Ok(matching(&state.keys, kid))
    }

    fn fetch(&self) -> Result<Vec<Jwk>, OidcError> {
        let Some(uri) = &self.jwks_uri else {
            return Ok(Vec::new());
        };
        Ok(parse_keys(&http::get_json(&self.agent, uri)?))
    }
}

fn matching(keys: &[Jwk], kid: Option<&str>) -> Vec<Jwk> {
    keys.iter()
        .filter(|k| kid.is_none() || k.common.key_id.as_deref() == kid)
        .cloned()
        .collect()
}

/// The asymmetric signature keys of a JWK set. Keys jitgate cannot use (encryption keys,
/// unknown types, symmetric `oct` keys — a provider's public key set must never make an HMAC
/// secret) are skipped one by one rather than failing the whole set.
fn parse_keys(jwks: &Value) -> Vec<Jwk> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| {
            !matches!(k.algorithm, AlgorithmParameters::OctetKey(_))
                && !matches!(k.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature)
        })
        .collect()
}
