//! The seam to platforms that carry grants out themselves (a Databricks workspace): the
//! control plane asks such a platform, through [`NativeProvisioning`], whether it can carry a
//! grant out before it makes one, and has it mint a platform token for a live grant's holder.
//! The platform crate implements the trait; the binary installs it with
//! [`ControlPlane::set_native`](crate::ControlPlane::set_native).

use crate::control::ControlPlane;
use crate::model::{Grant, Millis};

/// Why a platform refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeRefusal {
    /// The subject has no identity in the platform, and a rule of the resource needs one.
    #[error("{0}")]
    NoIdentity(String),
    /// The platform could not be asked (unreachable, an error answer): refused, fail closed.
    #[error("{0}")]
    Unavailable(String),
    /// Nothing of the kind asked for is given to this subject on this resource.
    #[error("{0}")]
    NotOffered(String),
}

/// A platform token as minted: the only moment its value exists outside the platform. It is
/// never stored, logged or audited; `Debug` leaves it out.
#[derive(Clone)]
pub struct IssuedPlatformToken {
    pub token_id: String,
    pub value: String,
    /// Whose token it is (a service principal's application id).
    pub on_behalf_of: String,
    pub expires_at: Millis,
    pub comment: String,
}

impl std::fmt::Debug for IssuedPlatformToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedPlatformToken")
            .field("token_id", &self.token_id)
            .field("on_behalf_of", &self.on_behalf_of)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a platform that carries grants out adds to the lifecycle. Calls may block on the
/// platform's API (callers run them off async runtimes).
pub trait NativeProvisioning: Send + Sync {
    /// Whether a grant of `resource` to `subject` (with `groups`) can be carried out: refused
    /// when a rule needs the subject's identity in the platform and it has none, or when that
    /// cannot be told now.
    fn check_grantable(
        &self,
        control: &ControlPlane,
        subject: &str,
        groups: &[String],
        resource: &str,
    ) -> Result<(), NativeRefusal>;

    /// Mints a platform token for a live grant, living no longer than the grant.
    fn issue_token(
        &self,
        control: &ControlPlane,
        grant: &Grant,
        groups: &[String],
    ) -> Result<IssuedPlatformToken, NativeRefusal>;
}
