//! The validated configuration, as the rest of jitgate sees it.
//!
//! Everything here is already checked: paths are resolved against the configuration file's folder,
//! secrets are read from their environment variable or file, and addresses are parsed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod access;
mod databricks_sql;
mod mysql;
mod notify;
mod oidc;
mod spark;

pub use access::*;
pub use databricks_sql::*;
pub use mysql::*;
pub use notify::*;
pub use oidc::*;
pub use spark::*;

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from.
    pub source: PathBuf,
    /// `[server]`.
    pub server: Server,
    /// Resources in the order the file names them.
    pub resources: Vec<Resource>,
    /// `[api]`.
    pub api: Api,
    /// `[users.NAME]`: the embedded identity provider's users, in file order.
    pub users: Vec<LocalUser>,
    /// `[oidc.NAME]`: OpenID Connect providers, in file order.
    pub oidc: Vec<OidcProvider>,
    /// `[roles]`.
    pub roles: Roles,
    /// `[[access]]` rules, in file order (the first match wins).
    pub access: Vec<AccessRule>,
    /// `[[webhooks]]`.
    pub webhooks: Vec<Webhook>,
    /// `[slack]`: interactive approvals from Slack, when configured.
    pub slack: Option<Slack>,
    /// `[[alerts]]`.
    pub alerts: Vec<AlertRule>,
    /// `[masking]`: which columns are masked how, and for whom; no rules when absent.
    pub masking: jitgate_masking::MaskingPolicy,
}

/// What [`crate::load_masking`] reads: the resources' names and `[masking]`.
#[derive(Debug, Clone)]
pub struct MaskingConfig {
    /// The names of `[resources.NAME]`, in file order.
    pub resources: Vec<String>,
    pub masking: jitgate_masking::MaskingPolicy,
}

/// Settings of the gateway process itself (`[server]`).
#[derive(Debug, Clone)]
pub struct Server {
    /// SQLite file of the control-plane store; default `jitgate.sqlite` beside the configuration file.
    /// Unused when `postgres_store` is set.
    pub store: PathBuf,
    /// A PostgreSQL control-plane store shared by several replicas (`store = "postgresql://…"`).
    pub postgres_store: Option<PostgresStore>,
    /// This gateway's name among the replicas sharing a store (`replica`); default `main`.
    pub replica: String,
    /// How long sessions go on while the store cannot be reached before they are ended
    /// (`store_grace`); default 30s, at most 5m. New logins are refused at once.
    pub store_grace: Duration,
    /// Runtime worker threads for the protocol fronts; default 1 (on small machines, handing work
    /// between threads costs more than it gains).
    pub workers: usize,
    /// Largest client message the PostgreSQL front accepts whole (Query, Parse, Bind, …); default 16 MiB.
    /// COPY data is streamed and not bound by this.
    pub max_message_bytes: usize,
    /// TLS offered to database clients (`[server.tls]`).
    pub client_tls: ClientTls,
    /// Accept a cleartext password over a connection that is neither TLS nor loopback; default false.
    pub allow_cleartext_without_tls: bool,
    /// How long a client may take to finish authenticating; default 30s.
    pub login_timeout: Duration,
    /// Client connections open at once, over every front; default 1000.
    pub max_connections: usize,
    /// Connections that have not finished logging in, over every front; default 256.
    pub max_logging_in: usize,
    /// Connections that have not finished logging in from one client address; default 64.
    pub max_logging_in_per_address: usize,
    /// At shutdown, how long sessions may go on before they are ended; default 30s, zero ends
    /// them at once.
    pub drain_timeout: Duration,
}

/// `[server] store = "postgresql://…"` with its password (`store_password_env`,
/// `store_password_file` or `store_password`).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// The connection URL without a password.
    pub url: String,
    pub password: Option<Secret>,
    /// `store_tls` (libpq's modes, default `prefer`), `store_ca_file`, `store_server_name`.
    pub tls: UpstreamTls,
}

/// `[server.tls]`: TLS between database clients and jitgate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// Default `off` when `[server.tls]` is absent.
    pub mode: ClientTlsMode,
    /// PEM certificate chain; required unless mode is `off`.
    pub cert: Option<PathBuf>,
    /// PEM private key; required unless mode is `off`.
    pub key: Option<PathBuf>,
}

/// `mode` of `[server.tls]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTlsMode {
    /// SSLRequest is declined.
    Off,
    /// TLS offered; plaintext clients are accepted too.
    Optional,
    /// Plaintext clients are refused.
    Required,
}

impl ClientTlsMode {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [ClientTlsMode; 3] = [
        ClientTlsMode::Off,
        ClientTlsMode::Optional,
        ClientTlsMode::Required,
    ];

