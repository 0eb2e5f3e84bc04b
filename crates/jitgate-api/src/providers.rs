//! The `[oidc.NAME]` providers the API accepts tokens from, each with its verifier (which
//! discovers the provider and caches its keys at first use).

use jitgate_config::OidcProvider;
use jitgate_control::Subject;
use jitgate_oidc::flows::PublicClient;
use jitgate_oidc::{OidcError, Verifier};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub struct Provider {
    pub config: OidcProvider,
    verifier: Verifier,
}

/// Why a provider's token did not log anyone in.
pub enum Refusal {
    /// The token itself (or what it says) is not acceptable: the caller's problem.
    Token(String),
    /// The provider could not be asked (discovery or keys): not the caller's fault.
    Unavailable(String),
}

/// What a refresh proved: the subject as the provider sees it now.
pub struct Refreshed {
    pub subject: Subject,
    /// The new ID token's expiry (ms).
    pub valid_until: i64,
    /// A rotated refresh token, if the provider rotates them.
    pub refresh_token: Option<String>,
}

impl Provider {
    /// New tokens for a refresh token jitgate holds, and the subject they prove. `Token` means
    /// the provider no longer vouches for the subject (refresh refused, or what it answered
    /// does not validate: failing closed); `Unavailable` that it could not be asked.
    pub fn refresh(&self, refresh_token: &str) -> Result<Refreshed, Refusal> {
        let unavailable = |e: OidcError| Refusal::Unavailable(e.to_string());
        let client = self.client()?;
        let tokens = client.refresh(refresh_token).map_err(|e| match e {
            OidcError::Refused(why) => Refusal::Token(why),
            other => unavailable(other),
        })?;
        let id_token = tokens.id_token.ok_or_else(|| {
            Refusal::Unavailable("the provider's refresh answer has no ID token".into())
        })?;
        let (subject, valid_until) = self.subject(&id_token, None)?;
        Ok(Refreshed {
            subject,
            valid_until,
            refresh_token: tokens.refresh_token,
        })
    }

    /// A client of this provider (discovering it at first use).
    pub fn client(&self) -> Result<PublicClient, Refusal> {
        let metadata = self
            .verifier
            .metadata()
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        let c = &self.config;
        Ok(PublicClient::new(metadata, &c.client_id, &c.scopes)
            .with_secret(c.client_secret.as_ref().map(|s| s.expose().to_owned())))
    }

    /// Validates `token` and reads the subject from its claims: the name from the username
    /// claim, the groups from the groups claim, mapped. Also the token's expiry (ms).
    pub fn subject(&self, token: &str, nonce: Option<&str>) -> Result<(Subject, i64), Refusal> {
        let verified = self.verifier.verify(token, nonce).map_err(|e| match e {
            OidcError::Refused(why) => Refusal::Token(why),
            other => Refusal::Unavailable(other.to_string()),
        })?;
        let c = &self.config;
        let name = verified
            .string_claim(&c.username_claim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Refusal::Token(format!(
                    "the token has no {} claim to name the subject",
                    c.username_claim
                ))
            })?;
        let groups = c.map_groups(verified.strings_claim(&c.groups_claim));
        let expires_at =
            i64::try_from(verified.expires_at.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok((
            Subject {
                name: name.to_owned(),
                groups,
            },
            expires_at,
        ))
    }
}

#[derive(Default)]
pub struct OidcProviders {
    providers: Vec<Arc<Provider>>,
    /// Held around every use of a stored refresh token: providers that rotate refresh tokens
    /// treat a second use of one as theft, so a renewal and a re-check must not overlap.
    refreshing: Mutex<()>,
}

impl OidcProviders {
    pub fn new(configs: &[OidcProvider]) -> OidcProviders {
        OidcProviders {
            providers: configs
                .iter()
                .map(|c| {
                    Arc::new(Provider {
                        verifier: Verifier::new(&c.issuer, &c.client_id, &c.audiences),
                        config: c.clone(),
                    })
                })
                .collect(),
            refreshing: Mutex::new(()),
        }
    }

    /// The lock around uses of stored refresh tokens.
    pub fn refreshing(&self) -> MutexGuard<'_, ()> {
        self.refreshing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How often groups are re-read: a quarter of the shortest `session_ttl`, between 1 s and
    /// 1 min; `None` without providers.
    pub fn recheck_interval(&self) -> Option<Duration> {
        self.all()
            .map(|p| p.session_ttl / 4)
            .min()
            .map(|d| d.clamp(Duration::from_secs(1), Duration::from_secs(60)))
    }

    pub fn get(&self, name: &str) -> Option<Arc<Provider>> {
        self.providers
            .iter()
            .find(|p| p.config.name == name)
            .cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &OidcProvider> {
        self.providers.iter().map(|p| &p.config)
    }
}
