//! `[server]` and `[server.tls]`.

use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{ClientTls, ClientTlsMode, PostgresStore, Server};
use crate::resources::read_libpq_tls;
use crate::secret::read_secret;
use crate::section::{Doc, Field, Section};

const DEFAULT_MESSAGE_BYTES: i64 = 16 << 20;
/// Below this even an ordinary startup packet could be refused.
const MIN_MESSAGE_BYTES: i64 = 1024;
const MAX_MESSAGE_BYTES: i64 = 1 << 30;
const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Each session holds two descriptors (client and upstream); 1000 sessions fit a common limit
/// of 4096 open files with room for the store and the API.
const DEFAULT_MAX_CONNECTIONS: i64 = 1000;
/// Logins are quick; many at once is a pool starting, or a flood.
const DEFAULT_MAX_LOGGING_IN: i64 = 256;
const DEFAULT_MAX_LOGGING_IN_PER_ADDRESS: i64 = 64;
const MAX_CAP: i64 = 1_000_000;
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_STORE_GRACE: Duration = Duration::from_secs(30);
const MAX_STORE_GRACE: Duration = Duration::from_secs(300);

/// TLS to a PostgreSQL store: libpq's modes, as for the PostgreSQL upstreams.
const STORE_TLS_KEYS: [&str; 3] = ["store_tls", "store_ca_file", "store_server_name"];

/// `store = "postgresql://…"` (or `postgres://`); `None` for a SQLite file. The password comes
/// from `store_password_env`/`_file`, never from the URL (which is shown in logs and checks).
fn read_postgres_store(s: &Section<'_>) -> Result<Option<PostgresStore>, ConfigError> {
    let password = read_secret(s, "store_password")?;
    let url = match s.get("store") {
        Some(f) => Some((f.str()?, f)),
        None => None,
    };
    let Some((url, f)) =
        url.filter(|(u, _)| u.starts_with("postgresql://") || u.starts_with("postgres://"))
    else {
        if password.is_some() {
            return Err(s.error("store_password is given but store is not a postgresql:// URL"));
        }
        if let Some(key) = STORE_TLS_KEYS.iter().find(|k| s.get(k).is_some()) {
            return Err(s.error(format!(
                "{key} is given but store is not a postgresql:// URL"
            )));
        }
        return Ok(None);
    };
    let authority = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let password_in_query = query.split('&').any(|kv| {
        kv.split('=')
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("password"))
    });
    let password_in_user = authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'));
    if password_in_query || password_in_user {
        return Err(f.error(
            "the store URL carries a password; give it with store_password_env or store_password_file",
        ));
    }
    let tls_in_query = query.split('&').find_map(|kv| {
        let key = kv.split('=').next().unwrap_or("");
        key.to_ascii_lowercase().starts_with("ssl").then_some(key)
    });
    if let Some(key) = tls_in_query {
        return Err(f.error(format!(
            "the store URL sets `{key}`; give TLS with store_tls, store_ca_file and store_server_name"
        )));
    }
    Ok(Some(PostgresStore {
        url: url.to_owned(),
        password,
        tls: read_libpq_tls(s, STORE_TLS_KEYS)?,
    }))
}

/// A replica name: letters, digits, `.`, `_`, `-`, at most 64.
fn replica_name(f: &Field<'_>) -> Result<String, ConfigError> {
    let name = f.str()?;
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(f.error("a replica name is 1 to 64 letters, digits, '.', '_' or '-'"));
    }
    Ok(name.to_owned())
}

/// Reads `[server]` (an empty stand-in when the file has none).
pub(crate) fn read_server(doc: &Doc<'_>, s: &Section<'_>) -> Result<Server, ConfigError> {
    s.only(&[
        "store",
        "workers",
        "max_message_bytes",
        "login_timeout",
        "allow_cleartext_without_tls",
        "max_connections",
        "max_logging_in",
        "max_logging_in_per_address",
        "drain_timeout",
        "tls",
        "replica",
        "store_grace",
        "store_password",
        "store_password_env",
        "store_password_file",
        "store_tls",
        "store_ca_file",
        "store_server_name",
    ])?;
    let cap = |key: &str, default: i64| -> Result<usize, ConfigError> {
        // `integer` checks the range, so the cast cannot truncate.
        Ok(s.optional(key, |f| f.integer(1, MAX_CAP))?
            .unwrap_or(default) as usize)
    };
    let default_store = doc.resolve("jitgate.sqlite");
    let postgres_store = read_postgres_store(s)?;
    Ok(Server {
        store: match postgres_store {
            Some(_) => default_store,
            None => s.optional("store", |f| f.path())?.unwrap_or(default_store),
        },
        postgres_store,
        replica: s
            .optional("replica", |f| replica_name(f))?
            .unwrap_or_else(|| "main".to_owned()),
        store_grace: s
            .optional("store_grace", |f| {
                let grace = f.duration()?;
                if grace > MAX_STORE_GRACE {
                    return Err(f.error("store_grace is at most 5m: a lost control plane must not extend access for long"));
                }
                Ok(grace)
            })?
            .unwrap_or(DEFAULT_STORE_GRACE),
        // `integer` checks the ranges, so these casts cannot truncate.
        workers: s.optional("workers", |f| f.integer(1, 64))?.unwrap_or(1) as usize,
        max_message_bytes: s
            .optional("max_message_bytes", |f| {
                f.integer(MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES)
            })?
            .unwrap_or(DEFAULT_MESSAGE_BYTES) as usize,
        client_tls: match s.get("tls") {
            Some(f) => read_client_tls(&f.table()?)?,
            None => ClientTls {
                mode: ClientTlsMode::Off,
                cert: None,
                key: None,
            },
        },
        allow_cleartext_without_tls: s
            .optional("allow_cleartext_without_tls", |f| f.bool())?
            .unwrap_or(false),
        login_timeout: s
            .optional("login_timeout", |f| f.duration())?
            .unwrap_or(DEFAULT_LOGIN_TIMEOUT),
        max_connections: cap("max_connections", DEFAULT_MAX_CONNECTIONS)?,
        max_logging_in: cap("max_logging_in", DEFAULT_MAX_LOGGING_IN)?,
        max_logging_in_per_address: cap(
            "max_logging_in_per_address",
            DEFAULT_MAX_LOGGING_IN_PER_ADDRESS,
        )?,
        drain_timeout: s
            .optional("drain_timeout", |f| f.duration_or_zero())?
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT),
    })
}

/// `mode` is required once the table is written: a `[server.tls]` with a certificate but no mode
/// would otherwise quietly leave TLS off.
fn read_client_tls(s: &Section<'_>) -> Result<ClientTls, ConfigError> {
    s.only(&["mode", "cert", "key"])?;
    let mode = s
        .required("mode")?
        .choice(&ClientTlsMode::ALL, ClientTlsMode::as_str)?;
    let file = |name: &str| {
        if mode == ClientTlsMode::Off {
            s.optional(name, |f| f.existing_file())
        } else {
            s.required(name)?.existing_file().map(Some)
        }
    };
    Ok(ClientTls {
        mode,
        cert: file("cert")?,
        key: file("key")?,
    })
}
