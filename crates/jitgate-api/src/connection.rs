//! Where a client connects for a resource, and the libpq URI that says so.

use jitgate_config::{ClientTlsMode, Resource, Upstream};
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
    /// spark-connect resource `sc://HOST:PORT/;token=LOGIN.PASSWORD` (and no database). When
    /// jitgate offers TLS to clients (`[server.tls]`) the URI asks for it where the client would
    /// not use it by itself.
    pub uri: String,
    /// Whether jitgate offers TLS to database clients (`[server.tls]` not `off`).
    pub tls: bool,
    /// The command line of the resource kind's own client (`psql`, `mysql`, `beeline`), with the
    /// credential in it; none for Spark Connect, which has no shell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl ConnectionInfo {
    /// The resource's listen address, with an unspecified address (0.0.0.0, ::) replaced by
    /// loopback: the gateway cannot know which of its addresses the client reaches, and loopback
    /// is right for the common case of a client on the same machine.
    /// `tls` is `[server.tls]`'s mode: TLS is asked for where a client would not use it by
    /// itself (Spark Connect, JDBC), and required where jitgate requires it.
    pub fn new(
        resource: &Resource,
        tls: ClientTlsMode,
        login: &str,
        password: &str,
    ) -> ConnectionInfo {
        let mut info = match &resource.upstream {
            Upstream::Postgres(u) => Self::postgres(resource, &u.database, tls, login, password),
            Upstream::SparkConnect(_) => Self::spark_connect(resource, tls, login, password),
            Upstream::DatabricksSql(u) => {
                Self::databricks_sql(resource, &u.default_database, tls, login, password)
            }
            Upstream::MySql(m) => Self::mysql(resource, &m.database, tls, login, password),
        };
        info.tls = tls != ClientTlsMode::Off;
        info.command = info.client_command(&resource.upstream);
        info
    }

    fn client_command(&self, upstream: &Upstream) -> Option<String> {
        match upstream {
            Upstream::Postgres(_) => Some(format!("psql {}", shell_word(&self.uri))),
            Upstream::DatabricksSql(_) => Some(format!("beeline -u {}", shell_word(&self.uri))),
            Upstream::SparkConnect(_) => None,
            // The `mariadb` client takes the same options.
            Upstream::MySql(_) => Some(format!(
                "mysql -h {} -P {} -u {} -p{}{} {}",
                shell_word(&self.host),
                self.port,
                shell_word(&self.login),
                shell_word(&self.password),
                if self.tls { " --ssl" } else { "" },
                shell_word(&self.database)
            )),
        }
    }

    /// A libpq URI; libpq prefers TLS by itself, so only `required` is spelled out
    /// (`sslmode=require` refuses a downgrade).
    fn postgres(
        resource: &Resource,
        database: &str,
        tls: ClientTlsMode,
        login: &str,
        password: &str,
    ) -> ConnectionInfo {
        let listen = resource.listen;
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
        let query = if tls == ClientTlsMode::Required {
            "?sslmode=require"
        } else {
            ""
        };
        let uri = format!(
            "postgresql://{}:{}@{uri_host}:{}/{}{query}",
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
            tls: false,
            command: None,
        }
    }
}

impl ConnectionInfo {
    /// A MySQL URI: `mysql://LOGIN:PASSWORD@HOST:PORT/DATABASE`, which the `mysql` and `mariadb`
    /// clients' connectors and most drivers read (`?ssl-mode=REQUIRED` when TLS is required).
    fn mysql(
        resource: &Resource,
        database: &str,
        tls: ClientTlsMode,
        login: &str,
        password: &str,
    ) -> ConnectionInfo {
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
        let query = if tls == ClientTlsMode::Required {
            "?ssl-mode=REQUIRED"
        } else {
            ""
        };
        let uri = format!(
            "mysql://{}:{}@{uri_host}:{}/{}{query}",
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
            tls: false,
            command: None,
        }
    }

    /// A Spark Connect URI: the bearer token is `LOGIN.SECRET` (logins and secrets have no
    /// `;`, and secrets no `.`). PySpark sends a token without TLS only to `localhost`, so a
    /// loopback listen address is spelled that way. With TLS offered, `use_ssl=true` (PySpark does
    /// not try TLS by itself).
    fn spark_connect(
        resource: &Resource,
        tls: ClientTlsMode,
        login: &str,
        password: &str,
    ) -> ConnectionInfo {
        let listen = resource.listen;
        let host = if listen.ip().is_loopback() || listen.ip().is_unspecified() {
            "localhost".to_owned()
        } else if listen.ip().is_ipv6() {
            format!("[{}]", listen.ip())
        } else {
            listen.ip().to_string()
        };
        let ssl = if tls == ClientTlsMode::Off {
            ""
        } else {
            "use_ssl=true;"
        };
        let uri = format!(
            "sc://{host}:{}/;{ssl}token={login}.{password}",
            listen.port()
        );
        ConnectionInfo {
            login: login.to_owned(),
            password: password.to_owned(),
            host,
            port: listen.port(),
            database: String::new(),
            uri,
            tls: false,
            command: None,
        }
    }
}

