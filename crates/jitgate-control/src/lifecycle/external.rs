//! Subjects from an OpenID Connect provider: a validated token becomes a short-lived API token,
//! and the groups it proves replace those recorded before. A group lost since then ends the
//! grants it justified and cuts the live sessions that ran with an exemption it gave.
//!
//! The API validates the token (signature, issuer, audience, expiry); this module trusts the
//! subject it is handed and decides what the groups mean.

use super::{checks, LifecycleError, Login};
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::identity::Subject;
use crate::model::{ExternalSubject, Grant, GrantEnd, Millis};
use crate::store::{GrantQuery, SessionQuery};
use serde_json::json;
use std::time::Duration;

/// What a group change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChange {
    pub removed: Vec<String>,
    pub added: Vec<String>,
    /// Grants ended because no access rule admits the subject any more.
    pub ended_grants: Vec<String>,
    /// Live sessions cut because an exemption from masking was lost.
    pub cut_sessions: Vec<String>,
    /// API tokens revoked: they carried the lost group (roles, approvals).
    pub revoked_tokens: usize,
}

impl ControlPlane {
    /// Logs in a subject whose token `provider` has vouched for, until `valid_until` (the
    /// token's own expiry) or `session_ttl` from now, whichever is first. Records the groups
    /// and enforces the loss of any (see [`ControlPlane::apply_groups`]).
    pub fn login_external(
        &self,
        provider: &str,
        subject: &Subject,
        valid_until: Millis,
        session_ttl: Duration,
    ) -> Result<Login, LifecycleError> {
        checks::subject(subject)?;
        self.check_external_name(provider, &subject.name)?;
        let now = self.now();
        let expires_at = valid_until.min(now.saturating_add(session_ttl.as_millis() as Millis));
        if expires_at <= now {
            // Within the validation leeway, yet nothing left to give.
            return Err(LifecycleError::Unauthenticated(
                "the identity provider's token has expired".into(),
            ));
        }
        let change = self.apply_groups(provider, subject)?;
        let (token, expires_at) = self.issue_token_until(subject, expires_at)?;
        self.audit(
            AuditEvent::new(
                kind::LOGIN_OIDC,
                json!({"provider": provider, "groups": subject.groups,
                       "removed_groups": change.removed, "expires_at": expires_at}),
            )
            .subject(&subject.name),
        );
        Ok(Login {
            subject: subject.clone(),
            token,
            expires_at,
        })
    }

    /// Records `subject.groups` as what `provider` proves now. For each group lost since the
    /// last record: live grants that came from a request and that no access rule would give the
    /// subject any more are revoked (their sessions are cut by the notifier at once), the
    /// subject's API tokens are revoked, and if the group exempted from masking, the subject's live sessions are cut (they may be running in
    /// clear; a reconnect is masked).
    pub fn apply_groups(
        &self,
        provider: &str,
        subject: &Subject,
    ) -> Result<GroupChange, LifecycleError> {
        let now = self.now();
        let before = self.store().external_subject(&subject.name)?;
        let mut groups = subject.groups.clone();
        groups.sort();
        groups.dedup();
        self.store().put_external_subject(&ExternalSubject {
            name: subject.name.clone(),
            provider: provider.to_owned(),
            groups: groups.clone(),
            last_seen: now,
        })?;
        let Some(before) = before else {
            return Ok(GroupChange::default());
        };
        let mut change = GroupChange {
            removed: before
                .groups
                .iter()
                .filter(|g| !groups.contains(g))
                .cloned()
                .collect(),
            added: groups
                .iter()
                .filter(|g| !before.groups.contains(g))
                .cloned()
                .collect(),
            ..GroupChange::default()
        };
        if change.removed.is_empty() && change.added.is_empty() {
            return Ok(change);
        }
        if !change.removed.is_empty() {
            self.enforce_lost_groups(provider, &subject.name, &groups, &mut change, now)?;
        }
        self.audit(
            AuditEvent::new(
                kind::SUBJECT_GROUPS_CHANGED,
                json!({"provider": provider, "removed": change.removed, "added": change.added,
                       "ended_grants": change.ended_grants, "cut_sessions": change.cut_sessions,
                       "revoked_tokens": change.revoked_tokens}),
            )
            .subject(&subject.name),
        );
        Ok(change)
    }

