//! A `kind = "mysql"` resource: `[resources.NAME.upstream]`, and the clients' `native_password`
//! of `[resources.NAME]`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::describe::describe_tls;
use crate::error::ConfigError;
use crate::model::MySqlUpstream;
use crate::resources::read_libpq_tls;
use crate::secret::read_password;
use crate::section::Section;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a mysql resource's upstream table and its `native_password` (of the resource table
/// `resource`).
pub(crate) fn read_mysql(resource: &Section<'_>) -> Result<MySqlUpstream, ConfigError> {
    let native_password = resource
        .optional("native_password", |f| f.bool())?
        .unwrap_or(false);
    let s = &resource.required("upstream")?.table()?;
    s.only(&[
        "host",
        "port",
        "database",
        "user",
        "password_env",
        "password_file",
        "password",
        "tls",
        "ca_file",
        "server_name",
        "connect_timeout",
    ])?;
    let host = s.required("host")?;
    if host.str()?.starts_with('/') {
        return Err(host.error("Unix sockets are not supported; give a host name or IP address"));
    }
    let tls = read_libpq_tls(s, ["tls", "ca_file", "server_name"])?;
    Ok(MySqlUpstream {
        host: host.str()?.to_string(),
        // The range is checked, so the cast cannot truncate.
        port: s.optional("port", |f| f.integer(1, 65535))?.unwrap_or(3306) as u16,
        database: s.required("database")?.str()?.to_string(),
        user: s.required("user")?.str()?.to_string(),
        password: read_password(s)?,
        tls,
        connect_timeout: s
            .optional("connect_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        native_password,
    })
}

/// Lines for `jitgate check`.
pub(crate) fn describe(m: &MySqlUpstream, out: &mut String) {
    let _ = writeln!(out, "  upstream: {}:{}/{}", m.host, m.port, m.database);
    let _ = writeln!(out, "  user: {}", m.user);
    let password = match &m.password {
        None => "none".to_string(),
        Some(p) if p.origin() == "inline" => "inline (discouraged)".to_string(),
        Some(p) => p.origin().to_string(),
    };
    let _ = writeln!(out, "  password: {password}");
    let _ = writeln!(out, "  TLS: {}", describe_tls(&m.tls));
    let timeout = humantime::format_duration(m.connect_timeout);
    let _ = writeln!(out, "  connect timeout: {timeout}");
    if m.native_password {
        let _ = writeln!(
            out,
            "  clients: mysql_native_password accepted (credentials keep a SHA1(SHA1(secret)))"
        );
    }
}
