//! What a grant gives and how it ends: revoking, ending one's own, connecting (minting a
//! credential), credentials and sessions, each listed by what the actor may see.

use super::checks;
use super::paging::{merge, Fetched, Page, PageRequest};
use super::LifecycleError;
use crate::audit::{kind, AuditEvent};
use crate::control::ControlPlane;
use crate::identity::Subject;
use crate::model::{Credential, Grant, GrantEnd, IssuedCredential, SessionRecord};
use crate::store::{CredentialQuery, Cursor, GrantQuery, SessionQuery};
use serde_json::json;

impl ControlPlane {
    /// Takes a grant away: approvers of its resource and admins may. Its live sessions are cut
    /// at once. The holder may call this too, which is [`ControlPlane::end_own_grant`].
    pub fn revoke_grant(&self, actor: &Subject, grant_id: &str) -> Result<Grant, LifecycleError> {
        let grant = self.visible_grant(actor, grant_id)?;
        if !self.policy().oversees(actor, &grant.resource) {
            return self.end_own_grant(actor, grant_id);
        }
        self.end_live_grant(grant, &actor.name, kind::GRANT_REVOKED)
    }

    /// The holder gives up their grant early; its live sessions are cut at once.
    pub fn end_own_grant(&self, holder: &Subject, grant_id: &str) -> Result<Grant, LifecycleError> {
        let grant = self.visible_grant(holder, grant_id)?;
        if grant.subject != holder.name {
            return Err(LifecycleError::Forbidden(format!(
                "grant {grant_id} belongs to {}; only its holder may end it early",
                grant.subject
            )));
        }
        self.end_live_grant(grant, &holder.name, kind::GRANT_ENDED)
    }

    fn end_live_grant(&self, grant: Grant, by: &str, kind: &str) -> Result<Grant, LifecycleError> {
        if let Some(end) = grant.end_at(self.now()) {
            return Err(LifecycleError::Conflict(format!(
                "grant {} has already {}",
                grant.id,
                if end == GrantEnd::Expired {
                    "expired"
                } else {
                    "been revoked"
                }
            )));
        }
        let end = GrantEnd::Revoked { by: by.to_owned() };
        if !self.end_grant_as(&grant.id, end, kind)? {
            return Err(LifecycleError::Conflict(format!(
                "grant {} has already ended",
                grant.id
            )));
        }
        let id = grant.id.clone();
        self.store()
            .grant(&id)?
            .ok_or_else(|| LifecycleError::NotFound(format!("no grant {id}")))
    }

    /// A grant the actor may see: their own, or any on a resource they oversee.
    pub fn get_grant(&self, actor: &Subject, grant_id: &str) -> Result<Grant, LifecycleError> {
        self.visible_grant(actor, grant_id)
    }

    fn visible_grant(&self, actor: &Subject, grant_id: &str) -> Result<Grant, LifecycleError> {
        checks::name("grant id", grant_id)?;
        let not_found = || LifecycleError::NotFound(format!("no grant {grant_id}"));
        let grant = self.store().grant(grant_id)?.ok_or_else(not_found)?;
        if grant.subject == actor.name || self.policy().oversees(actor, &grant.resource) {
            Ok(grant)
        } else {
            Err(not_found())
        }
    }

    /// The first page of [`ControlPlane::list_grants_page`].
    pub fn list_grants(
        &self,
        actor: &Subject,
        active_only: bool,
    ) -> Result<Vec<Grant>, LifecycleError> {
        Ok(self
            .list_grants_page(actor, active_only, &PageRequest::first())?
            .items)
    }

