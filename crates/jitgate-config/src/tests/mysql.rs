//! `kind = "mysql"` resources.

use super::{error, parse_ok};
use crate::model::UpstreamTlsMode;
use crate::Upstream;

const MYSQL: &str = r#"[resources.shop]
kind = "mysql"
listen = "127.0.0.1:13306"

[resources.shop.upstream]
host = "db.internal"
database = "shop"
user = "svc"
password = "inline-secret"
"#;

#[test]
fn mysql_resources_default_to_port_3306_and_describe_without_secrets() {
    let config = parse_ok(MYSQL);
    let Upstream::MySql(m) = &config.resources[0].upstream else {
        panic!("not a MySQL resource");
    };
    assert_eq!(
        (m.host.as_str(), m.port, m.database.as_str()),
        ("db.internal", 3306, "shop")
    );
    assert_eq!(config.resources[0].upstream.kind(), "mysql");
    let described = config.describe();
    assert!(described.contains("resource shop (mysql)"), "{described}");
    assert!(
        described.contains("upstream: db.internal:3306/shop"),
        "{described}"
    );
    assert!(!described.contains("inline-secret"));
}

#[test]
fn mysql_upstreams_refuse_unknown_keys_and_sockets() {
    let got = error(&format!("{MYSQL}sslmode = \"require\"\n"));
    assert!(got.contains("resources.shop.upstream.sslmode"), "{got}");
    let got = error(&MYSQL.replace("\"db.internal\"", "\"/run/mysqld/mysqld.sock\""));
    assert!(got.contains("Unix sockets are not supported"), "{got}");
}

/// The PostgreSQL upstream's TLS keys, with the same default (`prefer`) and checks.
#[test]
fn mysql_upstreams_take_the_tls_modes_of_the_postgres_upstream() {
    let Upstream::MySql(m) = &parse_ok(MYSQL).resources[0].upstream else {
        panic!("not a MySQL resource");
    };
    assert_eq!(m.tls.mode, UpstreamTlsMode::Prefer);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "").expect("write");
    let text = format!(
        "{MYSQL}tls = \"verify-full\"\nca_file = \"{}\"\nserver_name = \"db.example\"\n",
        ca.display()
    );
    let config = parse_ok(&text);
    let Upstream::MySql(m) = &config.resources[0].upstream else {
        panic!("not a MySQL resource");
    };
    assert_eq!(m.tls.mode, UpstreamTlsMode::VerifyFull);
    assert_eq!(m.tls.ca_file.as_deref(), Some(ca.as_path()));
    assert_eq!(m.tls.server_name.as_deref(), Some("db.example"));
    let described = config.describe();
    assert!(
        described.contains("TLS: verify-full, CA") && described.contains("server name db.example"),
        "{described}"
    );
    let got = error(&format!("{MYSQL}tls = \"sometimes\"\n"));
    assert!(got.contains("resources.shop.upstream.tls"), "{got}");
    let got = error(&format!(
        "{MYSQL}tls = \"require\"\nca_file = \"{}\"\n",
        ca.display()
    ));
    assert!(got.contains("only used with tls = \"verify-ca\""), "{got}");
    let got = error(&format!(
        "{MYSQL}tls = \"verify-ca\"\nca_file = \"/nonexistent/ca.pem\"\n"
    ));
    assert!(got.contains("ca_file"), "{got}");
}

/// `native_password` is off unless the resource table says so, is described by `jitgate check`,
/// and belongs to mysql resources only.
#[test]
fn native_password_is_an_opt_in_of_mysql_resources() {
    let Upstream::MySql(m) = &parse_ok(MYSQL).resources[0].upstream else {
        panic!("not a MySQL resource");
    };
    assert!(!m.native_password);
    let text = MYSQL.replace(
        "listen = \"127.0.0.1:13306\"\n",
        "listen = \"127.0.0.1:13306\"\nnative_password = true\n",
    );
    let config = parse_ok(&text);
    let Upstream::MySql(m) = &config.resources[0].upstream else {
        panic!("not a MySQL resource");
    };
    assert!(m.native_password);
    let described = config.describe();
    assert!(
        described.contains("mysql_native_password accepted"),
        "{described}"
    );
    let got = error(&text.replace("native_password = true", "native_password = \"yes\""));
    assert!(got.contains("resources.shop.native_password"), "{got}");
    let pg = "[resources.main]\nkind = \"postgres\"\nlisten = \"127.0.0.1:6432\"\nnative_password = true\n\n\
              [resources.main.upstream]\nhost = \"db\"\ndatabase = \"app\"\nuser = \"svc\"\n";
    let got = error(pg);
    assert!(
        got.contains("native_password is a setting of kind = \"mysql\""),
        "{got}"
    );
}
