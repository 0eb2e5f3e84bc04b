//! The `replicas` table: which process holds each replica name, and its last heartbeat.

use crate::model::{Millis, ReplicaBeat};
use crate::store::StoreResult;
use tokio_postgres::Client;

pub(super) async fn get(client: &Client, name: &str) -> StoreResult<Option<ReplicaBeat>> {
    let row = client
        .query_opt(
            "SELECT name, instance, heartbeat_at, lost_after_ms FROM replicas WHERE name = $1",
            &[&name],
        )
        .await?;
    row.map(|r| {
        Ok(ReplicaBeat {
            name: r.try_get(0)?,
            instance: r.try_get(1)?,
            heartbeat_at: r.try_get(2)?,
            lost_after_ms: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Takes the name when no one holds it (`previous` none) or `previous` still does.
pub(super) async fn claim(
    client: &Client,
    beat: &ReplicaBeat,
    previous: Option<&str>,
) -> StoreResult<bool> {
    let changed = match previous {
        None => {
            client
                .execute(
                    "INSERT INTO replicas (name, instance, heartbeat_at, lost_after_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                    &[
                        &beat.name,
                        &beat.instance,
                        &beat.heartbeat_at,
                        &beat.lost_after_ms,
                    ],
                )
                .await?
        }
        Some(previous) => {
            client
                .execute(
                    "UPDATE replicas SET instance = $2, heartbeat_at = $3, lost_after_ms = $4 \
                     WHERE name = $1 AND instance = $5",
                    &[
                        &beat.name,
                        &beat.instance,
                        &beat.heartbeat_at,
                        &beat.lost_after_ms,
                        &previous,
                    ],
                )
                .await?
        }
    };
    Ok(changed == 1)
}

/// Renews the heartbeat of `instance`; false if another process holds the name now.
pub(super) async fn heartbeat(
    client: &Client,
    name: &str,
    instance: &str,
    at: Millis,
) -> StoreResult<bool> {
    let changed = client
        .execute(
            "UPDATE replicas SET heartbeat_at = $3 WHERE name = $1 AND instance = $2",
            &[&name, &instance, &at],
        )
        .await?;
    Ok(changed == 1)
}
