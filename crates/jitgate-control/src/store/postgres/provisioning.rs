//! The native provisioning ledger and fleet-wide job claims on PostgreSQL
//! (see [`crate::store::provisioning`]): the same tables as SQLite's, shared by every replica.

use super::rows::{groups_from, groups_json};
use super::PostgresStore;
use crate::model::Millis;
use crate::store::provisioning::{ProvisionLedger, ProvisionState, Provisioned, WorkspaceToken};
use crate::store::{StoreError, StoreResult};
use tokio_postgres::Row;

/// The migration that adds the ledger's tables (its place in the list is the list's).
pub(super) const PROVISIONING_MIGRATION: &str = "
    CREATE TABLE databricks_provisioned (
        resource TEXT NOT NULL,
        target TEXT NOT NULL,
        principal TEXT NOT NULL,
        subject TEXT NOT NULL,
        grants TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('adding', 'present', 'removing')),
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (resource, target, principal)
    );
    CREATE TABLE databricks_tokens (
        comment TEXT PRIMARY KEY,
        resource TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        application_id TEXT NOT NULL,
        token_id TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX databricks_tokens_resource ON databricks_tokens(resource);
    CREATE TABLE fleet_jobs (
        job TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until BIGINT NOT NULL
    );";

fn provisioned_row(r: &Row) -> StoreResult<Provisioned> {
    let grants: String = r.try_get(4)?;
    let state: String = r.try_get(5)?;
    Ok(Provisioned {
        resource: r.try_get(0)?,
        target: r.try_get(1)?,
        principal: r.try_get(2)?,
        subject: r.try_get(3)?,
        grants: groups_from("databricks_provisioned", &grants)?,
        state: ProvisionState::parse(&state).ok_or_else(|| StoreError::Corrupt {
            table: "databricks_provisioned",
            why: format!("state {state:?}"),
        })?,
        updated_at: r.try_get(6)?,
    })
}

fn token_row(r: &Row) -> StoreResult<WorkspaceToken> {
    Ok(WorkspaceToken {
        comment: r.try_get(0)?,
        resource: r.try_get(1)?,
        grant_id: r.try_get(2)?,
        subject: r.try_get(3)?,
        application_id: r.try_get(4)?,
        token_id: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
    })
}

impl ProvisionLedger for PostgresStore {
    fn provisioned(&self, resource: &str) -> StoreResult<Vec<Provisioned>> {
        self.run(async |c| {
            c.query(
                "SELECT resource, target, principal, subject, grants, state, updated_at \
                 FROM databricks_provisioned WHERE resource = $1 \
                 ORDER BY target COLLATE \"C\", principal COLLATE \"C\"",
                &[&resource],
            )
            .await?
            .iter()
            .map(provisioned_row)
            .collect()
        })
    }

    fn put_provisioned(&self, p: &Provisioned) -> StoreResult<()> {
        let grants = groups_json(&p.grants);
        self.run(async |c| {
            c.execute(
                "INSERT INTO databricks_provisioned \
                     (resource, target, principal, subject, grants, state, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (resource, target, principal) DO UPDATE SET \
                     subject = excluded.subject, grants = excluded.grants, \
                     state = excluded.state, updated_at = excluded.updated_at",
                &[
                    &p.resource,
                    &p.target,
                    &p.principal,
                    &p.subject,
                    &grants,
                    &p.state.as_str(),
                    &p.updated_at,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn forget_provisioned(&self, resource: &str, target: &str, principal: &str) -> StoreResult<()> {
        self.run(async |c| {
            c.execute(
                "DELETE FROM databricks_provisioned \
                 WHERE resource = $1 AND target = $2 AND principal = $3",
                &[&resource, &target, &principal],
            )
            .await?;
            Ok(())
        })
    }

    fn insert_workspace_token(&self, t: &WorkspaceToken) -> StoreResult<()> {
        self.run(async |c| {
            c.execute(
                "INSERT INTO databricks_tokens (comment, resource, grant_id, subject, \
                     application_id, token_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &t.comment,
                    &t.resource,
                    &t.grant_id,
                    &t.subject,
                    &t.application_id,
                    &t.token_id,
                    &t.created_at,
                    &t.expires_at,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn settle_workspace_token(&self, comment: &str, token_id: &str) -> StoreResult<()> {
        self.run(async |c| {
            c.execute(
                "UPDATE databricks_tokens SET token_id = $2 WHERE comment = $1",
                &[&comment, &token_id],
            )
            .await?;
            Ok(())
        })
    }

    fn workspace_tokens(&self, resource: &str) -> StoreResult<Vec<WorkspaceToken>> {
        self.run(async |c| {
            c.query(
                "SELECT comment, resource, grant_id, subject, application_id, token_id, \
                     created_at, expires_at \
                 FROM databricks_tokens WHERE resource = $1 \
                 ORDER BY created_at, comment COLLATE \"C\"",
                &[&resource],
            )
            .await?
            .iter()
            .map(token_row)
            .collect()
        })
    }

    fn forget_workspace_token(&self, comment: &str) -> StoreResult<()> {
        self.run(async |c| {
            c.execute(
                "DELETE FROM databricks_tokens WHERE comment = $1",
                &[&comment],
            )
            .await?;
            Ok(())
        })
    }

    fn claim_job(&self, job: &str, holder: &str, now: Millis, until: Millis) -> StoreResult<bool> {
        self.run(async |c| {
            Ok(c.execute(
                "INSERT INTO fleet_jobs (job, holder, until) VALUES ($1, $2, $4) \
                 ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                 WHERE fleet_jobs.until < $3 OR fleet_jobs.holder = excluded.holder",
                &[&job, &holder, &now, &until],
            )
            .await?
                == 1)
        })
    }

    fn release_job(&self, job: &str, holder: &str) -> StoreResult<()> {
        self.run(async |c| {
            c.execute(
                "DELETE FROM fleet_jobs WHERE job = $1 AND holder = $2",
                &[&job, &holder],
            )
            .await?;
            Ok(())
        })
    }
}
