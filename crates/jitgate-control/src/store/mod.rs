//! Where the control plane keeps its state. SQLite by default; the trait is the seam for a
//! PostgreSQL backend shared by several gateway replicas.
//!
//! Every method that changes a request's state is one atomic step of the store (a transaction in
//! SQLite): checking the state, recording the vote and creating the grant happen together, so
//! two approvers acting at once can never create two grants.

mod migrations;
mod postgres;
pub mod provisioning;
mod sqlite;
#[cfg(test)]
mod tests;

pub use postgres::{PostgresStore, PostgresStoreOptions};
pub use provisioning::ProvisionLedger;
pub use sqlite::SqliteStore;
use std::sync::Arc;
use tokio::sync::Notify;

use crate::audit::{AuditEvent, ChainedEvent};
use crate::model::{
    ApiToken, Approval, Credential, ExternalRenewal, ExternalSubject, Grant, GrantEnd, Millis,
    OrphanedSession, ReplicaBeat, Request, RequestState, SessionEnd, SessionRecord, UpstreamCancel,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: corrupt row in {table}: {why}")]
    Corrupt { table: &'static str, why: String },
    #[error("store: schema version {found} is newer than this jitgate understands ({known})")]
    TooNew { found: i64, known: i64 },
    #[error("store: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("store: no answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("store: unreachable (the last connection attempt failed)")]
    Unreachable,
    #[error("store TLS: {0}")]
    Tls(#[from] jitgate_tls::TlsSetupError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A place in a newest-first listing: the time a row sorts by (created, started) and its id,
/// which breaks ties. A query with `after` lists the rows that come after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: Millis,
    pub id: String,
}

impl Ord for Cursor {
    /// Listing order: newest first, ties by id.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at).then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Which requests to list, newest first. `limit` 0 means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestQuery {
    pub subject: Option<String>,
    pub state: Option<RequestState>,
    pub limit: usize,
    /// Only rows listed after this one.
    pub after: Option<Cursor>,
}

/// Which grants to list, newest first. `limit` 0 means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantQuery {
    pub subject: Option<String>,
    pub resource: Option<String>,
    /// Only grants live at this instant (started, not expired, not ended).
    pub live_at: Option<Millis>,
    pub limit: usize,
    /// Only rows listed after this one.
    pub after: Option<Cursor>,
}

/// Which credentials to list, newest first; deleted ones never are. `limit` 0 means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialQuery {
    pub subject: Option<String>,
    /// Only credentials no longer usable at this instant: expired, or their grant ended.
    pub unusable_at: Option<Millis>,
    pub limit: usize,
    /// Only rows listed after this one.
    pub after: Option<Cursor>,
}

/// Which sessions to list, newest first. `limit` 0 means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    pub subject: Option<String>,
    pub open_only: bool,
    pub limit: usize,
    /// Only rows listed after this one.
    pub after: Option<Cursor>,
}

/// What an attempt to move a request on did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    NotFound,
    /// It had already left `pending`.
    NotPending(RequestState),
    /// This approver has already voted on it.
    AlreadyVoted,
    /// The vote was recorded; more approvals are needed.
    Counted(Request),
    /// The request left `pending` with this step (approved with its grant, denied, cancelled).
    Decided(Request),
}

