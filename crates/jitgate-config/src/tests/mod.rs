//! Behaviour of `parse`/`load`: the model produced, defaults, and where errors point.

mod databricks_sql;
mod masking;
mod mysql;
mod oidc;
mod policy;
mod spark;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::*;

/// A smallest valid file; line numbers in the tests below count from it.
const MINIMAL: &str = r#"[resources.prod-pg]
kind = "postgres"
listen = "127.0.0.1:6432"

[resources.prod-pg.upstream]
host = "127.0.0.1"
database = "app"
user = "svc"
"#;

/// The configuration `text` makes; the test fails if it is refused. Shared by every test module
/// of this crate.
pub(crate) fn parse_ok(text: &str) -> Config {
    match parse(text, Path::new("jitgate.toml")) {
        Ok(config) => config,
        Err(e) => panic!("expected a valid configuration, got: {e}"),
    }
}

/// The error `text` is refused with; the test fails if it is accepted.
pub(crate) fn error(text: &str) -> String {
    match parse(text, Path::new("jitgate.toml")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn postgres(config: &Config, name: &str) -> PostgresUpstream {
    match config.resource(name).map(|r| &r.upstream) {
        Some(Upstream::Postgres(pg)) => pg.clone(),
        Some(other) => panic!("resource {name} is of kind {}", other.kind()),
        None => panic!("no resource {name}"),
    }
}

/// A folder with the files a full configuration refers to.
fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write test file");
    }
    dir
}

#[test]
fn full_file_parses_into_the_model() {
    let dir = folder_with(&[
        ("server.crt", "c"),
        ("server.key", "k"),
        ("ca.pem", "ca"),
        ("pw", "s3cret-file\n\n"),
    ]);
    std::env::set_var("JITGATE_TEST_FULL_PW", "s3cret-env");
    let text = r#"
[server]
store = "/var/lib/jitgate/store.sqlite"
workers = 4
max_message_bytes = 1_048_576
login_timeout = "1m 30s"
allow_cleartext_without_tls = true
max_connections = 50
max_logging_in = 20
max_logging_in_per_address = 5
drain_timeout = "0s"

[server.tls]
mode = "required"
cert = "server.crt"
key = "server.key"

[resources.zeta]
kind = "postgres"
listen = "0.0.0.0:6432"
upstream = { host = "db.internal", port = 6543, database = "app", user = "svc", password_env = "JITGATE_TEST_FULL_PW", tls = "verify-full", ca_file = "ca.pem", server_name = "pg.internal", connect_timeout = "5s" }

[resources.alpha]
kind = "postgres"
listen = "[::1]:6433"
upstream.host = "10.0.0.5"
upstream.database = "reports"
upstream.user = "ro"
upstream.password_file = "pw"
upstream.tls = "disable"
"#;
    std::fs::write(dir.path().join("jitgate.toml"), text).expect("write config");
    let config = load(&dir.path().join("jitgate.toml")).expect("valid configuration");

    let s = &config.server;
    assert_eq!(s.store, PathBuf::from("/var/lib/jitgate/store.sqlite"));
    assert_eq!((s.workers, s.max_message_bytes), (4, 1 << 20));
    assert_eq!(s.login_timeout, Duration::from_secs(90));
    assert_eq!(
        (
            s.max_connections,
            s.max_logging_in,
            s.max_logging_in_per_address
        ),
        (50, 20, 5)
    );
    assert_eq!(s.drain_timeout, Duration::ZERO, "zero drains not at all");
    assert!(s.allow_cleartext_without_tls);
    assert_eq!(s.client_tls.mode, ClientTlsMode::Required);
    assert_eq!(s.client_tls.cert, Some(dir.path().join("server.crt")));
    assert_eq!(s.client_tls.key, Some(dir.path().join("server.key")));

    // File order, not alphabetical order.
    let names: Vec<&str> = config.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    let zeta = postgres(&config, "zeta");
    assert_eq!(
        config.resources[0].listen,
        "0.0.0.0:6432".parse::<SocketAddr>().unwrap()
    );
    assert_eq!((zeta.host.as_str(), zeta.port), ("db.internal", 6543));
    assert_eq!((zeta.database.as_str(), zeta.user.as_str()), ("app", "svc"));
    let password = zeta.password.expect("password");
    assert_eq!(
        (password.expose(), password.origin()),
        ("s3cret-env", "env JITGATE_TEST_FULL_PW")
    );
    assert_eq!(
        zeta.tls,
        UpstreamTls {
            mode: UpstreamTlsMode::VerifyFull,
            ca_file: Some(dir.path().join("ca.pem")),
            server_name: Some("pg.internal".into()),
        }
    );
    assert_eq!(zeta.connect_timeout, Duration::from_secs(5));

    let alpha = postgres(&config, "alpha");
    assert_eq!(
        config.resources[1].listen,
        "[::1]:6433".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        (alpha.host.as_str(), alpha.port, alpha.tls.mode),
        ("10.0.0.5", 5432, UpstreamTlsMode::Disable)
    );
    let password = alpha.password.expect("password");
    assert_eq!(
        password.expose(),
        "s3cret-file",
        "trailing newlines trimmed"
    );
    assert_eq!(
        password.origin(),
        format!("file {}", dir.path().join("pw").display())
    );
    assert!(config.resource("missing").is_none());
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let config = parse_ok(MINIMAL);
    let s = &config.server;
    let here = std::env::current_dir().expect("working directory");
    assert_eq!(s.store, here.join("jitgate.sqlite"));
    assert_eq!((s.workers, s.max_message_bytes), (1, 16 << 20));
    assert_eq!(s.login_timeout, Duration::from_secs(30));
    assert_eq!(
        (
            s.max_connections,
            s.max_logging_in,
            s.max_logging_in_per_address
        ),
        (1000, 256, 64)
    );
    assert_eq!(s.drain_timeout, Duration::from_secs(30));
    assert!(!s.allow_cleartext_without_tls);
    assert_eq!(
        s.client_tls,
        ClientTls {
            mode: ClientTlsMode::Off,
            cert: None,
            key: None
        }
    );
    let pg = postgres(&config, "prod-pg");
    assert_eq!(pg.port, 5432);
    assert!(pg.password.is_none());
    assert_eq!(
        pg.tls,
        UpstreamTls {
            mode: UpstreamTlsMode::Prefer,
            ca_file: None,
            server_name: None
        }
    );
    assert_eq!(pg.connect_timeout, Duration::from_secs(10));
}

