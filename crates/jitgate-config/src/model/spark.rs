//! `kind = "spark-connect"` resources: a Spark Connect server (or a Databricks cluster) behind
//! jitgate's gRPC front.

use std::time::Duration;

use super::Secret;

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
}
