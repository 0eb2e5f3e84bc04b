//! jitgate's PostgreSQL front: accepts database clients, authenticates them with jitgate
//! credentials, admits them under live grants, and relays the wire protocol to the upstream,
//! streaming, auditing each statement, and cutting the session the moment its grant ends.

pub mod auth;
pub mod cancel;
mod catalog;
pub mod codec;
pub mod front;
pub mod guard;
mod login;
pub mod orphans;
pub mod relay;
pub mod resource;
mod runaway;
mod session;
mod shared;
pub mod statements;
pub mod stream;
pub mod tls;
pub mod upstream;

pub use front::{FrontError, PgFront};
