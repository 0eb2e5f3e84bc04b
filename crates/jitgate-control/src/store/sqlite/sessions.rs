//! The `sessions` table: one row per client connection, from start to end, with what cancels
//! its upstream work while it runs (a credential to the upstream: kept here only, and
//! forgotten when the session ends).

use super::rows::{after_at, after_id, sql_limit};
use crate::model::{Millis, OrphanedSession, SessionEnd, SessionRecord, UpstreamCancel};
use crate::store::{SessionQuery, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

pub(super) const SESSION_COLUMNS: &str =
    "id, subject, grant_id, resource, client_addr, started_at, ended_at, \
     end_reason, bytes_from_client, bytes_to_client, replica";

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
        replica: r.get(10)?,
    })
}

pub(super) fn insert(conn: &Connection, s: &SessionRecord) -> StoreResult<()> {
    conn.execute(
        &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, 0, 0, ?7) \
                  ON CONFLICT (id) DO NOTHING"),
        params![s.id, s.subject, s.grant_id, s.resource, s.client_addr, s.started_at, s.replica],
    )?;
    Ok(())
}

pub(super) fn end(conn: &Connection, id: &str, end: &SessionEnd) -> StoreResult<()> {
    conn.execute(
        "UPDATE sessions SET ended_at = ?2, end_reason = ?3, bytes_from_client = ?4, \
         bytes_to_client = ?5, upstream_cancel = NULL WHERE id = ?1 AND ended_at IS NULL",
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

pub(super) fn record_upstream_cancel(
    conn: &Connection,
    s: &SessionRecord,
    cancel: &UpstreamCancel,
) -> StoreResult<()> {
    let cancel = serde_json::to_string(cancel).map_err(|e| StoreError::Corrupt {
        table: "sessions",
        why: format!("upstream cancel: {e}"),
    })?;
    conn.execute(
        &format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}, upstream_cancel) \
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, 0, 0, ?7, ?8) \
                  ON CONFLICT (id) DO UPDATE SET upstream_cancel = excluded.upstream_cancel"
        ),
        params![
            s.id,
            s.subject,
            s.grant_id,
            s.resource,
            s.client_addr,
            s.started_at,
            s.replica,
            cancel
        ],
    )?;
    Ok(())
}

pub(super) fn end_orphaned(
    conn: &mut Connection,
    replica: &str,
    at: Millis,
    reason: &str,
) -> StoreResult<Vec<OrphanedSession>> {
    end_open_where(conn, "replica = ?1", &replica, at, reason)
}

/// Ends the open sessions of replicas whose heartbeat is older than their bound at `now`.
pub(super) fn end_lost(
    conn: &mut Connection,
    now: Millis,
    reason: &str,
) -> StoreResult<Vec<OrphanedSession>> {
    let lost = "replica IN (SELECT name FROM replicas WHERE heartbeat_at + lost_after_ms < ?1)";
    end_open_where(conn, lost, &now, now, reason)
}

/// Ends, in one transaction, the open sessions `filter` (on `?1` = `arg`) picks; returns them
/// with what cancels their upstream work.
fn end_open_where(
    conn: &mut Connection,
    filter: &str,
    arg: &dyn rusqlite::ToSql,
    at: Millis,
    reason: &str,
) -> StoreResult<Vec<OrphanedSession>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let orphans = {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, upstream_cancel FROM sessions \
             WHERE ended_at IS NULL AND {filter} ORDER BY started_at, id"
        );
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt.query_map([arg], |r| {
            let mut record = session_from_row(r)?;
            record.ended_at = Some(at);
            record.end_reason = Some(reason.to_owned());
            let cancel: Option<String> = r.get(11)?;
            Ok(OrphanedSession {
                record,
                // An unreadable key cancels nothing; the session is closed all the same.
                upstream_cancel: cancel.and_then(|c| serde_json::from_str(&c).ok()),
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for orphan in &orphans {
        tx.execute(
            "UPDATE sessions SET ended_at = ?1, end_reason = ?2, upstream_cancel = NULL \
             WHERE id = ?3 AND ended_at IS NULL",
            params![at, reason, orphan.record.id],
        )?;
    }
    tx.commit()?;
    Ok(orphans)
}

pub(super) fn all(conn: &Connection, open_only: bool) -> StoreResult<Vec<SessionRecord>> {
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

pub(super) fn get(conn: &Connection, id: &str) -> StoreResult<Option<SessionRecord>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], session_from_row).optional()?)
}

pub(super) fn find(conn: &Connection, q: &SessionQuery) -> StoreResult<Vec<SessionRecord>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE (?1 IS NULL OR subject = ?1) \
         AND (?2 = 0 OR ended_at IS NULL) \
         AND (?4 IS NULL OR started_at < ?4 OR (started_at = ?4 AND id > ?5)) \
         ORDER BY started_at DESC, id LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            q.subject,
            q.open_only,
            sql_limit(q.limit),
            after_at(&q.after),
            after_id(&q.after)
        ],
        session_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn request_kill(conn: &Connection, id: &str, reason: &str) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE sessions SET kill_reason = ?2 \
         WHERE id = ?1 AND ended_at IS NULL AND kill_reason IS NULL",
        params![id, reason],
    )? == 1)
}

pub(super) fn kills(conn: &Connection, replica: &str) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kill_reason FROM sessions \
         WHERE ended_at IS NULL AND replica = ?1 AND kill_reason IS NOT NULL",
    )?;
    let rows = stmt.query_map([replica], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
