//! The SQLite store: one file, WAL journal so readers never wait for the writer, a busy timeout so
//! several processes (the server and admin commands) can share it.

use super::migrations::MIGRATIONS;
use super::sqlite_lifecycle as lifecycle;
use super::sqlite_subjects as subjects;
use super::{
    CredentialQuery, GrantQuery, RequestQuery, SessionQuery, Store, StoreError, StoreResult,
    Transition,
};
use crate::audit::{chain_hash, stored_detail, AuditEvent, ChainedEvent, GENESIS};
use crate::model::{
    ApiToken, Approval, Credential, ExternalRenewal, ExternalSubject, Grant, GrantEnd, Millis,
    Request, SessionEnd, SessionRecord,
};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
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

pub(super) const GRANT_COLUMNS: &str = "id, subject, resource, starts_at, expires_at, granted_by, \
     ended_at, end_reason, ended_by, read_only, request_id";

pub(super) fn grant_from_row(r: &Row<'_>) -> rusqlite::Result<Grant> {
    let reason: Option<String> = r.get(7)?;
    let by: Option<String> = r.get(8)?;
    let end = reason.map(|reason| match reason.as_str() {
        "expired" => GrantEnd::Expired,
        _ => GrantEnd::Revoked {
            by: by.unwrap_or_default(),
        },
    });
    Ok(Grant {
        id: r.get(0)?,
        subject: r.get(1)?,
        resource: r.get(2)?,
        starts_at: r.get(3)?,
        expires_at: r.get(4)?,
        granted_by: r.get(5)?,
        ended_at: r.get(6)?,
        end,
        read_only: r.get(9)?,
        request_id: r.get(10)?,
    })
}

/// Inserts a grant (and its subject) inside the caller's transaction.
pub(super) fn insert_grant_in(tx: &Connection, g: &Grant) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO subjects (name, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![g.subject, g.starts_at],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO grants ({GRANT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, NULL, ?7, ?8)"
        ),
        params![
            g.id,
            g.subject,
            g.resource,
            g.starts_at,
            g.expires_at,
            g.granted_by,
            g.read_only,
            g.request_id
        ],
    )?;
    Ok(())
}

pub(super) const SESSION_COLUMNS: &str =
    "id, subject, grant_id, resource, client_addr, started_at, ended_at, \
     end_reason, bytes_from_client, bytes_to_client";

pub(super) fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.get(0)?,
        subject: r.get(1)?,
        grant_id: r.get(2)?,
        resource: r.get(3)?,
        client_addr: r.get(4)?,
        started_at: r.get(5)?,
        ended_at: r.get(6)?,
        end_reason: r.get(7)?,
        bytes_from_client: r.get::<_, i64>(8)? as u64,
        bytes_to_client: r.get::<_, i64>(9)? as u64,
    })
}

