//! The `replicas` table: which process holds each replica name, and its last heartbeat.

use crate::model::{Millis, ReplicaBeat};
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn get(conn: &Connection, name: &str) -> StoreResult<Option<ReplicaBeat>> {
    Ok(conn
        .query_row(
            "SELECT name, instance, heartbeat_at, lost_after_ms FROM replicas WHERE name = ?1",
            [name],
            |r| {
                Ok(ReplicaBeat {
                    name: r.get(0)?,
                    instance: r.get(1)?,
                    heartbeat_at: r.get(2)?,
                    lost_after_ms: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Takes the name when no one holds it (`previous` none) or `previous` still does.
pub(super) fn claim(
    conn: &Connection,
    beat: &ReplicaBeat,
    previous: Option<&str>,
) -> StoreResult<bool> {
    let changed = match previous {
        None => conn.execute(
            "INSERT INTO replicas (name, instance, heartbeat_at, lost_after_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
            params![
                beat.name,
                beat.instance,
                beat.heartbeat_at,
                beat.lost_after_ms
            ],
        )?,
        Some(previous) => conn.execute(
            "UPDATE replicas SET instance = ?2, heartbeat_at = ?3, lost_after_ms = ?4 \
             WHERE name = ?1 AND instance = ?5",
            params![
                beat.name,
                beat.instance,
                beat.heartbeat_at,
                beat.lost_after_ms,
                previous
            ],
        )?,
    };
    Ok(changed == 1)
}

/// Renews the heartbeat of `instance`; false if another process holds the name now.
pub(super) fn heartbeat(
    conn: &Connection,
    name: &str,
    instance: &str,
    at: Millis,
) -> StoreResult<bool> {
    let changed = conn.execute(
        "UPDATE replicas SET heartbeat_at = ?3 WHERE name = ?1 AND instance = ?2",
        params![name, instance, at],
    )?;
    Ok(changed == 1)
}
