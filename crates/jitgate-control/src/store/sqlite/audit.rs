//! The `audit` table: the hash-chained trail, appended to atomically by any process.

use crate::audit::{chain_hash, stored_detail, AuditEvent, ChainedEvent, GENESIS};
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub(super) fn append(conn: &mut Connection, events: &[AuditEvent]) -> StoreResult<i64> {
    if events.is_empty() {
        return Ok(0);
    }
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

pub(super) fn after(conn: &Connection, after: i64, limit: usize) -> StoreResult<Vec<ChainedEvent>> {
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