    /// What losing groups takes away: tokens (they keep their login-time groups), grants the
    /// remaining groups no longer justify, and sessions that lose a masking exemption.
    fn enforce_lost_groups(
        &self,
        provider: &str,
        name: &str,
        groups: &[String],
        change: &mut GroupChange,
        now: Millis,
    ) -> Result<(), LifecycleError> {
        // One with the lost group must not keep approving or overseeing until it expires.
        change.revoked_tokens = self.store().revoke_subject_tokens(name, now)?;
        let by = format!("oidc:{provider} (group removed)");
        for grant in self.live_grants(name)? {
            if self.still_justified(&grant, groups) {
                continue;
            }
            let end = GrantEnd::Revoked { by: by.clone() };
            if self.end_grant_as(&grant.id, end, kind::GRANT_REVOKED)? {
                change.ended_grants.push(grant.id);
            }
        }
        let exemptions = &self.policy().exemption_groups;
        if change.removed.iter().any(|g| exemptions.contains(g)) {
            change.cut_sessions = self.cut_sessions(name, "masking exemption lost");
        }
        Ok(())
    }

    /// A name from `provider` must not be a local user's (whoever controls an IdP account
    /// could otherwise take a local user's grants) nor one known from another provider.
    pub(super) fn check_external_name(
        &self,
        provider: &str,
        name: &str,
    ) -> Result<(), LifecycleError> {
        if self.directory().is_local(name) {
            self.audit_external_refused(provider, name, "name of a local user");
            return Err(LifecycleError::Forbidden(format!(
                "{name} is a local user and cannot log in through {provider}"
            )));
        }
        if let Some(known) = self.store().external_subject(name)? {
            if known.provider != provider {
                self.audit_external_refused(provider, name, "known from another provider");
                return Err(LifecycleError::Forbidden(format!(
                    "{name} logs in through {}, not {provider}",
                    known.provider
                )));
            }
        }
        Ok(())
    }

    fn live_grants(&self, subject: &str) -> Result<Vec<Grant>, LifecycleError> {
        Ok(self.store().find_grants(&GrantQuery {
            subject: Some(subject.to_owned()),
            resource: None,
            live_at: Some(self.now()),
            limit: 0,
        })?)
    }

    /// A grant from a request stands while some access rule still admits the subject to its
    /// resource; one an admin issued outside the rules (`admin grant`) is the admin's call.
    fn still_justified(&self, grant: &Grant, groups: &[String]) -> bool {
        grant.request_id.is_none()
            || self
                .policy()
                .rule_for(&grant.subject, groups, &grant.resource)
                .is_some()
    }

    /// Tells every live session of `subject` in this process to end; their ids.
    fn cut_sessions(&self, subject: &str, reason: &str) -> Vec<String> {
        // Session rows are written by the recorder thread.
        self.flush();
        let open = match self.store().find_sessions(&SessionQuery {
            subject: Some(subject.to_owned()),
            open_only: true,
            limit: 0,
        }) {
            Ok(open) => open,
            Err(e) => {
                tracing::error!("listing the sessions of {subject}: {e}");
                return Vec::new();
            }
        };
        open.into_iter()
            .filter(|s| self.signal_session_kill(&s.id, reason))
            .map(|s| s.id)
            .collect()
    }

    fn audit_external_refused(&self, provider: &str, name: &str, reason: &str) {
        let login: String = name.chars().take(128).collect();
        self.audit(AuditEvent::new(
            kind::LOGIN_FAILED,
            json!({"login": login, "via": format!("oidc:{provider}"), "reason": reason}),
        ));
    }
}