impl ConnectionInfo {
    /// A HiveServer2 JDBC URL over HTTP (beeline, JDBC drivers): the user is `token` and the
    /// password `LOGIN.SECRET`, which is also what ODBC drivers and the Databricks SQL connector
    /// send (as password of Basic auth, or as bearer token). With TLS offered, `ssl=true` (what
    /// Hive's JDBC driver reads).
    fn databricks_sql(
        resource: &Resource,
        database: &str,
        tls: ClientTlsMode,
        login: &str,
        password: &str,
    ) -> ConnectionInfo {
        let listen = resource.listen;
        let host = match listen.ip() {
            ip if ip.is_unspecified() || ip.is_loopback() => "127.0.0.1".to_owned(),
            ip if ip.is_ipv6() => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let ssl = if tls == ClientTlsMode::Off {
            ""
        } else {
            "ssl=true;"
        };
        let uri = format!(
            "jdbc:hive2://{host}:{}/{database};{ssl}transportMode=http;httpPath=cliservice;user=token;password={login}.{password}",
            listen.port()
        );
        ConnectionInfo {
            login: login.to_owned(),
            password: password.to_owned(),
            host,
            port: listen.port(),
            database: database.to_owned(),
            uri,
            tls: false,
            command: None,
        }
    }
}

/// `word` as one word of a POSIX shell command line: as is when it holds nothing a shell reads,
/// else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,:/@=+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
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

    const OFF: ClientTlsMode = ClientTlsMode::Off;

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
        let info = ConnectionInfo::new(&resource("0.0.0.0:6543", "app"), OFF, "alice-x", "s3");
        assert_eq!(info.host, "127.0.0.1");
        assert_eq!(info.uri, "postgresql://alice-x:s3@127.0.0.1:6543/app");
        let v6 = ConnectionInfo::new(&resource("[::]:6543", "app"), OFF, "a", "b");
        assert_eq!(v6.uri, "postgresql://a:b@[::1]:6543/app");
    }

    #[test]
    fn odd_database_names_are_encoded() {
        let info = ConnectionInfo::new(&resource("127.0.0.1:1", "my db/x"), OFF, "a", "b");
        assert_eq!(info.uri, "postgresql://a:b@127.0.0.1:1/my%20db%2Fx");
        assert_eq!(info.database, "my db/x");
    }

    #[test]
    fn spark_connect_resources_get_an_sc_uri_with_the_credential_as_token() {
        let text = "[resources.lake]\nkind = \"spark-connect\"\nlisten = \"127.0.0.1:15102\"\n\
                    [resources.lake.upstream]\nhost = \"spark\"\n";
        let config = jitgate_config::parse(text, "t.toml".as_ref()).expect("valid config");
        let info = ConnectionInfo::new(&config.resources[0], OFF, "alice-x", "s3");
        // PySpark sends a token without TLS only to "localhost".
        assert_eq!(info.uri, "sc://localhost:15102/;token=alice-x.s3");
        let tls = ConnectionInfo::new(&config.resources[0], ClientTlsMode::Optional, "a", "b");
        assert_eq!(tls.uri, "sc://localhost:15102/;use_ssl=true;token=a.b");
    }

    #[test]
    fn uris_ask_for_tls_where_clients_would_not_by_themselves() {
        let pg = resource("127.0.0.1:6543", "app");
        let optional = ConnectionInfo::new(&pg, ClientTlsMode::Optional, "a", "b");
        assert_eq!(optional.uri, "postgresql://a:b@127.0.0.1:6543/app");
        assert!(optional.tls);
        let required = ConnectionInfo::new(&pg, ClientTlsMode::Required, "a", "b");
        assert_eq!(
            required.uri,
            "postgresql://a:b@127.0.0.1:6543/app?sslmode=require"
        );

        let text = "[resources.wh]\nkind = \"databricks-sql\"\nlisten = \"127.0.0.1:10009\"\n\
                    [resources.wh.upstream]\nhost = \"spark\"\n";
        let config = jitgate_config::parse(text, "t.toml".as_ref()).expect("valid config");
        let jdbc = ConnectionInfo::new(&config.resources[0], ClientTlsMode::Optional, "a", "b");
        assert!(
            jdbc.uri
                .starts_with("jdbc:hive2://127.0.0.1:10009/default;ssl=true;transportMode=http;"),
            "{}",
            jdbc.uri
        );
        assert_eq!(jdbc.command, Some(format!("beeline -u '{}'", jdbc.uri)));
    }

    #[test]
    fn client_commands_quote_what_a_shell_would_read() {
        let info = ConnectionInfo::new(&resource("127.0.0.1:1", "my db"), OFF, "a", "b");
        assert_eq!(
            info.command.as_deref(),
            Some("psql postgresql://a:b@127.0.0.1:1/my%20db")
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
