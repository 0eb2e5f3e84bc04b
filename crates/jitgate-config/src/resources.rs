//! `[resources.NAME]` and their `[resources.NAME.upstream]` tables.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{PostgresUpstream, Resource, Upstream, UpstreamTls, UpstreamTlsMode};
use crate::mysql::read_mysql;
use crate::secret::read_password;
use crate::section::{Doc, Field, Section};
use crate::spark::read_spark_connect;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads every resource, in file order; a gateway without any would have nothing to serve.
pub(crate) fn read_resources(
    doc: &Doc<'_>,
    root: &Section<'_>,
) -> Result<Vec<Resource>, ConfigError> {
    let none = "at least one resource is required, e.g. [resources.main]";
    let Some(field) = root.get("resources") else {
        return Err(doc.error(&(0..0), "resources", none));
    };
    let table = field.table()?;
    let entries = table.entries();
    if entries.is_empty() {
        return Err(field.error(none));
    }
    let mut resources: Vec<Resource> = Vec::with_capacity(entries.len());
    for entry in &entries {
        check_name(entry)?;
        let resource = read_resource(entry)?;
        if let Some(other) = resources.iter().find(|r| r.listen == resource.listen) {
            let listen = entry.table()?.required("listen")?;
            return Err(listen.error(format!(
                "{} is already the listen address of resource \"{}\"",
                resource.listen, other.name
            )));
        }
        resources.push(resource);
    }
    Ok(resources)
}

/// Names end up in logs, grants and command lines, so keep them to `[A-Za-z0-9][A-Za-z0-9_.-]{0,62}`.
fn check_name(entry: &Field<'_>) -> Result<(), ConfigError> {
    let mut chars = entry.name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && entry.name.len() <= 63;
    if valid {
        return Ok(());
    }
    Err(entry.key_error(
        "a resource name starts with a letter or digit, continues with letters, digits, '_', '.' \
         or '-', and has at most 63 characters",
    ))
}

fn read_resource(entry: &Field<'_>) -> Result<Resource, ConfigError> {
    let s = entry.table()?;
    s.only(&[
        "kind",
        "listen",
        "upstream",
        "databricks",
        "native_password",
    ])?;
    let kind = s.required("kind")?;
    let listen = s
        .required("listen")?
        .parse::<SocketAddr>("a socket address such as \"127.0.0.1:6432\"")?;
    let upstream = match kind.str()? {
        "postgres" => {
            if let Some(d) = s.get("databricks") {
                return Err(d.key_error("databricks is a preset of kind = \"spark-connect\""));
            }
            Upstream::Postgres(read_postgres(&s.required("upstream")?.table()?)?)
        }
        "spark-connect" => Upstream::SparkConnect(read_spark_connect(&s, &kind)?),
        "databricks-sql" => Upstream::DatabricksSql(
            crate::databricks_sql::read_databricks_sql(&s.required("upstream")?.table()?)?,
        ),
        "mysql" => {
            if let Some(d) = s.get("databricks") {
                return Err(d.key_error("databricks is a preset of kind = \"spark-connect\""));
            }
            Upstream::MySql(read_mysql(&s)?)
        }
        other => {
            return Err(kind.error(format!(
                "unknown kind {other:?}; known kinds: \"postgres\", \"spark-connect\", \"databricks-sql\", \"mysql\""
            )))
        }
    };
    if let (Some(f), false) = (
        s.get("native_password"),
        matches!(upstream, Upstream::MySql(_)),
    ) {
        return Err(f.key_error("native_password is a setting of kind = \"mysql\""));
    }
    Ok(Resource {
        name: entry.name.to_string(),
        listen,
        upstream,
    })
}

/// TLS towards a PostgreSQL or MySQL server from the keys `[mode, ca_file, server_name]` of `s` (the
/// upstream's `tls`, `ca_file`, `server_name`; the store's `store_tls`, …): libpq's modes,
/// default `prefer`.
pub(crate) fn read_libpq_tls(s: &Section<'_>, keys: [&str; 3]) -> Result<UpstreamTls, ConfigError> {
    let [mode_key, ca_key, name_key] = keys;
    let mode = s
        .optional(mode_key, |f| {
            f.choice(&UpstreamTlsMode::ALL, UpstreamTlsMode::as_str)
        })?
        .unwrap_or(UpstreamTlsMode::Prefer);
    let ca_file = match s.get(ca_key) {
        // libpq quietly upgrades `require` to `verify-ca` when a root file exists; refusing the
        // combination avoids guessing which of the two the user meant.
        Some(f) if !mode.verifies() => {
            return Err(f.error(format!(
            "{ca_key} is only used with {mode_key} = \"verify-ca\" or \"verify-full\", not \"{}\"",
            mode.as_str()
        )))
        }
        Some(f) => Some(f.existing_file()?),
        None => None,
    };
    Ok(UpstreamTls {
        mode,
        ca_file,
        server_name: s.optional(name_key, |f| f.str().map(str::to_string))?,
    })
}

fn read_postgres(s: &Section<'_>) -> Result<PostgresUpstream, ConfigError> {
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
        return Err(
            host.error("Unix socket directories are not supported; give a host name or IP address")
        );
    }
    let tls = read_libpq_tls(s, ["tls", "ca_file", "server_name"])?;
    Ok(PostgresUpstream {
        host: host.str()?.to_string(),
        // The range is checked, so the cast cannot truncate.
        port: s.optional("port", |f| f.integer(1, 65535))?.unwrap_or(5432) as u16,
        database: s.required("database")?.str()?.to_string(),
        user: s.required("user")?.str()?.to_string(),
        password: read_password(s)?,
        tls,
        connect_timeout: s
            .optional("connect_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    })
}
