//! The `credentials` table: what a client logs in with, kept as SCRAM verifiers (and, for
//! resources that accept it, `mysql_native_password` hashes); deleted credentials stay for the
//! record but never log in.

use super::rows::{after_at, after_id, sql_limit};
use crate::model::{Credential, Millis};
use crate::native_password::NativePasswordHash;
use crate::scram::ScramVerifier;
use crate::store::{CredentialQuery, StoreError, StoreResult};
use tokio_postgres::{Client, Row};

const CREDENTIAL_COLUMNS: &str =
    "c.id, c.login, c.grant_id, c.subject, c.resource, c.verifier, c.created_at, c.expires_at, \
     c.native_password";

fn credential_from_row(r: &Row) -> StoreResult<Credential> {
    let id: String = r.try_get(0)?;
    let verifier: String = r.try_get(5)?;
    let verifier = ScramVerifier::decode(&verifier).ok_or_else(|| StoreError::Corrupt {
        table: "credentials",
        why: format!("verifier of {id} is not SCRAM-SHA-256"),
    })?;
    let native_password = match r.try_get::<_, Option<String>>(8)? {
        None => None,
        Some(text) => {
            Some(
                NativePasswordHash::decode(&text).ok_or_else(|| StoreError::Corrupt {
                    table: "credentials",
                    why: format!("native_password of {id} is not one"),
                })?,
            )
        }
    };
    Ok(Credential {
        id,
        login: r.try_get(1)?,
        grant_id: r.try_get(2)?,
        subject: r.try_get(3)?,
        resource: r.try_get(4)?,
        verifier,
        native_password,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
    })
}

/// Which column a credential is looked up by.
pub(super) async fn find_where(
    client: &Client,
    column: &'static str,
    value: &str,
) -> StoreResult<Option<Credential>> {
    let column = match column {
        "login" => "login",
        _ => "id",
    };
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c \
         WHERE c.{column} = $1 AND c.deleted_at IS NULL"
    );
    client
        .query_opt(&sql, &[&value])
        .await?
        .as_ref()
        .map(credential_from_row)
        .transpose()
}

pub(super) async fn insert(client: &Client, c: &Credential) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO credentials (id, login, grant_id, subject, resource, verifier, \
             created_at, expires_at, native_password) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &c.id,
                &c.login,
                &c.grant_id,
                &c.subject,
                &c.resource,
                &c.verifier.encode(),
                &c.created_at,
                &c.expires_at,
                &c.native_password.as_ref().map(NativePasswordHash::encode),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn delete(client: &Client, id: &str, at: Millis) -> StoreResult<bool> {
    Ok(client
        .execute(
            "UPDATE credentials SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &at],
        )
        .await?
        == 1)
}

pub(super) async fn find(client: &Client, q: &CredentialQuery) -> StoreResult<Vec<Credential>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials c JOIN grants g ON g.id = c.grant_id \
         WHERE c.deleted_at IS NULL AND ($1::text IS NULL OR c.subject = $1) \
         AND ($2::bigint IS NULL OR c.expires_at <= $2 OR g.ended_at IS NOT NULL) \
         AND ($4::bigint IS NULL OR c.created_at < $4 OR (c.created_at = $4 AND c.id > $5)) \
         ORDER BY c.created_at DESC, c.id LIMIT $3"
    );
    let rows = client
        .query(
            &sql,
            &[
                &q.subject,
                &q.unusable_at,
                &sql_limit(q.limit),
                &after_at(&q.after),
                &after_id(&q.after),
            ],
        )
        .await?;
    rows.iter().map(credential_from_row).collect()
}

pub(super) async fn prune(
    client: &Client,
    subject: Option<&str>,
    now: Millis,
) -> StoreResult<usize> {
    Ok(client
        .execute(
            "UPDATE credentials SET deleted_at = $2 WHERE deleted_at IS NULL \
             AND ($1::text IS NULL OR subject = $1) \
             AND (expires_at <= $2 OR grant_id IN (SELECT id FROM grants WHERE ended_at IS NOT NULL))",
            &[&subject, &now],
        )
        .await? as usize)
}
