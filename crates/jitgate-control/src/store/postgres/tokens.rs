//! The `api_tokens` table: bearer tokens of the HTTP API, kept as hashes.

use super::rows::{groups_from, groups_json};
use crate::model::{ApiToken, Millis};
use crate::store::StoreResult;
use tokio_postgres::Client;

pub(super) async fn insert(client: &Client, t: &ApiToken) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO api_tokens (token_hash, subject, groups, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &t.token_hash,
                &t.subject,
                &groups_json(&t.groups),
                &t.created_at,
                &t.expires_at,
                &t.revoked_at,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn get(client: &Client, token_hash: &str) -> StoreResult<Option<ApiToken>> {
    let row = client
        .query_opt(
            "SELECT token_hash, subject, groups, created_at, expires_at, revoked_at \
             FROM api_tokens WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let groups: String = r.try_get(2)?;
    Ok(Some(ApiToken {
        token_hash: r.try_get(0)?,
        subject: r.try_get(1)?,
        groups: groups_from("api_tokens", &groups)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
    }))
}

pub(super) async fn revoke(client: &Client, token_hash: &str, at: Millis) -> StoreResult<bool> {
    Ok(client
        .execute(
            "UPDATE api_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            &[&token_hash, &at],
        )
        .await?
        == 1)
}

pub(super) async fn revoke_subject(
    client: &Client,
    subject: &str,
    at: Millis,
) -> StoreResult<usize> {
    Ok(client
        .execute(
            "UPDATE api_tokens SET revoked_at = $2 \
             WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2",
            &[&subject, &at],
        )
        .await? as usize)
}

pub(super) async fn delete_expired(client: &Client, before: Millis) -> StoreResult<usize> {
    Ok(client
        .execute("DELETE FROM api_tokens WHERE expires_at < $1", &[&before])
        .await? as usize)
}