    /// The word the configuration file uses for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientTlsMode::Off => "off",
            ClientTlsMode::Optional => "optional",
            ClientTlsMode::Required => "required",
        }
    }
}

/// One named upstream database (`[resources.NAME]`).
#[derive(Debug, Clone)]
pub struct Resource {
    /// The `NAME` of `[resources.NAME]`: letters, digits, `_`, `.`, `-`, at most 63 characters.
    pub name: String,
    /// Address database clients connect to for this resource.
    pub listen: SocketAddr,
    /// `[resources.NAME.upstream]`, read according to `kind`.
    pub upstream: Upstream,
}

/// What kind of database sits behind a resource (`kind = "postgres"`).
#[derive(Debug, Clone)]
pub enum Upstream {
    /// `kind = "postgres"`.
    Postgres(PostgresUpstream),
    /// `kind = "spark-connect"` (Databricks is a preset of it).
    SparkConnect(SparkConnectUpstream),
    /// `kind = "databricks-sql"`: HiveServer2 TCLIService over HTTP.
    DatabricksSql(DatabricksSqlUpstream),
    /// `kind = "mysql"` (MySQL and MariaDB).
    MySql(MySqlUpstream),
}

impl Upstream {
    /// The `kind` word of the configuration file.
    pub fn kind(&self) -> &'static str {
        match self {
            Upstream::Postgres(_) => "postgres",
            Upstream::SparkConnect(_) => "spark-connect",
            Upstream::DatabricksSql(_) => "databricks-sql",
            Upstream::MySql(_) => "mysql",
        }
    }
}

/// `[resources.NAME.upstream]` of a `kind = "postgres"` resource.
#[derive(Debug, Clone)]
pub struct PostgresUpstream {
    /// Host name or IP address (Unix socket directories are not supported).
    pub host: String,
    /// Default 5432.
    pub port: u16,
    /// The database jitgate connects to on behalf of clients.
    pub database: String,
    /// The service role jitgate logs in as; users never learn its credentials.
    pub user: String,
    /// From `password_env`, `password_file` or (discouraged) `password`; none for trust auth.
    pub password: Option<Secret>,
    /// `tls`, `ca_file` and `server_name`.
    pub tls: UpstreamTls,
    /// How long to wait for the upstream to accept a connection; default 10s.
    pub connect_timeout: Duration,
}

/// TLS between jitgate and the upstream, with libpq's mode names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Default `prefer`, as in libpq.
    pub mode: UpstreamTlsMode,
    /// PEM file of trusted roots; default: the system's roots. Only accepted with `verify-ca` and
    /// `verify-full`, the modes that look at it.
    pub ca_file: Option<PathBuf>,
    /// Name to verify the certificate against; default: `host`.
    pub server_name: Option<String>,
}

/// `tls` of `[resources.NAME.upstream]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamTlsMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, unverified; plaintext otherwise (libpq's default).
    Prefer,
    /// TLS or fail, unverified.
    Require,
    /// TLS, certificate chain verified, host name not.
    VerifyCa,
    /// TLS, certificate chain and host name verified.
    VerifyFull,
}

impl UpstreamTlsMode {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [UpstreamTlsMode; 5] = [
        UpstreamTlsMode::Disable,
        UpstreamTlsMode::Prefer,
        UpstreamTlsMode::Require,
        UpstreamTlsMode::VerifyCa,
        UpstreamTlsMode::VerifyFull,
    ];

    /// The word the configuration file uses for this mode (libpq's `sslmode` names).
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamTlsMode::Disable => "disable",
            UpstreamTlsMode::Prefer => "prefer",
            UpstreamTlsMode::Require => "require",
            UpstreamTlsMode::VerifyCa => "verify-ca",
            UpstreamTlsMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the upstream's certificate chain is checked (and so `ca_file` matters).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            UpstreamTlsMode::VerifyCa | UpstreamTlsMode::VerifyFull
        )
    }
}

/// A secret read from the environment or a file. Its Debug and Display never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// Where it came from, e.g. `env PROD_PG_PASSWORD` or `file /run/secrets/pg`, for `jitgate check`.
    origin: String,
}

impl Secret {
    /// `origin` says where the value came from, without containing it.
    pub fn new(value: String, origin: impl Into<String>) -> Self {
        Secret {
            value,
            origin: origin.into(),
        }
    }
    /// The value itself; named so that every use stands out in review.
    pub fn expose(&self) -> &str {
        &self.value
    }
    /// Where the value came from, e.g. `env PROD_PG_PASSWORD`; safe to show.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(from {})", self.origin)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret from {}", self.origin)
    }
}
