//! `kind = "databricks-sql"` resources: a Databricks SQL warehouse (or any HiveServer2 HTTP
//! endpoint) behind jitgate's TCLIService front.

use std::time::Duration;

use super::Secret;

/// `[resources.NAME.upstream]` of a `kind = "databricks-sql"` resource.
#[derive(Debug, Clone)]
pub struct DatabricksSqlUpstream {
    /// Host name or IP address (a workspace host for a warehouse).
    pub host: String,
    /// Default 443 with TLS, 10001 (HiveServer2's HTTP port) without.
    pub port: u16,
    /// TLS to the upstream, verified against the system's roots; default on.
    pub tls: bool,
    /// The HTTP path Thrift calls are POSTed to, e.g. `/sql/1.0/warehouses/ID` or `/cliservice`.
    pub http_path: String,
    /// How jitgate authenticates to the upstream.
    pub auth: DatabricksSqlAuth,
    /// How long to wait for the upstream to accept a connection; default 10s.
    pub connect_timeout: Duration,
    /// How long a client session may go without a call before jitgate closes it (and its
    /// upstream session); default 1h, at most 7d.
    pub idle_timeout: Duration,
    /// The database (schema) where unqualified table names resolve; masking rules name tables by
    /// it. Default `default`. Masked subjects cannot change it.
    pub default_database: String,
}

/// The upstream credential jitgate sends in place of the client's jitgate credential.
#[derive(Debug, Clone)]
pub enum DatabricksSqlAuth {
    /// `Authorization: Bearer TOKEN` (a Databricks token).
    Token(Secret),
    /// `Authorization: Basic USER:PASSWORD` (HiveServer2 in HTTP mode).
    Basic { user: String, password: Secret },
    /// No credential (an upstream that trusts jitgate's network).
    None,
}
