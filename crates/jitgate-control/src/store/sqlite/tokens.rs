//! The `api_tokens` table: bearer tokens of the HTTP API, kept as hashes.

use super::rows::{corrupt, groups_from, groups_json};
use crate::model::{ApiToken, Millis};
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn insert(conn: &Connection, t: &ApiToken) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO api_tokens (token_hash, subject, groups, created_at, expires_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.token_hash,
            t.subject,
            groups_json(&t.groups),
            t.created_at,
            t.expires_at,
            t.revoked_at
        ],
    )?;
    Ok(())
}

pub(super) fn get(conn: &Connection, token_hash: &str) -> StoreResult<Option<ApiToken>> {
    conn.query_row(
        "SELECT token_hash, subject, groups, created_at, expires_at, revoked_at \
         FROM api_tokens WHERE token_hash = ?1",
        [token_hash],
        |r| {
            let groups: String = r.get(2)?;
            Ok(ApiToken {
                token_hash: r.get(0)?,
                subject: r.get(1)?,
                groups: groups_from(2, &groups)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(corrupt("api_tokens"))
}

pub(super) fn revoke(conn: &Connection, token_hash: &str, at: Millis) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
        params![token_hash, at],
    )? == 1)
}

pub(super) fn revoke_subject(conn: &Connection, subject: &str, at: Millis) -> StoreResult<usize> {
    Ok(conn.execute(
        "UPDATE api_tokens SET revoked_at = ?2 \
         WHERE subject = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        params![subject, at],
    )?)
}

pub(super) fn delete_expired(conn: &Connection, before: Millis) -> StoreResult<usize> {
    Ok(conn.execute("DELETE FROM api_tokens WHERE expires_at < ?1", [before])?)
}
