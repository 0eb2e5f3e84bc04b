//! `kind = "mysql"` resources (MySQL 8, MariaDB 10.6+).

use std::time::Duration;

use super::{Secret, UpstreamTls};

/// `[resources.NAME.upstream]` of a `kind = "mysql"` resource.
#[derive(Debug, Clone)]
pub struct MySqlUpstream {
    /// Host name or IP address.
    pub host: String,
    /// Default 3306.
    pub port: u16,
    /// The database (schema) sessions start in.
    pub database: String,
    /// The service account jitgate logs in as; users never learn its credentials.
    pub user: String,
    /// From `password_env`, `password_file` or (discouraged) `password`; none for an account
    /// without one.
    pub password: Option<Secret>,
    /// `tls`, `ca_file` and `server_name`: the PostgreSQL upstream's modes (default `prefer`),
    /// negotiated in MySQL's handshake.
    pub tls: UpstreamTls,
    /// How long to wait for the upstream to accept a connection; default 10s.
    pub connect_timeout: Duration,
    /// `native_password` of `[resources.NAME]` (a setting of the client side, default off):
    /// clients may log in with `mysql_native_password`, which never sends the secret, so they
    /// need neither TLS nor loopback. Credentials issued for the resource then keep
    /// SHA1(SHA1(secret)) besides their SCRAM verifier, which with one sniffed handshake is
    /// enough to log in.
    pub native_password: bool,
}
