//! The SQLite store: one file, WAL journal so readers never wait for the writer, a busy timeout so
//! several processes (the server and admin commands) can share it. One module per table (or
//! pair of tables that change together); this one opens, migrates and dispatches.

mod audit;
mod credentials;
mod grants;
pub(crate) mod provisioning;
mod replicas;
mod requests;
mod rows;
mod sessions;
mod subjects;
#[cfg(test)]
pub(super) mod tests;
mod tokens;

use super::migrations::MIGRATIONS;
use super::{
    CredentialQuery, GrantQuery, RequestQuery, SessionQuery, Store, StoreError, StoreResult,
    Transition,
};
use crate::audit::{AuditEvent, ChainedEvent};
use crate::model::{
    ApiToken, Approval, Credential, ExternalRenewal, ExternalSubject, Grant, GrantEnd, Millis,
    OrphanedSession, ReplicaBeat, Request, SessionEnd, SessionRecord, UpstreamCancel,
};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the store at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    /// A private in-memory store, for tests.
    pub fn in_memory() -> StoreResult<SqliteStore> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> StoreResult<SqliteStore> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL returns the mode it set; in-memory databases answer "memory".
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on drop).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {known}"))?;
    tx.commit()?;
    Ok(())
}

impl Store for SqliteStore {
    fn insert_grant(&self, grant: &Grant) -> StoreResult<()> {
        grants::insert(&mut self.conn(), grant)
    }

