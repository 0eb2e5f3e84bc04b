//! `kind = "mysql"` resources.

use super::{error, parse_ok};
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
    let got = error(&format!("{MYSQL}tls = \"require\"\n"));
    assert!(got.contains("resources.shop.upstream.tls"), "{got}");
    let got = error(&MYSQL.replace("\"db.internal\"", "\"/run/mysqld/mysqld.sock\""));
    assert!(got.contains("Unix sockets are not supported"), "{got}");
}
