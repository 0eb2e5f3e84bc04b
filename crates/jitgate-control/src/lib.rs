//! jitgate's control plane: the single source of truth for who may reach which resource, now.
//!
//! Protocol fronts ask it whether a credential admits its holder ([`ControlPlane::admit`]), open a
//! [`Session`] that is told the moment its grant ends, and audit what happens in it. Everything is
//! kept in a [`store::Store`] (SQLite by default).

pub mod audit;
mod control;
pub mod model;
mod notifier;
mod recorder;
pub mod scram;
pub mod store;

pub use control::{
    Admission, ControlError, ControlPlane, Refusal, Session, SessionAuditor, SessionStop,
};
pub use notifier::{GrantState, GrantWatch};