    fn grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        grants::get(&self.conn(), id)
    }

    fn end_grant(&self, id: &str, end: &GrantEnd, at: Millis) -> StoreResult<bool> {
        grants::end(&self.conn(), id, end, at)
    }

    fn unended_grants(&self) -> StoreResult<Vec<Grant>> {
        grants::unended(&self.conn())
    }

    fn find_grants(&self, query: &GrantQuery) -> StoreResult<Vec<Grant>> {
        grants::find(&self.conn(), query)
    }

    fn insert_request(&self, request: &Request, grant: Option<&Grant>) -> StoreResult<()> {
        requests::insert(&mut self.conn(), request, grant)
    }

    fn request(&self, id: &str) -> StoreResult<Option<Request>> {
        requests::get(&self.conn(), id)
    }

    fn find_requests(&self, query: &RequestQuery) -> StoreResult<Vec<Request>> {
        requests::find(&self.conn(), query)
    }

    fn approve_request(
        &self,
        vote: &Approval,
        needed: u32,
        grant: &Grant,
    ) -> StoreResult<Transition> {
        requests::vote(&mut self.conn(), vote, Some((needed, grant)))
    }

    fn deny_request(&self, vote: &Approval) -> StoreResult<Transition> {
        requests::vote(&mut self.conn(), vote, None)
    }

    fn cancel_request(&self, id: &str, by: &str, at: Millis) -> StoreResult<Transition> {
        requests::cancel(&mut self.conn(), id, by, at)
    }

    fn expire_requests(&self, now: Millis) -> StoreResult<Vec<Request>> {
        requests::expire(&mut self.conn(), now)
    }

    fn count_pending_requests(&self) -> StoreResult<usize> {
        requests::count_pending(&self.conn())
    }

    fn insert_credential(&self, credential: &Credential) -> StoreResult<()> {
        credentials::insert(&self.conn(), credential)
    }

    fn credential_by_login(&self, login: &str) -> StoreResult<Option<Credential>> {
        credentials::find_where(&self.conn(), "login = ?1", login)
    }

    fn credential(&self, id: &str) -> StoreResult<Option<Credential>> {
        credentials::find_where(&self.conn(), "id = ?1", id)
    }

    fn find_credentials(&self, query: &CredentialQuery) -> StoreResult<Vec<Credential>> {
        credentials::find(&self.conn(), query)
    }

    fn delete_credential(&self, id: &str, at: Millis) -> StoreResult<bool> {
        credentials::delete(&self.conn(), id, at)
    }

    fn prune_credentials(&self, subject: Option<&str>, now: Millis) -> StoreResult<usize> {
        credentials::prune(&self.conn(), subject, now)
    }

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
        sessions::insert(&self.conn(), session)
    }

    fn end_session(&self, id: &str, end: &SessionEnd) -> StoreResult<()> {
        sessions::end(&self.conn(), id, end)
    }

    fn record_upstream_cancel(
        &self,
        session: &SessionRecord,
        cancel: &UpstreamCancel,
    ) -> StoreResult<()> {
        sessions::record_upstream_cancel(&self.conn(), session, cancel)
    }

    fn end_orphaned_sessions(
        &self,
        replica: &str,
        at: Millis,
        reason: &str,
    ) -> StoreResult<Vec<OrphanedSession>> {
        sessions::end_orphaned(&mut self.conn(), replica, at, reason)
    }

    fn request_session_kill(&self, id: &str, reason: &str) -> StoreResult<bool> {
        sessions::request_kill(&self.conn(), id, reason)
    }

    fn end_lost_replica_sessions(
        &self,
        now: Millis,
        reason: &str,
    ) -> StoreResult<Vec<OrphanedSession>> {
        sessions::end_lost(&mut self.conn(), now, reason)
    }

    fn replica(&self, name: &str) -> StoreResult<Option<ReplicaBeat>> {
        replicas::get(&self.conn(), name)
    }

    fn claim_replica(&self, beat: &ReplicaBeat, previous: Option<&str>) -> StoreResult<bool> {
        replicas::claim(&self.conn(), beat, previous)
    }

    fn replica_heartbeat(&self, name: &str, instance: &str, at: Millis) -> StoreResult<bool> {
        replicas::heartbeat(&self.conn(), name, instance, at)
    }

    fn session_kills(&self, replica: &str) -> StoreResult<Vec<(String, String)>> {
        sessions::kills(&self.conn(), replica)
    }

    fn sessions(&self, open_only: bool) -> StoreResult<Vec<SessionRecord>> {
        sessions::all(&self.conn(), open_only)
    }

    fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        sessions::get(&self.conn(), id)
    }

    fn find_sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRecord>> {
        sessions::find(&self.conn(), query)
    }

    fn insert_token(&self, token: &ApiToken) -> StoreResult<()> {
        tokens::insert(&self.conn(), token)
    }

    fn token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        tokens::get(&self.conn(), token_hash)
    }

    fn revoke_token(&self, token_hash: &str, at: Millis) -> StoreResult<bool> {
        tokens::revoke(&self.conn(), token_hash, at)
    }

    fn revoke_subject_tokens(&self, subject: &str, at: Millis) -> StoreResult<usize> {
        tokens::revoke_subject(&self.conn(), subject, at)
    }

    fn delete_expired_tokens(&self, before: Millis) -> StoreResult<usize> {
        tokens::delete_expired(&self.conn(), before)
    }

    fn external_subject(&self, name: &str) -> StoreResult<Option<ExternalSubject>> {
        subjects::get(&self.conn(), name)
    }

    fn put_external_subject(&self, subject: &ExternalSubject) -> StoreResult<()> {
        subjects::put(&self.conn(), subject)
    }

    fn set_external_renewal(
        &self,
        name: &str,
        refresh_token: Option<&str>,
        renewal_hash: Option<&str>,
    ) -> StoreResult<()> {
        subjects::set_renewal(&self.conn(), name, refresh_token, renewal_hash)
    }

    fn external_renewal(&self, renewal_hash: &str) -> StoreResult<Option<ExternalRenewal>> {
        subjects::renewal(&self.conn(), renewal_hash)
    }

    fn external_renewals_with_grants(&self, now: Millis) -> StoreResult<Vec<ExternalRenewal>> {
        subjects::renewals_with_grants(&self.conn(), now)
    }

    fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<i64> {
        audit::append(&mut self.conn(), events)
    }

    fn audit_after(&self, after: i64, limit: usize) -> StoreResult<Vec<ChainedEvent>> {
        audit::after(&self.conn(), after, limit)
    }
}