#[test]
fn relative_paths_are_taken_from_the_config_folder() {
    let dir = folder_with(&[("c.pem", ""), ("k.pem", "")]);
    std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
    std::fs::write(dir.path().join("etc/ca.pem"), "").expect("write");
    let text = format!(
        "[server]\nstore = \"data/j.sqlite\"\n[server.tls]\nmode = \"optional\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         {MINIMAL}tls = \"verify-ca\"\nca_file = \"etc/ca.pem\"\n"
    );
    let config = parse(&text, &dir.path().join("jitgate.toml")).expect("valid configuration");
    assert_eq!(config.server.store, dir.path().join("data/j.sqlite"));
    assert_eq!(
        config.server.client_tls.cert,
        Some(dir.path().join("c.pem"))
    );
    assert_eq!(
        postgres(&config, "prod-pg").tls.ca_file,
        Some(dir.path().join("etc/ca.pem"))
    );
}

#[test]
fn value_errors_name_file_line_column_and_key() {
    let cases = [
        (format!("{MINIMAL}port = \"abc\"\n"), r#"jitgate.toml:9:8: resources.prod-pg.upstream.port: expected an integer from 1 to 65535, found "abc""#),
        (format!("{MINIMAL}port = 70000\n"), "jitgate.toml:9:8: resources.prod-pg.upstream.port: expected an integer from 1 to 65535, found 70000"),
        (format!("[server]\nworkers = 0\n{MINIMAL}"), "jitgate.toml:2:11: server.workers: expected an integer from 1 to 64, found 0"),
        (format!("[server]\nlogin_timeout = \"soon\"\n{MINIMAL}"), r#"jitgate.toml:2:17: server.login_timeout: expected a positive duration such as "30s" or "5m", found "soon""#),
        (format!("[server]\ndrain_timeout = \"later\"\n{MINIMAL}"), r#"jitgate.toml:2:17: server.drain_timeout: expected a duration such as "30s" or "0s", found "later""#),
        (format!("[server]\nmax_logging_in = 0\n{MINIMAL}"), "jitgate.toml:2:18: server.max_logging_in: expected an integer from 1 to 1000000, found 0"),
        (format!("[server]\nallow_cleartext_without_tls = 1\n{MINIMAL}"), "jitgate.toml:2:31: server.allow_cleartext_without_tls: expected true or false, found 1"),
        (MINIMAL.replace("127.0.0.1:6432", "localhost"), r#"jitgate.toml:3:10: resources.prod-pg.listen: expected a socket address such as "127.0.0.1:6432", found "localhost""#),
        (MINIMAL.replace("kind = \"postgres\"", "kind = \"oracle\""), r#"jitgate.toml:2:8: resources.prod-pg.kind: unknown kind "oracle"; known kinds: "postgres", "spark-connect", "databricks-sql", "mysql""#),
        (format!("{MINIMAL}tls = \"on\"\n"), r#"jitgate.toml:9:7: resources.prod-pg.upstream.tls: expected one of "disable", "prefer", "require", "verify-ca", "verify-full", found "on""#),
        (MINIMAL.replace("\"127.0.0.1\"\n", "\"/var/run/postgresql\"\n"), "jitgate.toml:6:8: resources.prod-pg.upstream.host: Unix socket directories are not supported; give a host name or IP address"),
        (MINIMAL.replace("prod-pg", "-bad"), "jitgate.toml:1:12: resources.-bad: a resource name starts with a letter or digit, continues with letters, digits, '_', '.' or '-', and has at most 63 characters"),
        (format!("{MINIMAL}ca_file = \"ca.pem\"\n"), r#"jitgate.toml:9:11: resources.prod-pg.upstream.ca_file: ca_file is only used with tls = "verify-ca" or "verify-full", not "prefer""#),
        (format!("[server.tls]\nmode = \"required\"\ncert = \"nope.crt\"\nkey = \"nope.key\"\n{MINIMAL}"), "jitgate.toml:3:8: server.tls.cert: cannot use "),
    ];
    for (text, expected) in cases {
        let got = error(&text);
        assert!(got.starts_with(expected), "\n got: {got}\nwant: {expected}");
    }
}

#[test]
fn missing_keys_point_at_their_table() {
    assert_eq!(
        error(&MINIMAL.replace("database = \"app\"\n", "")),
        r#"jitgate.toml:5:1: resources.prod-pg.upstream: missing key "database""#
    );
    assert_eq!(
        error(&MINIMAL.replace("listen = \"127.0.0.1:6432\"\n", "")),
        r#"jitgate.toml:1:1: resources.prod-pg: missing key "listen""#
    );
    assert_eq!(
        error(&format!("[server.tls]\nmode = \"optional\"\n{MINIMAL}")),
        r#"jitgate.toml:1:1: server.tls: missing key "cert""#
    );
    assert_eq!(
        error("[server.tls]\ncert = \"a\"\n"),
        r#"jitgate.toml:1:1: server.tls: missing key "mode""#
    );
    assert_eq!(
        error("[server]\nworkers = 2\n"),
        "jitgate.toml:1:1: resources: at least one resource is required, e.g. [resources.main]"
    );
    assert_eq!(
        error("[resources]\n"),
        "jitgate.toml:1:1: resources: at least one resource is required, e.g. [resources.main]"
    );
}

#[test]
fn unknown_keys_are_refused_with_the_valid_ones() {
    assert_eq!(
        error(&format!("[server]\nwrokers = 2\n{MINIMAL}")),
        "jitgate.toml:2:1: server.wrokers: unknown key; valid keys are: store, workers, \
         max_message_bytes, login_timeout, allow_cleartext_without_tls, max_connections, \
         max_logging_in, max_logging_in_per_address, drain_timeout, tls, replica, store_grace, store_password, store_password_env, store_password_file, \
         store_tls, store_ca_file, store_server_name"
    );
    let got = error(&format!("{MINIMAL}pasword = \"x\"\n"));
    assert!(got.starts_with("jitgate.toml:9:1: resources.prod-pg.upstream.pasword: unknown key; valid keys are: host, port,"), "{got}");
    let got = error(&format!("[logging]\n{MINIMAL}"));
    assert_eq!(
        got,
        "jitgate.toml:1:2: logging: unknown key; valid keys are: server, resources, api, users, \
         oidc, roles, access, webhooks, alerts, masking, slack"
    );
}

#[test]
fn two_resources_may_not_share_a_listen_address() {
    let second = MINIMAL.replace("prod-pg", "other");
    assert_eq!(
        error(&format!("{MINIMAL}\n{second}")),
        r#"jitgate.toml:12:10: resources.other.listen: 127.0.0.1:6432 is already the listen address of resource "prod-pg""#
    );
}

#[test]
fn syntax_errors_have_a_position() {
    let got = error("[server]\nworkers = \n");
    assert!(got.starts_with("jitgate.toml:2:"), "{got}");
    let got = error(&format!("{MINIMAL}user = \"again\"\n"));
    assert!(got.starts_with("jitgate.toml:9:1: duplicate key"), "{got}");
}

#[test]
fn env_secret_missing_or_present() {
    let text = format!("{MINIMAL}password_env = \"JITGATE_TEST_ENV_MISSING\"\n");
    std::env::remove_var("JITGATE_TEST_ENV_MISSING");
    assert_eq!(
        error(&text),
        "jitgate.toml:9:16: resources.prod-pg.upstream.password_env: environment variable JITGATE_TEST_ENV_MISSING is not set"
    );
    std::env::set_var("JITGATE_TEST_ENV_EMPTY", "");
    let got = error(&format!(
        "{MINIMAL}password_env = \"JITGATE_TEST_ENV_EMPTY\"\n"
    ));
    assert!(
        got.contains("the password from env JITGATE_TEST_ENV_EMPTY is empty"),
        "{got}"
    );
}

#[test]
fn file_secret_trimmed_or_unreadable() {
    let dir = folder_with(&[("pw", "line one\r\n")]);
    let source = dir.path().join("jitgate.toml");
    let config = parse(&format!("{MINIMAL}password_file = \"pw\"\n"), &source).expect("valid");
    let password = postgres(&config, "prod-pg").password.expect("password");
    assert_eq!(password.expose(), "line one");

    let err = parse(&format!("{MINIMAL}password_file = \"absent\"\n"), &source)
        .expect_err("unreadable file")
        .to_string();
    let want = format!(
        "{}:9:17: resources.prod-pg.upstream.password_file: cannot read password file {}",
        source.display(),
        dir.path().join("absent").display()
    );
    assert!(err.starts_with(&want), "\n got: {err}\nwant: {want}");
}

#[test]
fn only_one_password_source_and_inline_ones_are_not_echoed() {
    let text = format!("{MINIMAL}password = \"hunter2\"\npassword_env = \"X\"\n");
    assert_eq!(
        error(&text),
        "jitgate.toml:10:1: resources.prod-pg.upstream.password_env: password is already given; \
         use at most one of password_env, password_file and password"
    );
    let got = error(&format!("{MINIMAL}password = 123456\n"));
    assert!(
        got.ends_with("expected a non-empty string, found a TOML integer"),
        "{got}"
    );
    assert!(!got.contains("123456"));
}

#[test]
fn describe_shows_origins_never_values() {
    std::env::set_var("JITGATE_TEST_DESCRIBE_PW", "env-secret-value");
    let inline = MINIMAL.replace("prod-pg", "b").replace("6432", "6433");
    let text = format!(
        "{MINIMAL}password_env = \"JITGATE_TEST_DESCRIBE_PW\"\ntls = \"verify-full\"\nserver_name = \"db\"\n\n\
         {inline}password = \"inline-secret-value\"\n"
    );
    let config = parse_ok(&text);
    let text = config.describe();
    for expected in [
        "workers: 1",
        "client TLS: off",
        "resource prod-pg (postgres)",
        "listen: 127.0.0.1:6432",
        "upstream: 127.0.0.1:5432/app",
        "user: svc",
        "password: env JITGATE_TEST_DESCRIBE_PW",
        "TLS: verify-full, server name db",
        "password: inline (discouraged)",
        "login timeout: 30s",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("env-secret-value") && !text.contains("inline-secret-value"),
        "{text}"
    );
    assert!(
        !format!("{config:?}").contains("secret-value"),
        "Debug leaks a secret"
    );
}

#[test]
fn load_names_an_unreadable_file() {
    let err = load(Path::new("/nonexistent/jitgate.toml")).expect_err("no such file");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/jitgate.toml: cannot read"),
        "{err}"
    );
    assert!(err.location().is_none());
}

#[test]
fn the_shipped_example_is_valid() {
    // Keeps examples/jitgate.toml honest; its password comes from this variable.
    std::env::set_var("PROD_PG_PASSWORD", "example");
    let text = include_str!("../../../../examples/jitgate.toml");
    let config = parse_ok(text);
    assert_eq!(config.resources.len(), 1);
    assert!(config.describe().contains("password: env PROD_PG_PASSWORD"));
}
