//! OpenID Connect for jitgate, blocking and without a runtime (the API calls it from blocking
//! tasks, the CLI directly):
//!
//! - [`discover`]: a provider's `.well-known/openid-configuration`, its issuer checked;
//! - [`KeyCache`]: the provider's signing keys, refetched once (rate-limited) when a token names
//!   a key it does not know, so key rotation needs no restart;
//! - [`Verifier`]: full validation of ID and access tokens (signature with an allow-listed
//!   asymmetric algorithm, issuer, audience, expiry with small leeway, nonce);
//! - [`flows`]: what a terminal needs to get tokens: the device authorization grant, the
//!   authorization code flow with PKCE on a loopback redirect, and refresh.

mod discovery;
pub mod flows;
mod http;
mod jwks;
mod verify;

#[cfg(test)]
mod tests;

pub use discovery::{discover, Metadata};
pub use jwks::KeyCache;
pub use verify::{VerifiedToken, Verifier, ALLOWED_ALGORITHMS};

/// What went wrong talking to a provider or checking one of its tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("identity provider: {0}")]
    Provider(String),
    /// A token was refused; the text says why (safe to show: it never repeats the token).
    #[error("token refused: {0}")]
    Refused(String),
    /// A login flow ended without tokens (denied, expired, cancelled).
    #[error("{0}")]
    Flow(String),
}
