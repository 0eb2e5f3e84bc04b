//! The control plane's seam to workspaces ([`NativeProvisioning`]): a request (and the approval
//! that creates its grant) is refused up front when the subject's provision rule gives their
//! own workspace user something and the workspace has no such user — or cannot say so now, in
//! which case the request is refused too (fail closed: a grant that cannot be carried out is
//! not made). And a live grant's holder may have an on-behalf-of token minted ([`super::obo`]).

use std::time::Duration;

use jitgate_control::audit::{kind, AuditEvent};
use jitgate_control::model::Grant;
use jitgate_control::native::{IssuedPlatformToken, NativeProvisioning, NativeRefusal};
use jitgate_control::ControlPlane;
use serde_json::json;

use super::{obo, plan, Binding};
use crate::api::{ApiError, RetryPolicy};
use crate::Workspace;

/// Deadline of the look-up a request waits for.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the control plane asks of the workspaces of every bound resource.
pub struct WorkspaceGate {
    bindings: Vec<Binding>,
    /// Per binding, a client for look-ups someone waits for: one attempt, a short deadline.
    lookups: Vec<Workspace>,
}

impl WorkspaceGate {
    pub fn new(bindings: Vec<Binding>) -> WorkspaceGate {
        let lookups = bindings
            .iter()
            .map(|b| {
                Workspace::new(&b.config)
                    .with_timeout(LOOKUP_TIMEOUT)
                    .with_retry(RetryPolicy {
                        attempts: 1,
                        ..RetryPolicy::default()
                    })
            })
            .collect();
        WorkspaceGate { bindings, lookups }
    }

    fn binding(&self, resource: &str) -> Option<(&Binding, &Workspace)> {
        let i = self.bindings.iter().position(|b| b.resource == resource)?;
        Some((&self.bindings[i], &self.lookups[i]))
    }
}

/// The SCIM userName of a subject: the configured mapping, else the subject's name.
pub fn user_name<'a>(b: &'a Binding, subject: &'a str) -> &'a str {
    b.config
        .identities
        .iter()
        .find(|(s, _)| s == subject)
        .map_or(subject, |(_, u)| u.as_str())
}

/// What a refusal may say of an API failure: its kind and status, not the workspace's text.
pub(crate) fn brief(e: &ApiError) -> String {
    match e {
        ApiError::Status { status, .. } => format!("the workspace answered HTTP {status}"),
        ApiError::Transport { .. } => "the workspace could not be reached".to_string(),
        ApiError::BadAnswer { .. } => "the workspace's answer was not understood".to_string(),
        ApiError::NotFound(_) => "not found".to_string(),
    }
}

impl NativeProvisioning for WorkspaceGate {
    fn check_grantable(
        &self,
        control: &ControlPlane,
        subject: &str,
        groups: &[String],
        resource: &str,
    ) -> Result<(), NativeRefusal> {
        let Some((b, api)) = self.binding(resource) else {
            return Ok(());
        };
        let Some(rule) = plan::rule_for(&b.config.provision, subject, groups) else {
            return Ok(());
        };
        if !rule.needs_identity() {
            return Ok(());
        }
        let user = user_name(b, subject);
        match api.user_by_name(user) {
            Ok(_) => Ok(()),
            Err(ApiError::NotFound(why)) => {
                control.audit(
                    AuditEvent::new(
                        kind::DATABRICKS_NO_IDENTITY,
                        json!({"user_name": user, "reason": why, "refused": true}),
                    )
                    .subject(subject)
                    .resource(resource),
                );
                Err(NativeRefusal::NoIdentity(format!(
                    "{subject} has no user {user:?} in the Databricks workspace of {resource}, \
                     which carries its grants out; ask an administrator to add the user to the \
                     workspace or to map {subject} to one under identities"
                )))
            }
            Err(e) => {
                tracing::warn!(resource, "looking up {user} for a request: {e}");
                Err(NativeRefusal::Unavailable(format!(
                    "cannot tell whether {subject} has a user in the Databricks workspace of \
                     {resource} ({}); the request is refused until the workspace answers — \
                     try again later",
                    brief(&e)
                )))
            }
        }
    }

    fn issue_token(
        &self,
        control: &ControlPlane,
        grant: &Grant,
        groups: &[String],
    ) -> Result<IssuedPlatformToken, NativeRefusal> {
        let not_offered = || {
            NativeRefusal::NotOffered(format!(
                "no provision rule of {} gives {} a workspace token",
                grant.resource, grant.subject
            ))
        };
        let (b, _) = self.binding(&grant.resource).ok_or_else(not_offered)?;
        let rule = plan::rule_for(&b.config.provision, &grant.subject, groups)
            .filter(|r| r.token_for.is_some())
            .ok_or_else(not_offered)?;
        obo::issue(control, b, rule, grant)
    }
}
