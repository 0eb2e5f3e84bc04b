//! Where the control plane keeps its state. SQLite by default; the trait is the seam for a
//! PostgreSQL backend shared by several gateway replicas.

mod migrations;
mod sqlite;

pub use sqlite::SqliteStore;

use crate::audit::{AuditEvent, ChainedEvent};
use crate::model::{Credential, Grant, GrantEnd, Millis, SessionEnd, SessionRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: corrupt row in {table}: {why}")]
    Corrupt { table: &'static str, why: String },
    #[error("store: schema version {found} is newer than this jitgate understands ({known})")]
    TooNew { found: i64, known: i64 },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Storage of subjects, grants, credentials, sessions and audit events.
/// Implementations are safe to share between threads and processes.
pub trait Store: Send + Sync + 'static {
    fn insert_grant(&self, grant: &Grant) -> StoreResult<()>;
    fn grant(&self, id: &str) -> StoreResult<Option<Grant>>;
    /// Ends a grant that has not ended yet; false if it was already ended or does not exist.
    fn end_grant(&self, id: &str, end: &GrantEnd, at: Millis) -> StoreResult<bool>;
    /// Grants not ended in the store (some may be past their expiry, awaiting enforcement).
    fn unended_grants(&self) -> StoreResult<Vec<Grant>>;

    fn insert_credential(&self, credential: &Credential) -> StoreResult<()>;
    fn credential_by_login(&self, login: &str) -> StoreResult<Option<Credential>>;

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    fn end_session(&self, id: &str, end: &SessionEnd) -> StoreResult<()>;
    /// Marks sessions left open by a previous run as ended; returns how many.
    fn end_orphaned_sessions(&self, at: Millis, reason: &str) -> StoreResult<usize>;
    fn sessions(&self, open_only: bool) -> StoreResult<Vec<SessionRecord>>;

    /// Appends events to the chain atomically, after whatever any process appended before.
    fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// Events with sequence numbers above `after`, in order, at most `limit`.
    fn audit_after(&self, after: i64, limit: usize) -> StoreResult<Vec<ChainedEvent>>;
}
