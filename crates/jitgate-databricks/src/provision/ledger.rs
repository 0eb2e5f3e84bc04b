//! What jitgate made in workspaces, kept in the control plane's store (SQLite, or the
//! PostgreSQL store a fleet of replicas shares): an intent is written before each change and
//! settled after it, so a restart — or another replica — knows what jitgate owns even when a
//! process stopped between the two.

use std::collections::BTreeSet;
use std::sync::Arc;

use jitgate_control::model::Millis;
use jitgate_control::store::provisioning::{ProvisionState, Provisioned};
use jitgate_control::store::{Store, StoreError};
use jitgate_control::ControlPlane;

use super::plan::{Entitlement, Target};

#[derive(Debug, thiserror::Error)]
#[error("native provisioning ledger: {0}")]
pub struct LedgerError(#[from] StoreError);

pub use jitgate_control::store::provisioning::ProvisionState as RowState;

/// The ledger's view of the store, for one process.
pub struct Ledger {
    control: Arc<ControlPlane>,
}

impl Ledger {
    pub fn new(control: Arc<ControlPlane>) -> Ledger {
        Ledger { control }
    }

    fn store(&self) -> &dyn Store {
        self.control.store()
    }

    /// Everything jitgate owns on `resource`'s workspace, whatever the row's state.
    pub fn owned(&self, resource: &str) -> Result<BTreeSet<Entitlement>, LedgerError> {
        Ok(self
            .store()
            .provisioned(resource)?
            .into_iter()
            .filter_map(|row| {
                Some(Entitlement {
                    target: Target::from_key(&row.target)?,
                    principal: row.principal,
                })
            })
            .collect())
    }

    /// The subject an owned entitlement was made for, if the ledger has it.
    pub fn subject(&self, resource: &str, e: &Entitlement) -> Option<String> {
        let key = e.target.key();
        self.store()
            .provisioned(resource)
            .ok()?
            .into_iter()
            .find(|row| row.target == key && row.principal == e.principal)
            .map(|row| row.subject)
    }

    pub fn mark(
        &self,
        resource: &str,
        e: &Entitlement,
        subject: &str,
        grants: &[String],
        state: ProvisionState,
        now: Millis,
    ) -> Result<(), LedgerError> {
        self.store().put_provisioned(&Provisioned {
            resource: resource.to_string(),
            target: e.target.key(),
            principal: e.principal.clone(),
            subject: subject.to_string(),
            grants: grants.to_vec(),
            state,
            updated_at: now,
        })?;
        Ok(())
    }

    /// Sets the state of an owned row (a removal's intent).
    pub fn set_state(
        &self,
        resource: &str,
        e: &Entitlement,
        state: ProvisionState,
        now: Millis,
    ) -> Result<(), LedgerError> {
        let key = e.target.key();
        let row = self
            .store()
            .provisioned(resource)?
            .into_iter()
            .find(|row| row.target == key && row.principal == e.principal);
        if let Some(mut row) = row {
            row.state = state;
            row.updated_at = now;
            self.store().put_provisioned(&row)?;
        }
        Ok(())
    }

    pub fn forget(&self, resource: &str, e: &Entitlement) -> Result<(), LedgerError> {
        self.store()
            .forget_provisioned(resource, &e.target.key(), &e.principal)?;
        Ok(())
    }
}
