//! The `credentials` table: what a client logs in with, kept as SCRAM verifiers (and, for
//! resources that accept it, `mysql_native_password` hashes); deleted credentials stay for the
//! record but never log in.

use super::rows::{after_at, after_id, bad_column, corrupt, sql_limit};
use crate::model::{Credential, Millis};
use crate::native_password::NativePasswordHash;
use crate::scram::ScramVerifier;
use crate::store::{CredentialQuery, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

const CREDENTIAL_COLUMNS: &str =
    "c.id, c.login, c.grant_id, c.subject, c.resource, c.verifier, c.created_at, c.expires_at, \
     c.native_password";

fn credential_from_row(r: &Row<'_>) -> rusqlite::Result<Credential> {
    let id: String = r.get(0)?;
    let verifier: String = r.get(5)?;
    let verifier = ScramVerifier::decode(&verifier)
        .ok_or_else(|| bad_column(5, format!("verifier of {id} is not SCRAM-SHA-256")))?;
    let native_password = match r.get::<_, Option<String>>(8)? {
        None => None,
        Some(text) => Some(
            NativePasswordHash::decode(&text)
                .ok_or_else(|| bad_column(8, format!("native_password of {id} is not one")))?,
        ),
    };
    Ok(Credential {
        id,
        login: r.get(1)?,
        grant_id: r.get(2)?,
        subject: r.get(3)?,
        resource: r.get(4)?,
        verifier,
        native_password,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

/// The credential matching `clause` (on `c.`-less column names, one parameter), unless deleted.
pub(super) fn find_where(
    conn: &Connection,
    clause: &str,
    value: &str,
) -> StoreResult<Option<Credential>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c WHERE c.{clause} AND c.deleted_at IS NULL"
    );
    conn.query_row(&sql, [value], credential_from_row)
        .optional()
        .map_err(corrupt("credentials"))
}

pub(super) fn insert(conn: &Connection, c: &Credential) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO credentials (id, login, grant_id, subject, resource, verifier, created_at, expires_at, \
         native_password) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![c.id, c.login, c.grant_id, c.subject, c.resource, c.verifier.encode(), c.created_at, c.expires_at,
                c.native_password.as_ref().map(NativePasswordHash::encode)],
    )?;
    Ok(())
}

pub(super) fn delete(conn: &Connection, id: &str, at: Millis) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE credentials SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, at],
    )? == 1)
}

pub(super) fn find(conn: &Connection, q: &CredentialQuery) -> StoreResult<Vec<Credential>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c JOIN grants g ON g.id = c.grant_id \
         WHERE c.deleted_at IS NULL AND (?1 IS NULL OR c.subject = ?1) \
         AND (?2 IS NULL OR c.expires_at <= ?2 OR g.ended_at IS NOT NULL) \
         AND (?4 IS NULL OR c.created_at < ?4 OR (c.created_at = ?4 AND c.id > ?5)) \
         ORDER BY c.created_at DESC, c.id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.subject,
            q.unusable_at,
            sql_limit(q.limit),
            after_at(&q.after),
            after_id(&q.after)
        ],
        credential_from_row,
    )?;
    rows.collect::<Result<_, _>>()
        .map_err(corrupt("credentials"))
}

pub(super) fn prune(conn: &Connection, subject: Option<&str>, now: Millis) -> StoreResult<usize> {
    Ok(conn.execute(
        "UPDATE credentials SET deleted_at = ?2 WHERE deleted_at IS NULL \
         AND (?1 IS NULL OR subject = ?1) \
         AND (expires_at <= ?2 OR grant_id IN (SELECT id FROM grants WHERE ended_at IS NOT NULL))",
        params![subject, now],
    )?)
}
