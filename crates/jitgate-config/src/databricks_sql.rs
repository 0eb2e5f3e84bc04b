//! `kind = "databricks-sql"` resources: `[resources.NAME.upstream]` with host, http_path and a
//! token (Databricks) or user and password (HiveServer2).

use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{DatabricksSqlAuth, DatabricksSqlUpstream};
use crate::secret::read_secret;
use crate::section::Section;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Sessions stay open without calls for at most this long (a grant bounds them anyway).
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn read_databricks_sql(s: &Section<'_>) -> Result<DatabricksSqlUpstream, ConfigError> {
    s.only(&[
        "host",
        "port",
        "tls",
        "http_path",
        "token_env",
        "token_file",
        "token",
        "user",
        "password_env",
        "password_file",
        "password",
        "connect_timeout",
        "idle_timeout",
        "default_database",
    ])?;
    let host_field = s.required("host")?;
    let raw = host_field.str()?;
    let host = raw
        .strip_prefix("https://")
        .unwrap_or(raw)
        .trim_end_matches('/');
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(host_field.error("give a host name or IP address"));
    }
    let tls = s.optional("tls", |f| f.bool())?.unwrap_or(true);
    let default_port = if tls { 443 } else { 10001 };
    let http_path = match s.get("http_path") {
        None => "/cliservice".to_string(),
        Some(f) => {
            let p = f.str()?;
            if p.chars().any(|c| !('!'..='~').contains(&c)) || p.is_empty() {
                return Err(f.error("give the HTTP path, e.g. \"/sql/1.0/warehouses/abc123\""));
            }
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            }
        }
    };
    let token = read_secret(s, "token")?;
    let password = read_secret(s, "password")?;
    let user = s.optional("user", |f| f.str().map(str::to_string))?;
    let auth = match (token, user, password) {
        (Some(t), None, None) => DatabricksSqlAuth::Token(t),
        (None, Some(user), Some(password)) => DatabricksSqlAuth::Basic { user, password },
        (None, None, None) => DatabricksSqlAuth::None,
        _ => {
            return Err(s.error(
                "give either a token (token_env or token_file) or user with a password \
                 (password_env or password_file), not both",
            ))
        }
    };
    let default_database = match s.get("default_database") {
        None => "default".to_string(),
        Some(f) => {
            let name = f.str()?;
            if name.is_empty() || name.contains(['.', '`']) || name.contains(char::is_whitespace) {
                return Err(f.error("give one database (schema) name, e.g. \"default\""));
            }
            name.to_string()
        }
    };
    let idle_timeout = match s.get("idle_timeout") {
        None => DEFAULT_IDLE_TIMEOUT,
        Some(f) => {
            let d = f.duration()?;
            if d > MAX_IDLE_TIMEOUT {
                return Err(f.error("give at most \"7d\""));
            }
            d
        }
    };
    Ok(DatabricksSqlUpstream {
        host: host.to_string(),
        // The range is checked, so the cast cannot truncate.
        port: s
            .optional("port", |f| f.integer(1, 65535))?
            .unwrap_or(default_port) as u16,
        tls,
        http_path,
        auth,
        connect_timeout: s
            .optional("connect_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        idle_timeout,
        default_database,
    })
}

/// The `jitgate check` lines of a databricks-sql resource; secrets by origin only.
pub(crate) fn describe(u: &DatabricksSqlUpstream, out: &mut String) {
    use std::fmt::Write as _;
    let scheme = if u.tls { "https" } else { "http" };
    let _ = writeln!(
        out,
        "  endpoint: {scheme}://{}:{}{}",
        u.host, u.port, u.http_path
    );
    let auth = match &u.auth {
        DatabricksSqlAuth::Token(t) => format!("bearer token from {}", t.origin()),
        DatabricksSqlAuth::Basic { user, password } => {
            format!("user {user}, password from {}", password.origin())
        }
        DatabricksSqlAuth::None => "none".to_string(),
    };
    let _ = writeln!(out, "  upstream credential: {auth}");
    let _ = writeln!(
        out,
        "  sessions without calls end after {}",
        humantime::format_duration(u.idle_timeout)
    );
    let _ = writeln!(
        out,
        "  default database: {} (unqualified table names in masking rules resolve here)",
        u.default_database
    );
}
