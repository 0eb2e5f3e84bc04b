//! The `external_subjects` table: subjects known from OpenID Connect providers, and what
//! renews them.

use super::rows::{groups_from, groups_json};
use crate::model::{ExternalRenewal, ExternalSubject, Millis};
use crate::store::StoreResult;
use tokio_postgres::{Client, Row};

pub(super) async fn get(client: &Client, name: &str) -> StoreResult<Option<ExternalSubject>> {
    let row = client
        .query_opt(
            "SELECT name, provider, groups, last_seen FROM external_subjects WHERE name = $1",
            &[&name],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let groups: String = r.try_get(2)?;
    Ok(Some(ExternalSubject {
        name: r.try_get(0)?,
        provider: r.try_get(1)?,
        groups: groups_from("external_subjects", &groups)?,
        last_seen: r.try_get(3)?,
    }))
}

pub(super) async fn put(client: &Client, s: &ExternalSubject) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO external_subjects (name, provider, groups, last_seen) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET provider = $2, groups = $3, last_seen = $4",
            &[&s.name, &s.provider, &groups_json(&s.groups), &s.last_seen],
        )
        .await?;
    Ok(())
}

/// With `renewal_hash` None, only the refresh token changes (a rotation); with one, both.
pub(super) async fn set_renewal(
    client: &Client,
    name: &str,
    refresh_token: Option<&str>,
    renewal_hash: Option<&str>,
) -> StoreResult<()> {
    match renewal_hash {
        Some(hash) => {
            client
                .execute(
                    "UPDATE external_subjects SET refresh_token = $2, renewal_hash = $3 \
                     WHERE name = $1",
                    &[&name, &refresh_token, &hash],
                )
                .await?
        }
        None => {
            client
                .execute(
                    "UPDATE external_subjects SET refresh_token = $2 WHERE name = $1",
                    &[&name, &refresh_token],
                )
                .await?
        }
    };
    Ok(())
}

fn renewal_from_row(r: &Row) -> StoreResult<ExternalRenewal> {
    Ok(ExternalRenewal {
        subject: r.try_get(0)?,
        provider: r.try_get(1)?,
        refresh_token: r.try_get(2)?,
        last_seen: r.try_get(3)?,
    })
}

pub(super) async fn renewal(client: &Client, hash: &str) -> StoreResult<Option<ExternalRenewal>> {
    client
        .query_opt(
            "SELECT name, provider, refresh_token, last_seen FROM external_subjects \
             WHERE renewal_hash = $1 AND refresh_token IS NOT NULL",
            &[&hash],
        )
        .await?
        .as_ref()
        .map(renewal_from_row)
        .transpose()
}

pub(super) async fn renewals_with_grants(
    client: &Client,
    now: Millis,
) -> StoreResult<Vec<ExternalRenewal>> {
    let rows = client
        .query(
            "SELECT e.name, e.provider, e.refresh_token, e.last_seen FROM external_subjects e \
             WHERE e.refresh_token IS NOT NULL AND EXISTS (SELECT 1 FROM grants g \
               WHERE g.subject = e.name AND g.ended_at IS NULL AND g.expires_at > $1) \
             ORDER BY e.last_seen",
            &[&now],
        )
        .await?;
    rows.iter().map(renewal_from_row).collect()
}