    /// Grants the actor may see, newest first: their own, or all on resources they oversee.
    /// `active_only` keeps those live now.
    pub fn list_grants_page(
        &self,
        actor: &Subject,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Grant>, LifecycleError> {
        let policy = self.policy();
        let everyone = policy.oversees_any(actor);
        let grants = self.store().find_grants(&GrantQuery {
            subject: (!everyone).then(|| actor.name.clone()),
            resource: None,
            live_at: active_only.then(|| self.now()),
            limit: page.fetch(),
            after: page.after.clone(),
        })?;
        let key = |g: &Grant| Cursor {
            at: g.starts_at,
            id: g.id.clone(),
        };
        Ok(merge(
            vec![Fetched::new(grants, page, key)],
            page,
            key,
            |g| g.subject == actor.name || policy.oversees(actor, &g.resource),
        ))
    }

    /// Mints a credential for the caller's live grant on `resource`, expiring with the grant:
    /// a reconnect late in a grant gets only the time that is left. The secret is returned once.
    pub fn connect(
        &self,
        subject: &Subject,
        resource: &str,
    ) -> Result<IssuedCredential, LifecycleError> {
        checks::subject(subject)?;
        checks::name("resource", resource)?;
        if !self.policy().has_resource(resource) {
            return Err(LifecycleError::NotFound(format!("no resource {resource}")));
        }
        let live = self.store().find_grants(&GrantQuery {
            subject: Some(subject.name.clone()),
            resource: Some(resource.to_owned()),
            live_at: Some(self.now()),
            limit: 0,
            after: None,
        })?;
        // With several live grants, the one that lasts longest serves best.
        let grant = live
            .into_iter()
            .max_by_key(|g| g.expires_at)
            .ok_or_else(|| LifecycleError::NoActiveGrant(resource.to_owned()))?;
        Ok(self.issue_credential(&grant.id)?)
    }

    /// The first page of [`ControlPlane::list_credentials_page`].
    pub fn list_credentials(
        &self,
        actor: &Subject,
        expired_only: bool,
    ) -> Result<Vec<Credential>, LifecycleError> {
        Ok(self
            .list_credentials_page(actor, expired_only, &PageRequest::first())?
            .items)
    }

    /// Credentials the actor may see, newest first: their own, all for admins. `expired_only`
    /// keeps those no longer usable (expired, or their grant ended). Deleted ones never show.
    pub fn list_credentials_page(
        &self,
        actor: &Subject,
        expired_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Credential>, LifecycleError> {
        let credentials = self.store().find_credentials(&CredentialQuery {
            subject: self.own_unless_admin(actor),
            unusable_at: expired_only.then(|| self.now()),
            limit: page.fetch(),
            after: page.after.clone(),
        })?;
        let key = |c: &Credential| Cursor {
            at: c.created_at,
            id: c.id.clone(),
        };
        Ok(merge(
            vec![Fetched::new(credentials, page, key)],
            page,
            key,
            |_| true,
        ))
    }

    /// Deletes a credential (its holder's or, for admins, anyone's); it stops admitting at once.
    pub fn delete_credential(
        &self,
        actor: &Subject,
        credential_id: &str,
    ) -> Result<(), LifecycleError> {
        checks::name("credential id", credential_id)?;
        let not_found = || LifecycleError::NotFound(format!("no credential {credential_id}"));
        let credential = self
            .store()
            .credential(credential_id)?
            .ok_or_else(not_found)?;
        if credential.subject != actor.name && !self.policy().is_admin(actor) {
            return Err(not_found());
        }
        if !self.store().delete_credential(credential_id, self.now())? {
            return Err(not_found());
        }
        self.audit(
            AuditEvent::new(
                kind::CREDENTIAL_DELETED,
                json!({"credential_id": credential.id, "login": credential.login, "by": actor.name}),
            )
            .subject(&credential.subject)
            .resource(&credential.resource)
            .grant(&credential.grant_id),
        );
        Ok(())
    }

    /// Deletes the credentials no longer usable (the actor's own; everyone's for admins);
    /// returns how many.
    pub fn prune_credentials(&self, actor: &Subject) -> Result<usize, LifecycleError> {
        let subject = self.own_unless_admin(actor);
        let pruned = self
            .store()
            .prune_credentials(subject.as_deref(), self.now())?;
        let mut event = AuditEvent::new(
            kind::CREDENTIALS_PRUNED,
            json!({"count": pruned, "by": actor.name, "scope": if subject.is_some() { "own" } else { "all" }}),
        );
        if let Some(s) = &subject {
            event = event.subject(s);
        }
        self.audit(event);
        Ok(pruned)
    }

    /// The first page of [`ControlPlane::list_sessions_page`].
    pub fn list_sessions(
        &self,
        actor: &Subject,
        open_only: bool,
    ) -> Result<Vec<SessionRecord>, LifecycleError> {
        Ok(self
            .list_sessions_page(actor, open_only, &PageRequest::first())?
            .items)
    }

    /// Sessions the actor may see, newest first: their own, or all on resources they oversee.
    pub fn list_sessions_page(
        &self,
        actor: &Subject,
        open_only: bool,
        page: &PageRequest,
    ) -> Result<Page<SessionRecord>, LifecycleError> {
        // Session rows are written by the recorder thread; a listing shows every session
        // that has begun before it was asked for.
        self.flush();
        let policy = self.policy();
        let everyone = policy.oversees_any(actor);
        let sessions = self.store().find_sessions(&SessionQuery {
            subject: (!everyone).then(|| actor.name.clone()),
            open_only,
            limit: page.fetch(),
            after: page.after.clone(),
        })?;
        let key = |s: &SessionRecord| Cursor {
            at: s.started_at,
            id: s.id.clone(),
        };
        Ok(merge(
            vec![Fetched::new(sessions, page, key)],
            page,
            key,
            |s| s.subject == actor.name || policy.oversees(actor, &s.resource),
        ))
    }

    /// Ends a live session now (approvers of its resource and admins may). The session must run
    /// in this process; its client is told why.
    pub fn kill_session(
        &self,
        actor: &Subject,
        session_id: &str,
        reason: &str,
    ) -> Result<(), LifecycleError> {
        checks::name("session id", session_id)?;
        checks::text("reason", reason, false)?;
        let not_found = || LifecycleError::NotFound(format!("no session {session_id}"));
        let session = self.store().session(session_id)?.ok_or_else(not_found)?;
        let policy = self.policy();
        if !policy.oversees(actor, &session.resource) {
            return Err(if session.subject == actor.name {
                LifecycleError::Forbidden(
                    "approvers and admins end sessions; end your grant or disconnect".into(),
                )
            } else {
                not_found()
            });
        }
        if session.ended_at.is_some() {
            return Err(LifecycleError::Conflict(format!(
                "session {session_id} has already ended"
            )));
        }
        let told = if reason.trim().is_empty() {
            format!("ended by {}", actor.name)
        } else {
            format!("ended by {}: {reason}", actor.name)
        };
        // Here at once; on another replica (or after this one restarted), through the store,
        // whose change feed wakes the replica that runs it.
        if !self.signal_session_kill(session_id, &told)
            && !self.store().request_session_kill(session_id, &told)?
        {
            return Err(LifecycleError::Conflict(format!(
                "session {session_id} has already ended or is being ended"
            )));
        }
        self.audit(
            AuditEvent::new(
                kind::SESSION_KILLED,
                json!({"by": actor.name, "reason": reason}),
            )
            .subject(&session.subject)
            .resource(&session.resource)
            .grant(&session.grant_id)
            .session(session_id),
        );
        Ok(())
    }

    /// `None` (everyone) for admins, the actor's own name otherwise.
    fn own_unless_admin(&self, actor: &Subject) -> Option<String> {
        (!self.policy().is_admin(actor)).then(|| actor.name.clone())
    }
}
