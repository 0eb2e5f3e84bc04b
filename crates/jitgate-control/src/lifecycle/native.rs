//! The lifecycle's side of platforms that carry grants out themselves (see [`crate::native`]):
//! a grant is refused up front when the platform could not carry it out, and a live grant's
//! holder may have the platform mint a token for it.

use super::checks;
use super::LifecycleError;
use crate::control::ControlPlane;
use crate::identity::Subject;
use crate::native::{IssuedPlatformToken, NativeProvisioning, NativeRefusal};
use std::sync::Arc;

impl From<NativeRefusal> for LifecycleError {
    fn from(e: NativeRefusal) -> Self {
        match e {
            NativeRefusal::NoIdentity(m) => LifecycleError::NoPlatformIdentity(m),
            NativeRefusal::Unavailable(m) => LifecycleError::Unavailable(m),
            NativeRefusal::NotOffered(m) => LifecycleError::Forbidden(m),
        }
    }
}

impl ControlPlane {
    /// Installs the platform that carries grants out (once; a second call changes nothing and
    /// returns false).
    pub fn set_native(&self, native: Arc<dyn NativeProvisioning>) -> bool {
        self.native.set(native).is_ok()
    }

    /// Refuses a grant of `resource` to `subject` that the platform could not carry out. Run
    /// when a request is made and again when the approval that creates the grant is given.
    pub(crate) fn check_grantable(
        &self,
        subject: &str,
        groups: &[String],
        resource: &str,
    ) -> Result<(), LifecycleError> {
        match self.native.get() {
            Some(native) => Ok(native.check_grantable(self, subject, groups, resource)?),
            None => Ok(()),
        }
    }

    /// Has the platform mint a token for the caller's live grant `grant_id`, living no longer
    /// than the grant. Only the grant's holder may: the value is shown to them once and kept
    /// nowhere.
    pub fn issue_platform_token(
        &self,
        caller: &Subject,
        grant_id: &str,
    ) -> Result<IssuedPlatformToken, LifecycleError> {
        checks::subject(caller)?;
        checks::name("grant id", grant_id)?;
        let not_found = || LifecycleError::NotFound(format!("no grant {grant_id}"));
        let grant = self.store().grant(grant_id)?.ok_or_else(not_found)?;
        if grant.subject != caller.name {
            if self.policy().oversees(caller, &grant.resource) {
                return Err(LifecycleError::Forbidden(format!(
                    "only {}, the grant's holder, may receive a token for it",
                    grant.subject
                )));
            }
            return Err(not_found());
        }
        if !grant.is_live(self.now()) {
            return Err(LifecycleError::Conflict(format!(
                "grant {grant_id} is not live"
            )));
        }
        let native = self.native.get().ok_or_else(|| {
            LifecycleError::Forbidden(format!(
                "{} is not carried out in a platform that mints tokens",
                grant.resource
            ))
        })?;
        Ok(native.issue_token(self, &grant, &caller.groups)?)
    }
}
