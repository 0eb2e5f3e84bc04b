//! What jitgate made in workspaces, kept in a SQLite file beside the store: an intent is written
//! before each change and settled after it, so a restart knows what it owns even when it
//! stopped between the two.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{params, Connection};

use super::plan::{Entitlement, Target};

#[derive(Debug, thiserror::Error)]
#[error("native provisioning ledger: {0}")]
pub struct LedgerError(#[from] rusqlite::Error);

/// The state of a ledger row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// About to be made (or made, not yet confirmed).
    Adding,
    Present,
    /// About to be removed.
    Removing,
}

impl RowState {
    fn as_str(self) -> &'static str {
        match self {
            RowState::Adding => "adding",
            RowState::Present => "present",
            RowState::Removing => "removing",
        }
    }
}

pub struct Ledger {
    db: Connection,
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS provisioned (
                 resource TEXT NOT NULL,
                 target TEXT NOT NULL,
                 principal TEXT NOT NULL,
                 subject TEXT NOT NULL,
                 grants TEXT NOT NULL,
                 state TEXT NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (resource, target, principal));",
        )?;
        Ok(Ledger { db })
    }

    /// Everything jitgate owns on `resource`'s workspace, whatever the row's state.
    pub fn owned(&self, resource: &str) -> Result<BTreeSet<Entitlement>, LedgerError> {
        let mut stmt = self
            .db
            .prepare("SELECT target, principal FROM provisioned WHERE resource = ?1")?;
        let rows = stmt.query_map([resource], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeSet::new();
        for row in rows {
            let (key, principal) = row?;
            if let Some(target) = Target::from_key(&key) {
                out.insert(Entitlement { target, principal });
            }
        }
        Ok(out)
    }

    /// The subject an owned entitlement was made for, if the ledger has it.
    pub fn subject(&self, resource: &str, e: &Entitlement) -> Option<String> {
        self.db
            .query_row(
                "SELECT subject FROM provisioned WHERE resource = ?1 AND target = ?2 AND principal = ?3",
                params![resource, e.target.key(), e.principal],
                |r| r.get(0),
            )
            .ok()
    }

    pub fn mark(
        &self,
        resource: &str,
        e: &Entitlement,
        subject: &str,
        grants: &[String],
        state: RowState,
        now: i64,
    ) -> Result<(), LedgerError> {
        self.db.execute(
            "INSERT INTO provisioned (resource, target, principal, subject, grants, state, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (resource, target, principal) DO UPDATE SET
                 subject = excluded.subject, grants = excluded.grants,
                 state = excluded.state, updated_at = excluded.updated_at",
            params![resource, e.target.key(), e.principal, subject, grants.join(","), state.as_str(), now],
        )?;
        Ok(())
    }

    /// Sets the state of an owned row (a removal's intent).
    pub fn set_state(
        &self,
        resource: &str,
        e: &Entitlement,
        state: RowState,
        now: i64,
    ) -> Result<(), LedgerError> {
        self.db.execute(
            "UPDATE provisioned SET state = ?4, updated_at = ?5
             WHERE resource = ?1 AND target = ?2 AND principal = ?3",
            params![resource, e.target.key(), e.principal, state.as_str(), now],
        )?;
        Ok(())
    }

    pub fn forget(&self, resource: &str, e: &Entitlement) -> Result<(), LedgerError> {
        self.db.execute(
            "DELETE FROM provisioned WHERE resource = ?1 AND target = ?2 AND principal = ?3",
            params![resource, e.target.key(), e.principal],
        )?;
        Ok(())
    }
}
