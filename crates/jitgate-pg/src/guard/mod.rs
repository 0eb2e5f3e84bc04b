//! The session guard. Statements of guarded sessions — masked subjects and read-only grants —
//! are checked before they reach the upstream: passed, rewritten (mask before evaluate), or
//! refused (fail closed); the results of masked sessions pass a filter before the client sees
//! them. Subjects with clear access on read-write grants are never guarded and pay nothing.
//!
//! - this module: the verdicts and the traits ([`StatementPolicy`], [`GuardProvider`]);
//! - [`client`]: the guarded client, which applies a policy to the client's messages;
//! - [`read_only`]: the policy of read-only grants;
//! - [`masking`]: the policy of masked subjects (the rewrite);
//! - [`results`]: what a filter must do with each kind of server message, and the driver that
//!   follows the extended protocol ([`portals`]) so each row is read under its own description;
//! - [`stream_filter`]: the filter of masked subjects (detectors, masks, key material);
//! - [`provider`]: which of these a session gets, decided at login.

mod client;
mod masking;
pub(crate) mod portals;
mod provider;
mod read_only;
pub(crate) mod results;
mod stream_filter;

pub use crate::statements::StatementRefusal;
pub(crate) use client::GuardedClient;
pub use jitgate_pg_sql::Protocol;
pub use provider::SessionChecks;
pub use results::ResultFilter;

pub use crate::catalog::SessionCatalog;
use crate::resource::ResourceFront;
use jitgate_control::Admission;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a statement may become on its way upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Rewrite(String),
    Refuse(StatementRefusal),
}

/// Decides per statement text; implemented by the masking rewriter and the read-only check.
/// `protocol` says whether the text came in a simple Query or a Parse message.
pub trait StatementPolicy: Send {
    fn check(&mut self, sql: &str, protocol: Protocol) -> Verdict;
}

/// The checks one session gets.
pub struct SessionGuard {
    pub statements: Box<dyn StatementPolicy>,
    pub results: Option<Box<dyn ResultFilter>>,
    /// The catalog snapshot both decide with, renewed before the client's next messages are
    /// analysed (see [`SessionCatalog::renew`]).
    pub catalog: Arc<SessionCatalog>,
}

/// A boxed future, so that providers can do I/O (e.g. read the upstream catalog).
pub type GuardFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<SessionGuard>, StatementRefusal>> + Send + 'a>>;

/// What a provider knows of a session at login.
pub struct SessionContext<'a> {
    pub admission: &'a Admission,
    pub resource: &'a ResourceFront,
    /// The client's `search_path` start-up parameter, if it sent one.
    pub search_path: Option<&'a str>,
}

/// Decides at login which checks a session needs: `None` for clear access on a read-write
/// grant, which then runs on the untouched fast path.
pub trait GuardProvider: Send + Sync {
    fn guard_for<'a>(&'a self, session: SessionContext<'a>) -> GuardFuture<'a>;
}