/// Storage of subjects, requests, grants, credentials, sessions, tokens and audit events.
/// Implementations are safe to share between threads and processes. The native provisioning
/// ledger's operations are in [`ProvisionLedger`].
pub trait Store: ProvisionLedger + Send + Sync + 'static {
    fn insert_grant(&self, grant: &Grant) -> StoreResult<()>;
    fn grant(&self, id: &str) -> StoreResult<Option<Grant>>;
    /// Ends a grant that has not ended yet; false if it was already ended or does not exist.
    fn end_grant(&self, id: &str, end: &GrantEnd, at: Millis) -> StoreResult<bool>;
    /// Grants not ended in the store (some may be past their expiry, awaiting enforcement).
    fn unended_grants(&self) -> StoreResult<Vec<Grant>>;
    fn find_grants(&self, query: &GrantQuery) -> StoreResult<Vec<Grant>>;

    /// Records a new request; with `grant` (an automatic approval) both are stored together.
    fn insert_request(&self, request: &Request, grant: Option<&Grant>) -> StoreResult<()>;
    /// A request with its votes.
    fn request(&self, id: &str) -> StoreResult<Option<Request>>;
    fn find_requests(&self, query: &RequestQuery) -> StoreResult<Vec<Request>>;
    /// Records an approving vote on a pending request. If it brings the approvals to `needed`,
    /// the request becomes approved and `grant` is inserted, atomically with the vote.
    fn approve_request(
        &self,
        vote: &Approval,
        needed: u32,
        grant: &Grant,
    ) -> StoreResult<Transition>;
    /// Records a denying vote on a pending request, which becomes denied.
    fn deny_request(&self, vote: &Approval) -> StoreResult<Transition>;
    /// Withdraws a pending request.
    fn cancel_request(&self, id: &str, by: &str, at: Millis) -> StoreResult<Transition>;
    /// Moves pending requests whose time is up to `expired`; returns them.
    fn expire_requests(&self, now: Millis) -> StoreResult<Vec<Request>>;
    /// How many requests wait for a decision.
    fn count_pending_requests(&self) -> StoreResult<usize>;

    fn insert_credential(&self, credential: &Credential) -> StoreResult<()>;
    /// The credential with this login, unless deleted.
    fn credential_by_login(&self, login: &str) -> StoreResult<Option<Credential>>;
    /// The credential with this id, unless deleted.
    fn credential(&self, id: &str) -> StoreResult<Option<Credential>>;
    fn find_credentials(&self, query: &CredentialQuery) -> StoreResult<Vec<Credential>>;
    /// Deletes a credential (it stops admitting at once); false if absent or already deleted.
    fn delete_credential(&self, id: &str, at: Millis) -> StoreResult<bool>;
    /// Deletes the credentials (of `subject`, or everyone's) no longer usable at `now`.
    fn prune_credentials(&self, subject: Option<&str>, now: Millis) -> StoreResult<usize>;

    /// Records a session's start (a session whose row exists already is left as it is).
    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    fn end_session(&self, id: &str, end: &SessionEnd) -> StoreResult<()>;
    /// Keeps, in the session's row, what cancels its upstream work; writes the row first if
    /// its start is not recorded yet.
    fn record_upstream_cancel(
        &self,
        session: &SessionRecord,
        cancel: &UpstreamCancel,
    ) -> StoreResult<()>;
    /// Marks the sessions a previous run of `replica` left open as ended, atomically; returns
    /// them, with what cancels their upstream work. Other replicas' sessions are left alone.
    fn end_orphaned_sessions(
        &self,
        replica: &str,
        at: Millis,
        reason: &str,
    ) -> StoreResult<Vec<OrphanedSession>>;
    /// Ends the open sessions of every replica whose last heartbeat is older than its
    /// `lost_after_ms` at `now`, atomically (replicas sweeping at once end each session once);
    /// returns them, with what cancels their upstream work.
    fn end_lost_replica_sessions(
        &self,
        now: Millis,
        reason: &str,
    ) -> StoreResult<Vec<OrphanedSession>>;
    /// Who holds the replica name `name`, and their last heartbeat.
    fn replica(&self, name: &str) -> StoreResult<Option<ReplicaBeat>>;
    /// Takes `beat.name` for `beat.instance`: when no one holds it (`previous` none), or when
    /// the instance `previous` still does. False if someone else took it first.
    fn claim_replica(&self, beat: &ReplicaBeat, previous: Option<&str>) -> StoreResult<bool>;
    /// Renews the heartbeat of `instance` holding `name`; false if another process holds the
    /// name now.
    fn replica_heartbeat(&self, name: &str, instance: &str, at: Millis) -> StoreResult<bool>;
    /// Asks whichever replica runs an open session to end it; false if it is not open (or a
    /// kill is already asked for).
    fn request_session_kill(&self, id: &str, reason: &str) -> StoreResult<bool>;
    /// Open sessions of `replica` someone asked to end, with the reason: `(id, reason)`.
    fn session_kills(&self, replica: &str) -> StoreResult<Vec<(String, String)>>;
    fn sessions(&self, open_only: bool) -> StoreResult<Vec<SessionRecord>>;
    fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    fn find_sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRecord>>;

    fn insert_token(&self, token: &ApiToken) -> StoreResult<()>;
    fn token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    /// False if absent or already revoked.
    fn revoke_token(&self, token_hash: &str, at: Millis) -> StoreResult<bool>;
    /// Revokes every live token of `subject` (its groups changed); returns how many.
    fn revoke_subject_tokens(&self, subject: &str, at: Millis) -> StoreResult<usize>;
    /// Forgets tokens that expired before `before`; returns how many.
    fn delete_expired_tokens(&self, before: Millis) -> StoreResult<usize>;

    /// A subject known from an OpenID Connect provider, as its last validated token showed it.
    fn external_subject(&self, name: &str) -> StoreResult<Option<ExternalSubject>>;
    /// Records (or replaces) what a provider's token proved about a subject; its refresh and
    /// renewal tokens are kept.
    fn put_external_subject(&self, subject: &ExternalSubject) -> StoreResult<()>;
    /// Sets (or, with `None`, forgets) an external subject's refresh token; with
    /// `renewal_hash`, also the hash of the renewal token its CLI holds (replacing any other).
    fn set_external_renewal(
        &self,
        name: &str,
        refresh_token: Option<&str>,
        renewal_hash: Option<&str>,
    ) -> StoreResult<()>;
    /// The subject whose CLI holds the renewal token with this hash, if it still may renew.
    fn external_renewal(&self, renewal_hash: &str) -> StoreResult<Option<ExternalRenewal>>;
    /// External subjects with a refresh token and a grant live at `now`: those whose groups
    /// jitgate re-reads on its own.
    fn external_renewals_with_grants(&self, now: Millis) -> StoreResult<Vec<ExternalRenewal>>;

    /// Appends events to the chain atomically, after whatever any process appended before.
    /// Returns the sequence number of the first (0 when `events` is empty).
    fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<i64>;
    /// Events with sequence numbers above `after`, in order, at most `limit`.
    fn audit_after(&self, after: i64, limit: usize) -> StoreResult<Vec<ChainedEvent>>;

    /// Woken when another process changed something sessions depend on (a grant ended, a kill
    /// was asked for); `None` when the store has no change feed and is only polled.
    fn changes(&self) -> Option<Arc<Notify>> {
        None
    }
}
