//! The native provisioning ledger: what jitgate made in Databricks workspaces (memberships,
//! privileges, on-behalf-of tokens), kept in the store so that every replica of a fleet sees
//! the same, and the fleet-wide job claims that let one replica at a time reconcile.
//!
//! Both backends implement [`ProvisionLedger`] in a module of their own
//! (`sqlite/provisioning.rs`, `postgres/provisioning.rs`); its tables come with their own
//! migration (`PROVISIONING_MIGRATION` of each backend).

use super::StoreResult;
use crate::model::Millis;

/// Where an owned entitlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionState {
    /// About to be made (or made, not yet confirmed).
    Adding,
    Present,
    /// About to be removed.
    Removing,
}

impl ProvisionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionState::Adding => "adding",
            ProvisionState::Present => "present",
            ProvisionState::Removing => "removing",
        }
    }

    pub fn parse(text: &str) -> Option<ProvisionState> {
        match text {
            "adding" => Some(ProvisionState::Adding),
            "present" => Some(ProvisionState::Present),
            "removing" => Some(ProvisionState::Removing),
            _ => None,
        }
    }
}

/// One membership or privilege jitgate made (or is about to make) in a resource's workspace.
/// `target` is the provisioning crate's key (`member:GROUP`, `privilege:TYPE:PRIV:NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub resource: String,
    pub target: String,
    pub principal: String,
    pub subject: String,
    pub grants: Vec<String>,
    pub state: ProvisionState,
    pub updated_at: Millis,
}

/// An on-behalf-of token jitgate minted for a grant. The row is written before the token is
/// created (`token_id` none) and settled with its id after; the `comment`, unique and
/// unguessable, is how a token whose creation was interrupted is found in the workspace.
/// The token's value is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceToken {
    pub comment: String,
    pub resource: String,
    pub grant_id: String,
    pub subject: String,
    pub application_id: String,
    pub token_id: Option<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// The ledger's operations. Every write is one atomic statement.
pub trait ProvisionLedger {
    /// Everything jitgate owns in `resource`'s workspace, whatever the state.
    fn provisioned(&self, resource: &str) -> StoreResult<Vec<Provisioned>>;
    /// Records (or replaces) an owned entitlement.
    fn put_provisioned(&self, row: &Provisioned) -> StoreResult<()>;
    fn forget_provisioned(&self, resource: &str, target: &str, principal: &str) -> StoreResult<()>;

    /// Records a token about to be created.
    fn insert_workspace_token(&self, token: &WorkspaceToken) -> StoreResult<()>;
    /// Records the id of the token created under `comment`.
    fn settle_workspace_token(&self, comment: &str, token_id: &str) -> StoreResult<()>;
    /// The tokens jitgate minted in `resource`'s workspace and has not seen deleted.
    fn workspace_tokens(&self, resource: &str) -> StoreResult<Vec<WorkspaceToken>>;
    fn forget_workspace_token(&self, comment: &str) -> StoreResult<()>;

    /// Claims a fleet-wide job for `holder` until `until`: won when nobody holds it, its
    /// holder's claim ran out (before `now`), or `holder` holds it already (a renewal). One
    /// atomic statement, so two replicas never both win.
    fn claim_job(&self, job: &str, holder: &str, now: Millis, until: Millis) -> StoreResult<bool>;
    /// Gives a job up (a clean shutdown), if `holder` holds it.
    fn release_job(&self, job: &str, holder: &str) -> StoreResult<()>;
}