impl Store for SqliteStore {
    fn insert_grant(&self, g: &Grant) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_grant_in(&tx, g)?;
        tx.commit()?;
        Ok(())
    }

    fn grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        let conn = self.conn();
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1");
        Ok(conn.query_row(&sql, [id], grant_from_row).optional()?)
    }

    fn end_grant(&self, id: &str, end: &GrantEnd, at: Millis) -> StoreResult<bool> {
        let by = match end {
            GrantEnd::Revoked { by } => Some(by.as_str()),
            GrantEnd::Expired => None,
        };
        let changed = self.conn().execute(
            "UPDATE grants SET ended_at = ?2, end_reason = ?3, ended_by = ?4 \
             WHERE id = ?1 AND ended_at IS NULL",
            params![id, at, end.as_str(), by],
        )?;
        Ok(changed == 1)
    }

    fn unended_grants(&self) -> StoreResult<Vec<Grant>> {
        let conn = self.conn();
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE ended_at IS NULL");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], grant_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_credential(&self, c: &Credential) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO credentials (id, login, grant_id, subject, resource, verifier, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![c.id, c.login, c.grant_id, c.subject, c.resource, c.verifier.encode(), c.created_at, c.expires_at],
        )?;
        Ok(())
    }

    fn credential_by_login(&self, login: &str) -> StoreResult<Option<Credential>> {
        lifecycle::credential_where(&self.conn(), "login = ?1", login)
    }

    fn credential(&self, id: &str) -> StoreResult<Option<Credential>> {
        lifecycle::credential_where(&self.conn(), "id = ?1", id)
    }

    fn find_credentials(&self, query: &CredentialQuery) -> StoreResult<Vec<Credential>> {
        lifecycle::find_credentials(&self.conn(), query)
    }

    fn delete_credential(&self, id: &str, at: Millis) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE credentials SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            params![id, at],
        )? == 1)
    }

    fn prune_credentials(&self, subject: Option<&str>, now: Millis) -> StoreResult<usize> {
        lifecycle::prune_credentials(&self.conn(), subject, now)
    }

    fn find_grants(&self, query: &GrantQuery) -> StoreResult<Vec<Grant>> {
        lifecycle::find_grants(&self.conn(), query)
    }

    fn insert_request(&self, request: &Request, grant: Option<&Grant>) -> StoreResult<()> {
        lifecycle::insert_request(&mut self.conn(), request, grant)
    }

    fn request(&self, id: &str) -> StoreResult<Option<Request>> {
        lifecycle::request(&self.conn(), id)
    }

    fn find_requests(&self, query: &RequestQuery) -> StoreResult<Vec<Request>> {
        lifecycle::find_requests(&self.conn(), query)
    }

    fn approve_request(
        &self,
        vote: &Approval,
        needed: u32,
        grant: &Grant,
    ) -> StoreResult<Transition> {
        lifecycle::vote(&mut self.conn(), vote, Some((needed, grant)))
    }

    fn deny_request(&self, vote: &Approval) -> StoreResult<Transition> {
        lifecycle::vote(&mut self.conn(), vote, None)
    }

    fn cancel_request(&self, id: &str, by: &str, at: Millis) -> StoreResult<Transition> {
        lifecycle::cancel_request(&mut self.conn(), id, by, at)
    }

    fn expire_requests(&self, now: Millis) -> StoreResult<Vec<Request>> {
        lifecycle::expire_requests(&mut self.conn(), now)
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

    fn insert_token(&self, t: &ApiToken) -> StoreResult<()> {
        lifecycle::insert_token(&self.conn(), t)
    }

    fn token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        lifecycle::token(&self.conn(), token_hash)
    }

    fn revoke_token(&self, token_hash: &str, at: Millis) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
            params![token_hash, at],
        )? == 1)
    }

    fn revoke_subject_tokens(&self, subject: &str, at: Millis) -> StoreResult<usize> {
        Ok(self.conn().execute(
            "UPDATE api_tokens SET revoked_at = ?2 \
             WHERE subject = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            params![subject, at],
        )?)
    }

    fn delete_expired_tokens(&self, before: Millis) -> StoreResult<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM api_tokens WHERE expires_at < ?1", [before])?)
    }

    fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        self.conn().execute(
            &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, 0, 0)"),
            params![s.id, s.subject, s.grant_id, s.resource, s.client_addr, s.started_at],
        )?;
        Ok(())
    }

    fn end_session(&self, id: &str, end: &SessionEnd) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE sessions SET ended_at = ?2, end_reason = ?3, bytes_from_client = ?4, \
             bytes_to_client = ?5 WHERE id = ?1 AND ended_at IS NULL",
            params![
                id,
                end.at,
                end.reason,
                end.bytes_from_client as i64,
                end.bytes_to_client as i64
            ],
        )?;
        Ok(())
    }

    fn end_orphaned_sessions(&self, at: Millis, reason: &str) -> StoreResult<usize> {
        Ok(self.conn().execute(
            "UPDATE sessions SET ended_at = ?1, end_reason = ?2 WHERE ended_at IS NULL",
            params![at, reason],
        )?)
    }

    fn sessions(&self, open_only: bool) -> StoreResult<Vec<SessionRecord>> {
        let conn = self.conn();
        let filter = if open_only {
            "WHERE ended_at IS NULL"
        } else {
            ""
        };
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions {filter} ORDER BY started_at");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], session_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let conn = self.conn();
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
        Ok(conn.query_row(&sql, [id], session_from_row).optional()?)
    }

    fn find_sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRecord>> {
        lifecycle::find_sessions(&self.conn(), query)
    }

    fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<i64> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading the chain head, so two processes can
        // never both extend the same head.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Cached: parsing it again for every batch of statements showed in profiles.
        let (mut seq, mut prev): (i64, String) = tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, GENESIS.to_owned()));
        let first = seq + 1;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO audit (seq, at, kind, subject, resource, grant_id, session_id, detail, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for e in events {
                seq += 1;
                let hash = chain_hash(&prev, seq, e);
                insert.execute(params![
                    seq,
                    e.at,
                    e.kind,
                    e.subject,
                    e.resource,
                    e.grant_id,
                    e.session_id,
                    e.detail.get(),
                    prev,
                    hash
                ])?;
                prev = hash;
            }
        }
        tx.commit()?;
        Ok(first)
    }

    fn audit_after(&self, after: i64, limit: usize) -> StoreResult<Vec<ChainedEvent>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, kind, subject, resource, grant_id, session_id, detail, prev_hash, hash \
             FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok(ChainedEvent {
                seq: r.get(0)?,
                event: AuditEvent {
                    at: r.get(1)?,
                    kind: r.get(2)?,
                    subject: r.get(3)?,
                    resource: r.get(4)?,
                    grant_id: r.get(5)?,
                    session_id: r.get(6)?,
                    detail: stored_detail(r.get(7)?),
                },
                prev_hash: r.get(8)?,
                hash: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ChainVerifier;
    use crate::scram::ScramVerifier;
    use serde_json::json;

    fn grant(id: &str, expires_at: Millis) -> Grant {
        Grant {
            id: id.into(),
            subject: "alice".into(),
            resource: "db".into(),
            starts_at: 1000,
            expires_at,
            granted_by: "admin".into(),
            ended_at: None,
            end: None,
            read_only: false,
            request_id: None,
        }
    }

    #[test]
    fn grants_end_once() {
        let store = SqliteStore::in_memory().unwrap();
        store.insert_grant(&grant("g1", 5000)).unwrap();
        assert_eq!(store.unended_grants().unwrap().len(), 1);
        let revoked = GrantEnd::Revoked { by: "dana".into() };
        assert!(store.end_grant("g1", &revoked, 2000).unwrap());
        assert!(!store.end_grant("g1", &GrantEnd::Expired, 3000).unwrap());
        let g = store.grant("g1").unwrap().unwrap();
        assert_eq!(g.end, Some(revoked));
        assert_eq!(g.ended_at, Some(2000));
        assert!(store.unended_grants().unwrap().is_empty());
    }

    #[test]
    fn credentials_are_found_by_login_with_their_verifier() {
        let store = SqliteStore::in_memory().unwrap();
        store.insert_grant(&grant("g1", 5000)).unwrap();
        let verifier = ScramVerifier::derive("secret", b"salt", 64);
        let c = Credential {
            id: "c1".into(),
            login: "alice-abc".into(),
            grant_id: "g1".into(),
            subject: "alice".into(),
            resource: "db".into(),
            verifier,
            created_at: 1000,
            expires_at: 5000,
        };
        store.insert_credential(&c).unwrap();
        assert_eq!(store.credential_by_login("alice-abc").unwrap(), Some(c));
        assert_eq!(store.credential_by_login("nobody").unwrap(), None);
    }

    #[test]
    fn audit_appends_chain_across_batches_and_verify() {
        let store = SqliteStore::in_memory().unwrap();
        for batch in 0..3 {
            let events: Vec<_> = (0..4)
                .map(|i| AuditEvent::new("statement", json!({"batch": batch, "i": i})))
                .collect();
            store.append_audit(&events).unwrap();
        }
        let stored = store.audit_after(0, 100).unwrap();
        assert_eq!(stored.len(), 12);
        let mut v = ChainVerifier::default();
        for e in &stored {
            v.check(e).unwrap();
        }
        assert_eq!(store.audit_after(10, 100).unwrap().len(), 2);
    }

    #[test]
    fn sessions_open_and_end() {
        let store = SqliteStore::in_memory().unwrap();
        let s = SessionRecord {
            id: "s1".into(),
            subject: "alice".into(),
            grant_id: "g1".into(),
            resource: "db".into(),
            client_addr: "127.0.0.1:5000".into(),
            started_at: 1,
            ended_at: None,
            end_reason: None,
            bytes_from_client: 0,
            bytes_to_client: 0,
        };
        store.insert_session(&s).unwrap();
        assert_eq!(store.sessions(true).unwrap().len(), 1);
        let end = SessionEnd {
            at: 2,
            reason: "client closed".into(),
            bytes_from_client: 10,
            bytes_to_client: 20,
        };
        store.end_session("s1", &end).unwrap();
        assert!(store.sessions(true).unwrap().is_empty());
        let all = store.sessions(false).unwrap();
        assert_eq!(all[0].bytes_to_client, 20);
        assert_eq!(all[0].end_reason.as_deref(), Some("client closed"));
    }

    #[test]
    fn reopening_a_file_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        SqliteStore::open(&path)
            .unwrap()
            .insert_grant(&grant("g1", 5))
            .unwrap();
        let again = SqliteStore::open(&path).unwrap();
        assert!(again.grant("g1").unwrap().is_some());
    }
}
