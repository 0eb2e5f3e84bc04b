//! jitgate's control plane: the single source of truth for who may reach which resource, now.
//!
//! Protocol fronts ask it whether a credential admits its holder ([`ControlPlane::begin_login`],
//! [`admission`]), open a [`Session`] that is told the moment its grant ends, and audit what
//! happens in it. Subjects
//! request access, approvers decide, and grants, credentials and sessions follow
//! ([`lifecycle`]). Everything is kept in a [`store::Store`] (SQLite by default); every change
//! is an audit event, which webhooks and alerts hear of.

pub mod admission;
mod alerts;
pub mod audit;
pub mod clock;
mod control;
mod directory;
pub mod enforcement;
pub mod identity;
pub mod lifecycle;
pub mod liveness;
pub mod metrics;
pub mod model;
pub mod native;
pub mod native_password;
mod notifier;
pub mod policy;
mod recorder;
mod running;
pub mod scram;
mod session;
pub mod store;
#[cfg(test)]
mod tests;
pub mod webhook;

pub use admission::{
    Admission, AdmissionRefusal, AdmittedView, LoginAttempt, LoginContext, LoginRefused, Proof,
    Protocol,
};
pub use clock::{Clock, ManualClock};
pub use control::{AuditCheckError, ControlError, ControlPlane};
pub use enforcement::{OrphanedUpstream, Recovered};
pub use identity::{IdentityError, IdentityProvider, LocalUsers, Role, Subject};
pub use lifecycle::{LifecycleError, Login};
pub use notifier::{GrantState, GrantWatch};
pub use policy::{ControlSettings, Policy};
pub use session::{Session, SessionAuditor, SessionStop};
