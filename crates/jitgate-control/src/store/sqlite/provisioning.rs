//! The native provisioning ledger and fleet-wide job claims on SQLite
//! (see [`crate::store::provisioning`]).

use super::rows::{bad_column, corrupt, groups_from, groups_json};
use super::SqliteStore;
use crate::model::Millis;
use crate::store::provisioning::{ProvisionLedger, ProvisionState, Provisioned, WorkspaceToken};
use crate::store::StoreResult;
use rusqlite::{params, Row};

/// The migration that adds the ledger's tables (its place in the list is the list's).
pub(crate) const PROVISIONING_MIGRATION: &str = "
    CREATE TABLE databricks_provisioned (
        resource TEXT NOT NULL,
        target TEXT NOT NULL,
        principal TEXT NOT NULL,
        subject TEXT NOT NULL,
        grants TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('adding', 'present', 'removing')),
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (resource, target, principal)
    );
    CREATE TABLE databricks_tokens (
        comment TEXT PRIMARY KEY,
        resource TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        application_id TEXT NOT NULL,
        token_id TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX databricks_tokens_resource ON databricks_tokens(resource);
    CREATE TABLE fleet_jobs (
        job TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until INTEGER NOT NULL
    );";

fn provisioned_row(r: &Row<'_>) -> rusqlite::Result<Provisioned> {
    let grants: String = r.get(4)?;
    let state: String = r.get(5)?;
    Ok(Provisioned {
        resource: r.get(0)?,
        target: r.get(1)?,
        principal: r.get(2)?,
        subject: r.get(3)?,
        grants: groups_from(4, &grants)?,
        state: ProvisionState::parse(&state)
            .ok_or_else(|| bad_column(5, format!("state {state:?}")))?,
        updated_at: r.get(6)?,
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<WorkspaceToken> {
    Ok(WorkspaceToken {
        comment: r.get(0)?,
        resource: r.get(1)?,
        grant_id: r.get(2)?,
        subject: r.get(3)?,
        application_id: r.get(4)?,
        token_id: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

impl ProvisionLedger for SqliteStore {
    fn provisioned(&self, resource: &str) -> StoreResult<Vec<Provisioned>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT resource, target, principal, subject, grants, state, updated_at \
             FROM databricks_provisioned WHERE resource = ?1 ORDER BY target, principal",
        )?;
        let rows = stmt.query_map([resource], provisioned_row)?;
        rows.collect::<Result<_, _>>()
            .map_err(corrupt("databricks_provisioned"))
    }

    fn put_provisioned(&self, p: &Provisioned) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO databricks_provisioned \
                 (resource, target, principal, subject, grants, state, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (resource, target, principal) DO UPDATE SET \
                 subject = excluded.subject, grants = excluded.grants, \
                 state = excluded.state, updated_at = excluded.updated_at",
            params![
                p.resource,
                p.target,
                p.principal,
                p.subject,
                groups_json(&p.grants),
                p.state.as_str(),
                p.updated_at
            ],
        )?;
        Ok(())
    }

    fn forget_provisioned(&self, resource: &str, target: &str, principal: &str) -> StoreResult<()> {
        self.conn().execute(
            "DELETE FROM databricks_provisioned \
             WHERE resource = ?1 AND target = ?2 AND principal = ?3",
            params![resource, target, principal],
        )?;
        Ok(())
    }

    fn insert_workspace_token(&self, t: &WorkspaceToken) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO databricks_tokens (comment, resource, grant_id, subject, \
                 application_id, token_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                t.comment,
                t.resource,
                t.grant_id,
                t.subject,
                t.application_id,
                t.token_id,
                t.created_at,
                t.expires_at
            ],
        )?;
        Ok(())
    }

    fn settle_workspace_token(&self, comment: &str, token_id: &str) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE databricks_tokens SET token_id = ?2 WHERE comment = ?1",
            params![comment, token_id],
        )?;
        Ok(())
    }

    fn workspace_tokens(&self, resource: &str) -> StoreResult<Vec<WorkspaceToken>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT comment, resource, grant_id, subject, application_id, token_id, \
                 created_at, expires_at \
             FROM databricks_tokens WHERE resource = ?1 ORDER BY created_at, comment",
        )?;
        let rows = stmt.query_map([resource], token_row)?;
        rows.collect::<Result<_, _>>()
            .map_err(corrupt("databricks_tokens"))
    }

    fn forget_workspace_token(&self, comment: &str) -> StoreResult<()> {
        self.conn().execute(
            "DELETE FROM databricks_tokens WHERE comment = ?1",
            [comment],
        )?;
        Ok(())
    }

    fn claim_job(&self, job: &str, holder: &str, now: Millis, until: Millis) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "INSERT INTO fleet_jobs (job, holder, until) VALUES (?1, ?2, ?4) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE fleet_jobs.until < ?3 OR fleet_jobs.holder = excluded.holder",
            params![job, holder, now, until],
        )? == 1)
    }

    fn release_job(&self, job: &str, holder: &str) -> StoreResult<()> {
        self.conn().execute(
            "DELETE FROM fleet_jobs WHERE job = ?1 AND holder = ?2",
            params![job, holder],
        )?;
        Ok(())
    }
}
