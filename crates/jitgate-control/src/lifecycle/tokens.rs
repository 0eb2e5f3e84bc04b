//! Logging in to the HTTP API: passwords checked by the identity provider, tokens handed out
//! once and stored only as their SHA-256.

use super::checks;
use super::LifecycleError;
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::identity::{IdentityError, Subject};
use crate::model::{ApiToken, Millis};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A successful login: who, and the token to present (`Authorization: Bearer …`).
#[derive(Debug, Clone)]
pub struct Login {
    pub subject: Subject,
    pub token: String,
    pub expires_at: Millis,
}

/// Tokens start with this, so that a leaked one is recognisable (and greppable) as jitgate's.
const TOKEN_PREFIX: &str = "jgt_";
/// Longest user name or password looked at; longer ones cannot be right.
const MAX_LOGIN_CHARS: usize = 1024;

/// Lowercase hex SHA-256 of the token text: what the store keeps.
pub(super) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ControlPlane {
    /// Checks a user name and password with the identity provider and issues a token. A failure
    /// is audited as `login.failed` (which failed-login alerts count) and reported without
    /// saying whether the user exists.
    pub fn login(
        &self,
        user: &str,
        password: &str,
        client_addr: &str,
    ) -> Result<Login, LifecycleError> {
        let refused = || LifecycleError::Unauthenticated("invalid user name or password".into());
        if user.is_empty() || user.len() > MAX_LOGIN_CHARS || password.len() > MAX_LOGIN_CHARS {
            self.audit_login_failed(user, client_addr, "malformed");
            return Err(refused());
        }
        let subject = match self.identity().authenticate(user, password) {
            Ok(subject) => subject,
            Err(IdentityError::InvalidCredentials) => {
                self.audit_login_failed(user, client_addr, "invalid credentials");
                return Err(refused());
            }
            Err(e @ IdentityError::Unavailable(_)) => {
                tracing::error!("login of {user}: {e}");
                return Err(LifecycleError::Internal);
            }
        };
        let (token, expires_at) = self.issue_token(&subject)?;
        Ok(Login {
            subject,
            token,
            expires_at,
        })
    }

    fn audit_login_failed(&self, user: &str, client_addr: &str, reason: &str) {
        // A name of any length or content may arrive here; keep the audit row small.
        let login: String = user.chars().take(128).collect();
        self.audit(AuditEvent::new(
            kind::LOGIN_FAILED,
            json!({"login": login, "client_addr": client_addr, "via": "api", "reason": reason}),
        ));
    }

    /// A new API token for `subject`, valid for the configured token lifetime. The token text is
    /// returned once; only its hash is stored.
    pub fn issue_token(&self, subject: &Subject) -> Result<(String, Millis), LifecycleError> {
        let expires_at = self
            .now()
            .saturating_add(self.policy().token_ttl.as_millis() as Millis);
        self.issue_token_until(subject, expires_at)
    }

    /// A new API token for `subject` that ends at `expires_at`.
    pub(crate) fn issue_token_until(
        &self,
        subject: &Subject,
        expires_at: Millis,
    ) -> Result<(String, Millis), LifecycleError> {
        checks::subject(subject)?;
        let bytes: [u8; 32] = rand::random();
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let now = self.now();
        self.store().insert_token(&ApiToken {
            token_hash: token_hash(&token),
            subject: subject.name.clone(),
            groups: subject.groups.clone(),
            created_at: now,
            expires_at,
            revoked_at: None,
        })?;
        self.audit(
            AuditEvent::new(kind::TOKEN_ISSUED, json!({"expires_at": expires_at}))
                .subject(&subject.name),
        );
        Ok((token, expires_at))
    }

    /// The subject a token stands for, with the groups it had at login; `None` for an unknown,
    /// expired or revoked token (and, failing closed, when the store cannot be read).
    pub fn subject_for_token(&self, token: &str) -> Option<Subject> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return None;
        }
        let stored = match self.store().token(&token_hash(token)) {
            Ok(found) => found?,
            Err(e) => {
                tracing::error!("reading an API token: {e}");
                return None;
            }
        };
        if stored.revoked_at.is_some() || self.now() >= stored.expires_at {
            return None;
        }
        Some(Subject {
            name: stored.subject,
            groups: stored.groups,
        })
    }

    /// Revokes a token (logout); false if it was unknown or already revoked.
    pub fn revoke_token(&self, token: &str) -> Result<bool, LifecycleError> {
        let hash = token_hash(token);
        let Some(stored) = self.store().token(&hash)? else {
            return Ok(false);
        };
        let revoked = self.store().revoke_token(&hash, self.now())?;
        if revoked {
            self.audit(AuditEvent::new(kind::TOKEN_REVOKED, json!({})).subject(&stored.subject));
        }
        Ok(revoked)
    }
}
