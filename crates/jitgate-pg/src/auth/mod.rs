//! Authentication: of database clients to jitgate ([`client`], with the SCRAM server in
//! [`scram`]). jitgate's own login to the upstream is in [`crate::upstream`].

pub mod client;
pub mod scram;

pub use client::{authenticate, ClientAuthError, ClientAuthMethod};
pub use scram::{ScramError, ScramServer};
