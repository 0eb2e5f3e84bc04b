//! The `sessions` table: one row per client connection, from start to end, with the replica
//! it runs on, what cancels its upstream work while it runs (a credential to the upstream:
//! kept here only, and forgotten when the session ends) and a kill asked for by anyone.

use super::rows::{after_at, after_id, announce, sql_limit};
use crate::model::{Millis, OrphanedSession, SessionEnd, SessionRecord, UpstreamCancel};
use crate::store::{SessionQuery, StoreError, StoreResult};
use tokio_postgres::{Client, Row};

const SESSION_COLUMNS: &str = "id, subject, grant_id, resource, client_addr, started_at, \
     ended_at, end_reason, bytes_from_client, bytes_to_client, replica";

fn session_from_row(r: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: r.try_get(0)?,
        subject: r.try_get(1)?,
        grant_id: r.try_get(2)?,
        resource: r.try_get(3)?,
        client_addr: r.try_get(4)?,
        started_at: r.try_get(5)?,
        ended_at: r.try_get(6)?,
        end_reason: r.try_get(7)?,
        bytes_from_client: r.try_get::<_, i64>(8)? as u64,
        bytes_to_client: r.try_get::<_, i64>(9)? as u64,
        replica: r.try_get(10)?,
    })
}

fn sessions_from(rows: Vec<Row>) -> StoreResult<Vec<SessionRecord>> {
    rows.iter().map(session_from_row).collect()
}

/// Records a session's start; with `cancel`, also (or only) what cancels its upstream work.
pub(super) async fn insert(
    client: &Client,
    s: &SessionRecord,
    cancel: Option<&UpstreamCancel>,
) -> StoreResult<()> {
    let cancel =
        cancel
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                table: "sessions",
                why: format!("upstream cancel: {e}"),
            })?;
    let on_conflict = if cancel.is_some() {
        "DO UPDATE SET upstream_cancel = excluded.upstream_cancel"
    } else {
        "DO NOTHING"
    };
    client
        .execute(
            &format!(
                "INSERT INTO sessions ({SESSION_COLUMNS}, upstream_cancel) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, 0, 0, $7, $8) \
                 ON CONFLICT (id) {on_conflict}"
            ),
            &[
                &s.id,
                &s.subject,
                &s.grant_id,
                &s.resource,
                &s.client_addr,
                &s.started_at,
                &s.replica,
                &cancel,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn end(client: &Client, id: &str, end: &SessionEnd) -> StoreResult<()> {
    client
        .execute(
            "UPDATE sessions SET ended_at = $2, end_reason = $3, bytes_from_client = $4, \
             bytes_to_client = $5, upstream_cancel = NULL WHERE id = $1 AND ended_at IS NULL",
            &[
                &id,
                &end.at,
                &end.reason,
                &(end.bytes_from_client as i64),
                &(end.bytes_to_client as i64),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn end_orphaned(
    client: &mut Client,
    replica: &str,
    at: Millis,
    reason: &str,
) -> StoreResult<Vec<OrphanedSession>> {
    end_open_where(client, "replica = $1", &replica, at, reason).await
}

/// Ends the open sessions of replicas whose heartbeat is older than their bound at `now`.
/// Replicas sweeping at once end each session once: the rows are locked, and a locked row
/// another sweep ended no longer matches.
pub(super) async fn end_lost(
    client: &mut Client,
    now: Millis,
    reason: &str,
) -> StoreResult<Vec<OrphanedSession>> {
    let lost = "replica IN (SELECT name FROM replicas WHERE heartbeat_at + lost_after_ms < $1)";
    end_open_where(client, lost, &now, now, reason).await
}

/// Ends, in one transaction, the open sessions `filter` (on `$1` = `arg`) picks; returns them
/// with what cancels their upstream work.
async fn end_open_where(
    client: &mut Client,
    filter: &str,
    arg: &(dyn tokio_postgres::types::ToSql + Sync),
    at: Millis,
    reason: &str,
) -> StoreResult<Vec<OrphanedSession>> {
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {SESSION_COLUMNS}, upstream_cancel FROM sessions \
                 WHERE ended_at IS NULL AND {filter} ORDER BY started_at, id FOR UPDATE"
            ),
            &[arg],
        )
        .await?;
    let mut orphans = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut record = session_from_row(r)?;
        record.ended_at = Some(at);
        record.end_reason = Some(reason.to_owned());
        let cancel: Option<String> = r.try_get(11)?;
        orphans.push(OrphanedSession {
            record,
            // An unreadable key cancels nothing; the session is closed all the same.
            upstream_cancel: cancel.and_then(|c| serde_json::from_str(&c).ok()),
        });
    }
    let ids: Vec<&str> = orphans.iter().map(|o| o.record.id.as_str()).collect();
    tx.execute(
        "UPDATE sessions SET ended_at = $1, end_reason = $2, upstream_cancel = NULL \
         WHERE id = ANY($3) AND ended_at IS NULL",
        &[&at, &reason, &ids],
    )
    .await?;
    tx.commit().await?;
    Ok(orphans)
}

/// Records the kill and announces it, in one transaction.
pub(super) async fn request_kill(client: &mut Client, id: &str, reason: &str) -> StoreResult<bool> {
    let tx = client.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE sessions SET kill_reason = $2 \
             WHERE id = $1 AND ended_at IS NULL AND kill_reason IS NULL",
            &[&id, &reason],
        )
        .await?;
    if changed == 1 {
        announce(&tx, &format!("session {id}")).await?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

pub(super) async fn kills(client: &Client, replica: &str) -> StoreResult<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT id, kill_reason FROM sessions \
             WHERE ended_at IS NULL AND replica = $1 AND kill_reason IS NOT NULL",
            &[&replica],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(super) async fn all(client: &Client, open_only: bool) -> StoreResult<Vec<SessionRecord>> {
    let filter = if open_only {
        "WHERE ended_at IS NULL"
    } else {
        ""
    };
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions {filter} ORDER BY started_at");
    sessions_from(client.query(&sql, &[]).await?)
}

pub(super) async fn get(client: &Client, id: &str) -> StoreResult<Option<SessionRecord>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    client
        .query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
}

pub(super) async fn find(client: &Client, q: &SessionQuery) -> StoreResult<Vec<SessionRecord>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE ($1::text IS NULL OR subject = $1) \
         AND (NOT $2::boolean OR ended_at IS NULL) \
         AND ($4::bigint IS NULL OR started_at < $4 OR (started_at = $4 AND id > $5)) \
         ORDER BY started_at DESC, id LIMIT $3"
    );
    let rows = client
        .query(
            &sql,
            &[
                &q.subject,
                &q.open_only,
                &sql_limit(q.limit),
                &after_at(&q.after),
                &after_id(&q.after),
            ],
        )
        .await?;
    sessions_from(rows)
}
