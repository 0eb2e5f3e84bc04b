//! The `grants` table: approved, time-bounded rights, and their early ends. An end is
//! announced on the change feed.

use super::rows::{after_at, after_id, announce, sql_limit};
use crate::model::{Grant, GrantEnd, Millis};
use crate::store::{GrantQuery, StoreResult};
use tokio_postgres::{Client, GenericClient, Row};

pub(super) const GRANT_COLUMNS: &str = "id, subject, resource, starts_at, expires_at, granted_by, \
     ended_at, end_reason, ended_by, read_only, request_id";

pub(super) fn grant_from_row(r: &Row) -> StoreResult<Grant> {
    let reason: Option<String> = r.try_get(7)?;
    let by: Option<String> = r.try_get(8)?;
    let end = reason.map(|reason| match reason.as_str() {
        "expired" => GrantEnd::Expired,
        _ => GrantEnd::Revoked {
            by: by.unwrap_or_default(),
        },
    });
    Ok(Grant {
        id: r.try_get(0)?,
        subject: r.try_get(1)?,
        resource: r.try_get(2)?,
        starts_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        granted_by: r.try_get(5)?,
        ended_at: r.try_get(6)?,
        end,
        read_only: r.try_get(9)?,
        request_id: r.try_get(10)?,
    })
}

fn grants_from(rows: Vec<Row>) -> StoreResult<Vec<Grant>> {
    rows.iter().map(grant_from_row).collect()
}

/// Inserts a grant (and its subject) inside the caller's transaction.
pub(super) async fn insert_grant_in(tx: &impl GenericClient, g: &Grant) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO subjects (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&g.subject, &g.starts_at],
    )
    .await?;
    tx.execute(
        &format!(
            "INSERT INTO grants ({GRANT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7, $8)"
        ),
        &[
            &g.id,
            &g.subject,
            &g.resource,
            &g.starts_at,
            &g.expires_at,
            &g.granted_by,
            &g.read_only,
            &g.request_id,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn insert(client: &mut Client, g: &Grant) -> StoreResult<()> {
    let tx = client.transaction().await?;
    insert_grant_in(&tx, g).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get(client: &Client, id: &str) -> StoreResult<Option<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1");
    client
        .query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(grant_from_row)
        .transpose()
}

/// Ends the grant and announces it, in one transaction: a replica that hears of it finds it
/// ended.
pub(super) async fn end(
    client: &mut Client,
    id: &str,
    end: &GrantEnd,
    at: Millis,
) -> StoreResult<bool> {
    let by = match end {
        GrantEnd::Revoked { by } => Some(by.as_str()),
        GrantEnd::Expired => None,
    };
    let tx = client.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE grants SET ended_at = $2, end_reason = $3, ended_by = $4 \
             WHERE id = $1 AND ended_at IS NULL",
            &[&id, &at, &end.as_str(), &by],
        )
        .await?;
    if changed == 1 {
        announce(&tx, &format!("grant {id}")).await?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

pub(super) async fn unended(client: &Client) -> StoreResult<Vec<Grant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE ended_at IS NULL");
    grants_from(client.query(&sql, &[]).await?)
}

pub(super) async fn find(client: &Client, q: &GrantQuery) -> StoreResult<Vec<Grant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE ($1::text IS NULL OR subject = $1) \
         AND ($2::text IS NULL OR resource = $2) \
         AND ($3::bigint IS NULL OR (ended_at IS NULL AND starts_at <= $3 AND expires_at > $3)) \
         AND ($5::bigint IS NULL OR starts_at < $5 OR (starts_at = $5 AND id > $6)) \
         ORDER BY starts_at DESC, id LIMIT $4"
    );
    let rows = client
        .query(
            &sql,
            &[
                &q.subject,
                &q.resource,
                &q.live_at,
                &sql_limit(q.limit),
                &after_at(&q.after),
                &after_id(&q.after),
            ],
        )
        .await?;
    grants_from(rows)
}
