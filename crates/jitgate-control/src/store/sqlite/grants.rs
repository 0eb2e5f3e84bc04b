//! The `grants` table: approved, time-bounded rights, and their early ends.

use super::rows::{after_at, after_id, sql_limit};
use crate::model::{Grant, GrantEnd, Millis};
use crate::store::{GrantQuery, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

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

pub(super) fn insert(conn: &mut Connection, g: &Grant) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_grant_in(&tx, g)?;
    tx.commit()?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> StoreResult<Option<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], grant_from_row).optional()?)
}

pub(super) fn end(conn: &Connection, id: &str, end: &GrantEnd, at: Millis) -> StoreResult<bool> {
    let by = match end {
        GrantEnd::Revoked { by } => Some(by.as_str()),
        GrantEnd::Expired => None,
    };
    let changed = conn.execute(
        "UPDATE grants SET ended_at = ?2, end_reason = ?3, ended_by = ?4 \
         WHERE id = ?1 AND ended_at IS NULL",
        params![id, at, end.as_str(), by],
    )?;
    Ok(changed == 1)
}

pub(super) fn unended(conn: &Connection) -> StoreResult<Vec<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE ended_at IS NULL");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], grant_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn find(conn: &Connection, q: &GrantQuery) -> StoreResult<Vec<Grant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE (?1 IS NULL OR subject = ?1) \
         AND (?2 IS NULL OR resource = ?2) \
         AND (?3 IS NULL OR (ended_at IS NULL AND starts_at <= ?3 AND expires_at > ?3)) \
         AND (?5 IS NULL OR starts_at < ?5 OR (starts_at = ?5 AND id > ?6)) \
         ORDER BY starts_at DESC, id LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.subject,
            q.resource,
            q.live_at,
            sql_limit(q.limit),
            after_at(&q.after),
            after_id(&q.after)
        ],
        grant_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
