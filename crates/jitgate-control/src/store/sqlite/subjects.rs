//! The `external_subjects` table: subjects known from OpenID Connect providers, and what
//! renews them.

use super::rows::{groups_from, groups_json};
use crate::model::{ExternalRenewal, ExternalSubject, Millis};
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(super) fn get(conn: &Connection, name: &str) -> StoreResult<Option<ExternalSubject>> {
    Ok(conn
        .query_row(
            "SELECT name, provider, groups, last_seen FROM external_subjects WHERE name = ?1",
            [name],
            |r| {
                let groups: String = r.get(2)?;
                Ok(ExternalSubject {
                    name: r.get(0)?,
                    provider: r.get(1)?,
                    groups: groups_from(2, &groups)?,
                    last_seen: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn put(conn: &Connection, s: &ExternalSubject) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO external_subjects (name, provider, groups, last_seen) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (name) DO UPDATE SET provider = ?2, groups = ?3, last_seen = ?4",
        params![s.name, s.provider, groups_json(&s.groups), s.last_seen],
    )?;
    Ok(())
}

/// With `renewal_hash` None, only the refresh token changes (a rotation); with one, both.
pub(super) fn set_renewal(
    conn: &Connection,
    name: &str,
    refresh_token: Option<&str>,
    renewal_hash: Option<&str>,
) -> StoreResult<()> {
    match renewal_hash {
        Some(hash) => conn.execute(
            "UPDATE external_subjects SET refresh_token = ?2, renewal_hash = ?3 WHERE name = ?1",
            params![name, refresh_token, hash],
        )?,
        None => conn.execute(
            "UPDATE external_subjects SET refresh_token = ?2 WHERE name = ?1",
            params![name, refresh_token],
        )?,
    };
    Ok(())
}

fn renewal_from_row(r: &Row<'_>) -> rusqlite::Result<ExternalRenewal> {
    Ok(ExternalRenewal {
        subject: r.get(0)?,
        provider: r.get(1)?,
        refresh_token: r.get(2)?,
        last_seen: r.get(3)?,
    })
}

pub(super) fn renewal(conn: &Connection, hash: &str) -> StoreResult<Option<ExternalRenewal>> {
    Ok(conn
        .query_row(
            "SELECT name, provider, refresh_token, last_seen FROM external_subjects \
             WHERE renewal_hash = ?1 AND refresh_token IS NOT NULL",
            [hash],
            renewal_from_row,
        )
        .optional()?)
}

pub(super) fn renewals_with_grants(
    conn: &Connection,
    now: Millis,
) -> StoreResult<Vec<ExternalRenewal>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.name, e.provider, e.refresh_token, e.last_seen FROM external_subjects e \
         WHERE e.refresh_token IS NOT NULL AND EXISTS (SELECT 1 FROM grants g \
           WHERE g.subject = e.name AND g.ended_at IS NULL AND g.expires_at > ?1) \
         ORDER BY e.last_seen",
    )?;
    let rows = stmt.query_map([now], renewal_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
