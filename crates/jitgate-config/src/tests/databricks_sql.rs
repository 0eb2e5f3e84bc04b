//! `kind = "databricks-sql"` resources: defaults, credentials, and refusals.

use crate::tests::{error, parse_ok};
use crate::*;

fn upstream(config: &Config) -> &DatabricksSqlUpstream {
    match &config.resources[0].upstream {
        Upstream::DatabricksSql(u) => u,
        other => panic!("expected a databricks-sql upstream, got {}", other.kind()),
    }
}

fn config(upstream_lines: &str) -> String {
    format!(
        "[resources.wh]\nkind = \"databricks-sql\"\nlisten = \"127.0.0.1:10010\"\n\n[resources.wh.upstream]\n{upstream_lines}"
    )
}

#[test]
fn a_warehouse_gets_tls_port_443_and_its_token() {
    std::env::set_var("JG_TEST_DBSQL_TOKEN", "dapi-123");
    let c = parse_ok(&config(
        "host = \"https://adb-1.2.azuredatabricks.net/\"\nhttp_path = \"sql/1.0/warehouses/abc\"\ntoken_env = \"JG_TEST_DBSQL_TOKEN\"\n",
    ));
    let u = upstream(&c);
    assert_eq!(
        (u.host.as_str(), u.port, u.tls),
        ("adb-1.2.azuredatabricks.net", 443, true)
    );
    assert_eq!(u.http_path, "/sql/1.0/warehouses/abc");
    assert!(matches!(&u.auth, DatabricksSqlAuth::Token(t) if t.expose() == "dapi-123"));
    assert_eq!(u.default_database, "default");
    let text = c.describe();
    assert!(text.contains("resource wh (databricks-sql)"), "{text}");
    assert!(!text.contains("dapi-123"), "{text}");
}

#[test]
fn a_hiveserver2_gets_basic_auth_and_port_10001_without_tls() {
    std::env::set_var("JG_TEST_HS2_PASSWORD", "pw");
    let c = parse_ok(&config(
        "host = \"hs2\"\ntls = false\nuser = \"svc\"\npassword_env = \"JG_TEST_HS2_PASSWORD\"\n",
    ));
    let u = upstream(&c);
    assert_eq!(
        (u.port, u.tls, u.http_path.as_str()),
        (10001, false, "/cliservice")
    );
    assert!(matches!(&u.auth, DatabricksSqlAuth::Basic { user, .. } if user == "svc"));
    assert_eq!(u.idle_timeout, std::time::Duration::from_secs(3600));
}

#[test]
fn the_session_idle_limit_is_a_setting_of_the_resource() {
    let c = parse_ok(&config("host = \"hs2\"\nidle_timeout = \"90s\"\n"));
    assert_eq!(
        upstream(&c).idle_timeout,
        std::time::Duration::from_secs(90)
    );
    assert!(c
        .describe()
        .contains("sessions without calls end after 1m 30s"));
    let zero = error(&config("host = \"hs2\"\nidle_timeout = \"0s\"\n"));
    assert!(zero.contains("positive duration"), "{zero}");
    let long = error(&config("host = \"hs2\"\nidle_timeout = \"30d\"\n"));
    assert!(long.contains("at most"), "{long}");
}

#[test]
fn a_token_and_a_password_together_or_a_bad_host_are_refused() {
    std::env::set_var("JG_TEST_DBSQL_TOKEN2", "t");
    let both = error(&config(
        "host = \"h\"\ntoken_env = \"JG_TEST_DBSQL_TOKEN2\"\nuser = \"u\"\npassword = \"p\"\n",
    ));
    assert!(both.contains("not both"), "{both}");
    let host = error(&config("host = \"a b\"\n"));
    assert!(host.contains("host name"), "{host}");
}
