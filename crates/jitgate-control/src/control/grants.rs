//! Grants and credentials made and ended outside the request lifecycle: `jitgate grant` for
//! admins, credentials minted for live grants, and the early end of a grant, which every live
//! session of it hears at once.

use super::{ControlError, ControlPlane};
use crate::audit::{kind, AuditEvent};
use crate::model::{new_id, random_token, Credential, Grant, GrantEnd, IssuedCredential, Millis};
use crate::native_password::NativePasswordHash;
use crate::scram::{ScramVerifier, DEFAULT_ITERATIONS};
use serde_json::json;
use std::time::Duration;

impl ControlPlane {
    /// Creates a grant starting now, outside the request lifecycle: `jitgate grant`, for admins.
    pub fn issue_grant(
        &self,
        subject: &str,
        resource: &str,
        duration: Duration,
        granted_by: &str,
    ) -> Result<Grant, ControlError> {
        if subject.is_empty() || subject.len() > 128 || subject.chars().any(char::is_control) {
            return Err(ControlError::Invalid(format!(
                "subject name {subject:?} must be 1 to 128 printable characters"
            )));
        }
        let starts_at = self.now();
        let grant = Grant {
            id: new_id("g"),
            subject: subject.to_owned(),
            resource: resource.to_owned(),
            starts_at,
            expires_at: starts_at.saturating_add(duration.as_millis() as Millis),
            granted_by: granted_by.to_owned(),
            ended_at: None,
            end: None,
            read_only: false,
            request_id: None,
        };
        self.store.insert_grant(&grant)?;
        self.audit_grant_created(&grant);
        Ok(grant)
    }

    pub(crate) fn audit_grant_created(&self, grant: &Grant) {
        self.audit(
            AuditEvent::new(
                kind::GRANT_CREATED,
                json!({"expires_at": grant.expires_at, "granted_by": grant.granted_by,
                       "read_only": grant.read_only, "request_id": grant.request_id}),
            )
            .subject(&grant.subject)
            .resource(&grant.resource)
            .grant(&grant.id),
        );
        self.grant_changed();
    }

    /// Mints a credential for a live grant, expiring with it. The secret is returned once and
    /// only its verifier is kept.
    pub fn issue_credential(&self, grant_id: &str) -> Result<IssuedCredential, ControlError> {
        let grant = self
            .store
            .grant(grant_id)?
            .ok_or_else(|| ControlError::NoSuchGrant(grant_id.to_owned()))?;
        let now = self.now();
        if let Some(end) = grant.end_at(now) {
            return Err(ControlError::GrantNotLive {
                id: grant.id,
                why: end.as_str(),
            });
        }
        let secret = random_token(32);
        let salt: [u8; 16] = rand::random();
        let credential = Credential {
            id: new_id("c"),
            login: format!("{}-{}", login_stem(&grant.subject), random_token(6)),
            grant_id: grant.id.clone(),
            subject: grant.subject.clone(),
            resource: grant.resource.clone(),
            verifier: ScramVerifier::derive(&secret, &salt, DEFAULT_ITERATIONS),
            native_password: self
                .policy()
                .native_password(&grant.resource)
                .then(|| NativePasswordHash::derive(&secret)),
            created_at: now,
            expires_at: grant.expires_at,
        };
        self.store.insert_credential(&credential)?;
        self.audit(
            AuditEvent::new(
                kind::CREDENTIAL_ISSUED,
                json!({"credential_id": credential.id, "login": credential.login}),
            )
            .subject(&grant.subject)
            .resource(&grant.resource)
            .grant(&grant.id),
        );
        Ok(IssuedCredential { credential, secret })
    }

    /// Ends a grant early: stored, audited, and every live session of it told at once.
    pub fn end_grant(&self, grant_id: &str, end: GrantEnd) -> Result<bool, ControlError> {
        self.end_grant_as(grant_id, end.clone(), kind::grant_end(&end))
    }

    /// [`ControlPlane::end_grant`] with the audit kind chosen by the caller (`grant.ended` when
    /// the holder gives a grant up).
    pub(crate) fn end_grant_as(
        &self,
        grant_id: &str,
        end: GrantEnd,
        kind: &str,
    ) -> Result<bool, ControlError> {
        let grant = self
            .store
            .grant(grant_id)?
            .ok_or_else(|| ControlError::NoSuchGrant(grant_id.to_owned()))?;
        let now = self.now();
        let ended = self.store.end_grant(grant_id, &end, now)?;
        // When it ended: now, unless it had ended already (or was due earlier: its expiry).
        let ended_at = grant.ended_at.unwrap_or(match &end {
            GrantEnd::Expired => grant.expires_at.min(now),
            GrantEnd::Revoked { .. } => now,
        });
        if ended {
            let by = match &end {
                GrantEnd::Revoked { by } => json!(by),
                GrantEnd::Expired => json!(null),
            };
            self.audit(
                AuditEvent::new(kind, json!({ "by": by }))
                    .subject(&grant.subject)
                    .resource(&grant.resource)
                    .grant(grant_id),
            );
        }
        self.notifier.grant_ended(grant_id, &end, ended_at);
        if ended {
            self.grant_changed();
        }
        Ok(ended)
    }
}

/// A user name stem from a subject name: letters, digits, `.`, `_`, `-`, at most 32.
fn login_stem(subject: &str) -> String {
    let stem: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if stem.is_empty() {
        "user".into()
    } else {
        stem
    }
}
