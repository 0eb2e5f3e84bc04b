//! The request → approval → grant lifecycle, credentials, sessions and API tokens, as methods of
//! [`ControlPlane`](crate::ControlPlane). Every method takes the acting [`Subject`] and checks
//! what it may do; every change is an audit event.
//!
//! Errors carry a stable machine code and an HTTP-like status, so the API maps them mechanically.

mod access;
mod checks;
mod external;
mod native;
pub mod paging;
mod renewal;
mod requests;
mod tokens;

#[cfg(test)]
mod tests;

pub use external::GroupChange;
pub use paging::{Page, PageRequest};
pub use tokens::Login;

use crate::control::ControlError;
use crate::model::RequestState;
use crate::store::StoreError;

/// Most rows a listing returns.
pub const LIST_LIMIT: usize = 1000;

/// Why a lifecycle step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("nobody may approve or deny their own request")]
    SelfApproval,
    #[error("request {id} is already {}", state.as_str())]
    AlreadyDecided { id: String, state: RequestState },
    #[error("you have already voted on request {0}")]
    AlreadyVoted(String),
    #[error("{requested} is longer than the {max} the access rule allows")]
    DurationTooLong { requested: String, max: String },
    #[error("access to {resource} is only given between {window} UTC")]
    OutsideWindow { resource: String, window: String },
    #[error("no access rule lets {subject} request {resource}")]
    NoMatchingRule { subject: String, resource: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("you have no active grant on {0}; request access first")]
    NoActiveGrant(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// The subject has no identity in the platform that carries the resource's grants out.
    #[error("{0}")]
    NoPlatformIdentity(String),
    /// A platform the step depends on cannot be asked now: refused, fail closed.
    #[error("{0}")]
    Unavailable(String),
    /// Details are logged, not shown: they may name files or tables.
    #[error("internal error; see the gateway's log")]
    Internal,
}

impl LifecycleError {
    /// A stable, machine-readable code; never renamed, only added to.
    pub fn code(&self) -> &'static str {
        match self {
            LifecycleError::NotFound(_) => "not_found",
            LifecycleError::Forbidden(_) => "forbidden",
            LifecycleError::SelfApproval => "self_approval",
            LifecycleError::AlreadyDecided { .. } => "already_decided",
            LifecycleError::AlreadyVoted(_) => "already_voted",
            LifecycleError::DurationTooLong { .. } => "duration_too_long",
            LifecycleError::OutsideWindow { .. } => "outside_window",
            LifecycleError::NoMatchingRule { .. } => "no_matching_rule",
            LifecycleError::InvalidInput(_) => "invalid_input",
            LifecycleError::NoActiveGrant(_) => "no_active_grant",
            LifecycleError::Conflict(_) => "conflict",
            LifecycleError::Unauthenticated(_) => "unauthenticated",
            LifecycleError::NoPlatformIdentity(_) => "no_platform_identity",
            LifecycleError::Unavailable(_) => "unavailable",
            LifecycleError::Internal => "internal",
        }
    }

    /// The HTTP status that fits: 400 bad input, 401 not logged in, 403 not allowed, 404 no such
    /// thing (or not visible to the caller), 409 state conflict, 500 our fault, 503 a platform the
    /// step depends on cannot be asked now.
    pub fn status(&self) -> u16 {
        match self {
            LifecycleError::InvalidInput(_) | LifecycleError::DurationTooLong { .. } => 400,
            LifecycleError::Unauthenticated(_) => 401,
            LifecycleError::Forbidden(_)
            | LifecycleError::SelfApproval
            | LifecycleError::OutsideWindow { .. }
            | LifecycleError::NoMatchingRule { .. }
            | LifecycleError::NoActiveGrant(_)
            | LifecycleError::NoPlatformIdentity(_) => 403,
            LifecycleError::NotFound(_) => 404,
            LifecycleError::AlreadyDecided { .. }
            | LifecycleError::AlreadyVoted(_)
            | LifecycleError::Conflict(_) => 409,
            LifecycleError::Internal => 500,
            LifecycleError::Unavailable(_) => 503,
        }
    }
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> Self {
        tracing::error!("control plane store: {e}");
        LifecycleError::Internal
    }
}

impl From<ControlError> for LifecycleError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Store(e) => e.into(),
            ControlError::NoSuchGrant(id) => LifecycleError::NotFound(format!("no grant {id}")),
            ControlError::GrantNotLive { id, why } => {
                LifecycleError::Conflict(format!("grant {id} is not live ({why})"))
            }
            ControlError::Invalid(message) => LifecycleError::InvalidInput(message),
            // Only a start meets this; an API call never does.
            e @ ControlError::DuplicateReplica(_) => {
                tracing::error!("{e}");
                LifecycleError::Internal
            }
        }
    }
}
