//! Keeping an external subject's groups current without them: jitgate holds the provider's
//! refresh token (the subject's CLI holds only a jitgate renewal token for it) and re-reads
//! the groups itself whenever the subject has a live grant and its last proof is older than the
//! provider's `session_ttl`. A refresh the provider refuses (account disabled, token revoked)
//! means the provider no longer vouches for the subject: every group is lost.
//!
//! The provider calls are the API's (it has the providers); this module keeps the state.

use super::external::GroupChange;
use super::tokens::token_hash;
use super::LifecycleError;
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::identity::Subject;
use crate::model::ExternalRenewal;
use base64::Engine;
use serde_json::json;

/// Renewal tokens start with this, so that a leaked one is recognisable as jitgate's.
const RENEWAL_PREFIX: &str = "jgr_";

impl ControlPlane {
    /// Keeps `refresh_token` for `subject` (already logged in through its provider) and returns
    /// a new renewal token for its CLI, shown once; only its hash is stored. An earlier renewal
    /// token of the subject stops working: one renewable login per subject.
    pub fn hold_refresh_token(
        &self,
        subject: &str,
        refresh_token: &str,
    ) -> Result<String, LifecycleError> {
        let bytes: [u8; 32] = rand::random();
        let renewal = format!(
            "{RENEWAL_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        self.store().set_external_renewal(
            subject,
            Some(refresh_token),
            Some(&token_hash(&renewal)),
        )?;
        Ok(renewal)
    }

    /// What a renewal token stands for; `None` for an unknown or disowned one (and, failing
    /// closed, when the store cannot be read).
    pub fn renewal(&self, renewal_token: &str) -> Option<ExternalRenewal> {
        if !renewal_token.starts_with(RENEWAL_PREFIX) || renewal_token.len() > 128 {
            return None;
        }
        match self.store().external_renewal(&token_hash(renewal_token)) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!("reading a renewal token: {e}");
                None
            }
        }
    }

    /// The provider rotated the refresh token.
    pub fn replace_refresh_token(
        &self,
        subject: &str,
        refresh_token: &str,
    ) -> Result<(), LifecycleError> {
        Ok(self
            .store()
            .set_external_renewal(subject, Some(refresh_token), None)?)
    }

    /// Subjects whose groups jitgate re-reads itself: a refresh token held and a live grant.
    /// The caller picks those whose proof is older than their provider's `session_ttl`.
    pub fn renewals_with_grants(&self) -> Result<Vec<ExternalRenewal>, LifecycleError> {
        Ok(self.store().external_renewals_with_grants(self.now())?)
    }

    /// Records groups re-read from the provider without the subject (no token is issued).
    pub fn recheck_external(
        &self,
        provider: &str,
        subject: &Subject,
    ) -> Result<GroupChange, LifecycleError> {
        self.check_external_name(provider, &subject.name)?;
        self.apply_groups(provider, subject)
    }

    /// The provider refused to renew `subject` (`why`): it no longer vouches for them, so every
    /// group is lost and the refresh token forgotten; the subject must log in again.
    pub fn disown_external(
        &self,
        provider: &str,
        subject: &str,
        why: &str,
    ) -> Result<GroupChange, LifecycleError> {
        self.store().set_external_renewal(subject, None, None)?;
        self.audit(
            AuditEvent::new(
                kind::SUBJECT_DISOWNED,
                json!({"provider": provider, "reason": why}),
            )
            .subject(subject),
        );
        self.apply_groups(provider, &Subject::new(subject, &[]))
    }
}
