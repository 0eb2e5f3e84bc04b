//! `kind = "spark-connect"` resources: a Spark Connect server (or a Databricks cluster) behind
//! jitgate's gRPC front.

use std::time::Duration;

use super::{Requester, Secret};

/// `[resources.NAME.upstream]` (or the `[resources.NAME.databricks]` preset) of a
/// `kind = "spark-connect"` resource.
#[derive(Debug, Clone)]
pub struct SparkConnectUpstream {
    /// Host name or IP address of the Spark Connect endpoint.
    pub host: String,
    /// Default 15002 (Spark Connect's default); 443 for Databricks.
    pub port: u16,
    /// TLS to the upstream, verified against the system's roots; default off, on for Databricks.
    pub tls: bool,
    /// Sent upstream as `authorization: Bearer …` in place of the client's jitgate credential.
    pub token: Option<Secret>,
    /// Extra metadata sent upstream with every call (lower-case names), e.g.
    /// `x-databricks-cluster-id`.
    pub headers: Vec<(String, String)>,
    /// How long to wait for the upstream to accept a connection; default 10s.
    pub connect_timeout: Duration,
    /// The database (schema) Spark sessions start in, where unqualified table names resolve;
    /// masking rules name tables by it. Default `default`. Masked subjects cannot change it.
    pub default_database: String,
    /// Set when the resource was configured with the `databricks` preset.
    pub databricks: Option<DatabricksPreset>,
}

/// What `[resources.NAME.databricks]` named, kept for `jitgate check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabricksPreset {
    pub workspace_host: String,
    pub cluster_id: String,
    /// The workspace's REST API: native provisioning, tokens, column masks (boxed: the
    /// resource kinds stay alike in size).
    pub workspace: Box<DatabricksWorkspace>,
}

/// The workspace's REST API as jitgate uses it for native provisioning (grants carried out in
/// the workspace), token management and Unity Catalog column masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabricksWorkspace {
    /// `https://{workspace_host}`; `api_url` may name a loopback `http://` address instead (a
    /// local proxy or an emulator), never a remote one in clear.
    pub api_url: String,
    /// Bearer token for the workspace API: the preset's token (a service principal's).
    pub token: Secret,
    /// OAuth machine-to-machine credentials of a service principal: when given, the API is
    /// called with access tokens from the workspace's (and account's) token endpoint instead.
    pub oauth: Option<OAuthClient>,
    /// Account-level SCIM (account groups, the ones `is_account_group_member()` sees); without
    /// it groups are changed through the workspace's SCIM API.
    pub account: Option<DatabricksAccount>,
    /// SQL warehouse for `jitgate databricks masks` (Statement Execution API).
    pub warehouse_id: Option<String>,
    /// Unity Catalog catalog the masking rules' `schema.table.column` live in.
    pub catalog: Option<String>,
    /// Subject → workspace userName where the two differ; otherwise the subject's name is
    /// looked up as the SCIM userName (usually the e-mail address).
    pub identities: Vec<(String, String)>,
    /// What a grant means in the workspace, first matching rule wins.
    pub provision: Vec<ProvisionRule>,
    /// How often the workspace is compared with the grants even when no grant changed.
    pub reconcile_interval: Duration,
    /// `jitgate databricks tokens prune` deletes tokens older than this (and expired ones).
    pub token_max_lifetime: Option<Duration>,
}

/// The account console's SCIM API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabricksAccount {
    pub id: String,
    /// `https://accounts.cloud.databricks.com` unless given.
    pub api_url: String,
    /// Bearer token for the account API; default OAuth when configured, else the workspace
    /// token.
    pub token: Option<Secret>,
}

/// A service principal's OAuth client credentials (client_credentials grant, scope `all-apis`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Secret,
}

/// `[[resources.NAME.databricks.provision]]`: for grants of matching subjects, a membership of
/// an account group and/or Unity Catalog privileges, held exactly while the grant lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionRule {
    /// Who the rule is for (as in `[[access]]`); default everyone.
    pub requesters: Vec<Requester>,
    /// Group the subject's workspace user joins for the grant.
    pub group: Option<String>,
    /// Privileges the subject's workspace user holds on securables for the grant.
    pub privileges: Vec<SecurablePrivileges>,
    /// What to do with members or privileges on these that jitgate did not make.
    pub foreign: ForeignPolicy,
    /// Application id of a service principal: the grant's holder may have jitgate mint one
    /// on-behalf-of token for it, living as long as the grant.
    pub token_for: Option<String>,
}

impl ProvisionRule {
    /// Whether the rule gives the subject's own workspace user something (a membership or
    /// privileges), so that a grant under it needs one.
    pub fn needs_identity(&self) -> bool {
        self.group.is_some() || !self.privileges.is_empty()
    }
}

/// Privileges on one Unity Catalog securable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurablePrivileges {
    /// `catalog`, `schema`, `table`, `volume`, `function`, … as the permissions API names them.
    pub securable_type: String,
    /// Full name, e.g. `main.sales.orders`.
    pub full_name: String,
    /// Upper-case privilege names, e.g. `SELECT`, `USE_SCHEMA`.
    pub privileges: Vec<String>,
}

/// A member or privilege on a governed group or securable that jitgate did not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignPolicy {
    /// Raise an alert and leave it.
    Alert,
    /// Raise an alert and remove it.
    Remove,
}
