//! Helpers every table of the PostgreSQL store shares: limits, JSON columns, corrupt rows.

use crate::model::Millis;
use crate::store::{Cursor, StoreError, StoreResult};

/// The time of a listing's `after` cursor (NULL: from the start).
pub(super) fn after_at(after: &Option<Cursor>) -> Option<Millis> {
    after.as_ref().map(|c| c.at)
}

/// The id of a listing's `after` cursor.
pub(super) fn after_id(after: &Option<Cursor>) -> Option<&str> {
    after.as_ref().map(|c| c.id.as_str())
}

/// PostgreSQL's "no limit" is `LIMIT NULL`.
pub(super) fn sql_limit(limit: usize) -> Option<i64> {
    (limit != 0).then(|| i64::try_from(limit).unwrap_or(i64::MAX))
}

pub(super) fn groups_from(table: &'static str, text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table,
        why: format!("groups: {e}"),
    })
}

pub(super) fn groups_json(groups: &[String]) -> String {
    // A list of strings always serialises; the fallback only keeps this free of panics.
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".into())
}

/// Announces a change to every replica's change feed, with the transaction (or statement)
/// it belongs to.
pub(super) async fn announce(
    client: &impl tokio_postgres::GenericClient,
    what: &str,
) -> StoreResult<()> {
    client
        .execute("SELECT pg_notify($1, $2)", &[&super::CHANNEL, &what])
        .await?;
    Ok(())
}
