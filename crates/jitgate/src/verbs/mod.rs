//! The client verbs: each talks to a running gateway's HTTP API as the logged-in user.

pub mod audit;
pub mod connect;
pub mod grants;
pub mod login;
pub mod login_oidc;
pub mod requests;
pub mod sessions;
pub mod tokens;
