//! Where a client connects for a resource, and the libpq URI that says so.

use jitgate_config::{Resource, Upstream};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

/// RFC 3986's unreserved characters: every other byte is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How to reach a resource through jitgate with a minted credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    pub login: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// `postgresql://LOGIN:PASSWORD@HOST:PORT/DATABASE`, ready for psql or a driver; for a
    /// spark-connect resource `sc://HOST:PORT/;token=LOGIN.PASSWORD` (and no database).
    pub uri: String,
}

impl ConnectionInfo {
    /// The resource's listen address, with an unspecified address (0.0.0.0, ::) replaced by
    /// loopback: the gateway cannot know which of its addresses the client reaches, and loopback
    /// is right for the common case of a client on the same machine.
    pub fn new(resource: &Resource, login: &str, password: &str) -> ConnectionInfo {
        let listen = resource.listen;
        let upstream = match &resource.upstream {
            Upstream::Postgres(upstream) => upstream,
            Upstream::SparkConnect(_) => return Self::spark_connect(resource, login, password),
            Upstream::DatabricksSql(u) => {
                return Self::databricks_sql(resource, &u.default_database, login, password)
            }
            Upstream::MySql(m) => return Self::mysql(resource, &m.database, login, password),
        };
        let host = match listen.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "::1".to_owned(),
            ip => ip.to_string(),
        };
        let uri_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let uri = format!(
            "postgresql://{}:{}@{uri_host}:{}/{}",
            percent_encode(login),
            percent_encode(password),
            listen.port(),
            percent_encode(&upstream.database)
        );
        ConnectionInfo {
            login: login.to_owned(),
            password: password.to_owned(),
            host,
            port: listen.port(),
            database: upstream.database.clone(),
            uri,
        }
    }
}

impl ConnectionInfo {
    /// A MySQL URI: `mysql://LOGIN:PASSWORD@HOST:PORT/DATABASE`, which the `mysql` and `mariadb`
    /// clients' connectors and most drivers read.
    fn mysql(resource: &Resource, database: &str, login: &str, password: &str) -> ConnectionInfo {
        let listen = resource.listen;
        let host = match listen.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        };
        let uri_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let uri = format!(
            "mysql://{}:{}@{uri_host}:{}/{}",
            percent_encode(login),
            percent_encode(password),
            listen.port(),
            percent_encode(database)
        );
        ConnectionInfo {
            login: login.to_owned(),
            password: password.to_owned(),
            host,
            port: listen.port(),
            database: database.to_owned(),
            uri,
        }
    }

    /// A Spark Connect URI: the bearer token is `LOGIN.SECRET` (logins and secrets have no
    /// `;`, and secrets no `.`). PySpark sends a token without TLS only to `localhost`, so a
    /// loopback listen address is spelled that way.
    fn spark_connect(resource: &Resource, login: &str, password: &str) -> ConnectionInfo {
        let listen = resource.listen;
        let host = if listen.ip().is_loopback() || listen.ip().is_unspecified() {
            "localhost".to_owned()
        } else if listen.ip().is_ipv6() {
            format!("[{}]", listen.ip())
        } else {
            listen.ip().to_string()
        };
        let uri = format!("sc://{host}:{}/;token={login}.{password}", listen.port());
        ConnectionInfo {
            login: login.to_owned(),
            password: password.to_owned(),
            host,
            port: listen.port(),
            database: String::new(),
            uri,
        }
    }
}

impl ConnectionInfo {
    /// A HiveServer2 JDBC URL over HTTP (beeline, JDBC drivers): the user is `token` and the
    /// password `LOGIN.SECRET`, which is also what ODBC drivers and the Databricks SQL connector
    /// send (as password of Basic auth, or as bearer token).
    fn databricks_sql(
        resource: &Resource,
        database: &str,
        login: &str,
        password: &str,
    ) -> ConnectionInfo {
        let listen = resource.listen;
        let host = match listen.ip() {
            ip if ip.is_unspecified() || ip.is_loopback() => "127.0.0.1".to_owned(),
            ip if ip.is_ipv6() => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let uri = format!(
            "jdbc:hive2://{host}:{}/{database};transportMode=http;httpPath=cliservice;user=token;password={login}.{password}",
            listen.port()
        );
        ConnectionInfo {
            login: login.to_owned(),
            password: password.to_owned(),
            host,
            port: listen.port(),
            database: database.to_owned(),
            uri,
        }
    }
}

/// Percent-encodes what a URI's user, password or path segment cannot carry as is (the CLI
/// builds its API paths with it too).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(listen: &str, database: &str) -> Resource {
        let text = format!(
            "[resources.app]\nkind = \"postgres\"\nlisten = \"{listen}\"\n\
             [resources.app.upstream]\nhost = \"db\"\ndatabase = \"{database}\"\nuser = \"svc\"\n"
        );
        let config = jitgate_config::parse(&text, "t.toml".as_ref()).expect("valid config");
        config.resources[0].clone()
    }

    #[test]
    fn unspecified_listen_addresses_become_loopback() {
        let info = ConnectionInfo::new(&resource("0.0.0.0:6543", "app"), "alice-x", "s3");
        assert_eq!(info.host, "127.0.0.1");
        assert_eq!(info.uri, "postgresql://alice-x:s3@127.0.0.1:6543/app");
        let v6 = ConnectionInfo::new(&resource("[::]:6543", "app"), "a", "b");
        assert_eq!(v6.uri, "postgresql://a:b@[::1]:6543/app");
    }

    #[test]
    fn odd_database_names_are_encoded() {
        let info = ConnectionInfo::new(&resource("127.0.0.1:1", "my db/x"), "a", "b");
        assert_eq!(info.uri, "postgresql://a:b@127.0.0.1:1/my%20db%2Fx");
        assert_eq!(info.database, "my db/x");
    }

    #[test]
    fn spark_connect_resources_get_an_sc_uri_with_the_credential_as_token() {
        let text = "[resources.lake]\nkind = \"spark-connect\"\nlisten = \"127.0.0.1:15102\"\n\
                    [resources.lake.upstream]\nhost = \"spark\"\n";
        let config = jitgate_config::parse(text, "t.toml".as_ref()).expect("valid config");
        let info = ConnectionInfo::new(&config.resources[0], "alice-x", "s3");
        // PySpark sends a token without TLS only to "localhost".
        assert_eq!(info.uri, "sc://localhost:15102/;token=alice-x.s3");
    }
}
