//! Native provisioning in a Databricks workspace, where no gateway can sit (notebooks, the SQL
//! editor, jobs): a grant is carried out in the workspace itself and undone when it ends.
//!
//! - [`api`]: the workspace's REST API as jitgate uses it (SCIM users and groups, Unity Catalog
//!   permissions, token management, SQL statements), with retries on 429/5xx that honour
//!   `Retry-After`.
//! - [`provision`]: what grants mean in the workspace ([`provision::plan`], pure), the ledger of
//!   what jitgate made (in the control plane's store), the reconcile pass that brings the
//!   workspace in line (one replica of a fleet at a time), on-behalf-of tokens per grant, and
//!   [`provision::gate`], which refuses requests the workspace could not carry out.
//! - [`tokens`]: which tokens a prune deletes (pure).
//! - [`masks`]: the masking policy compiled to Unity Catalog column masks (pure), and the diff
//!   against what the workspace has.

pub mod api;
pub mod masks;
pub mod provision;
pub mod tokens;

pub use api::{ApiError, Workspace};
