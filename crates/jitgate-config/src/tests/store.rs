//! `[server] store = "postgresql://…"`, the replica's name and the grace without a store.

use super::{error, parse_ok, MINIMAL};
use std::time::Duration;

#[test]
fn a_postgresql_store_takes_its_password_from_the_environment() {
    std::env::set_var("JITGATE_TEST_STORE_PW", "s3cret");
    let config = parse_ok(&format!(
        "[server]\nstore = \"postgresql://jitgate@db.internal:5432/jitgate\"\n\
         store_password_env = \"JITGATE_TEST_STORE_PW\"\nreplica = \"gw-2\"\n\
         store_grace = \"1m\"\n{MINIMAL}"
    ));
    let s = &config.server;
    let pg = s.postgres_store.as_ref().expect("a PostgreSQL store");
    assert_eq!(pg.url, "postgresql://jitgate@db.internal:5432/jitgate");
    assert_eq!(pg.password.as_ref().map(|p| p.expose()), Some("s3cret"));
    assert_eq!(s.replica, "gw-2");
    assert_eq!(s.store_grace, Duration::from_secs(60));
}

#[test]
fn a_sqlite_store_is_the_default_with_replica_main_and_a_30s_grace() {
    let s = parse_ok(MINIMAL).server;
    assert!(s.postgres_store.is_none());
    assert_eq!(s.replica, "main");
    assert_eq!(s.store_grace, Duration::from_secs(30));
}

#[test]
fn a_password_in_the_url_a_long_grace_and_odd_replica_names_are_refused() {
    let e = error(&format!(
        "[server]\nstore = \"postgresql://jitgate:pw@db/jitgate\"\n{MINIMAL}"
    ));
    assert!(e.contains("store_password_env"), "{e}");
    let e = error(&format!(
        "[server]\nstore = \"postgresql://jitgate@db/jitgate?sslmode=disable&password=pw\"\n{MINIMAL}"
    ));
    assert!(e.contains("store_password_env"), "{e}");
    let e = error(&format!("[server]\nstore_grace = \"10m\"\n{MINIMAL}"));
    assert!(e.contains("at most 5m"), "{e}");
    let e = error(&format!("[server]\nreplica = \"a b\"\n{MINIMAL}"));
    assert!(e.contains("replica name"), "{e}");
    let e = error(&format!(
        "[server]\nstore = \"x.sqlite\"\nstore_password = \"pw\"\n{MINIMAL}"
    ));
    assert!(e.contains("not a postgresql:// URL"), "{e}");
}

/// TLS to the store takes the upstreams' libpq modes (default `prefer`) from its own keys; the
/// URL's `ssl…` parameters, a CA file with a mode that ignores it, and TLS keys without a
/// PostgreSQL store are refused rather than guessed at.
#[test]
fn store_tls_takes_libpq_modes_from_its_own_keys() {
    use crate::model::UpstreamTlsMode;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not read at parse time").expect("writing");
    let url = "store = \"postgresql://jitgate@db.internal/jitgate\"";
    let config = parse_ok(&format!("[server]\n{url}\n{MINIMAL}"));
    let pg = config.server.postgres_store.expect("a PostgreSQL store");
    assert_eq!(pg.tls.mode, UpstreamTlsMode::Prefer);

    let config = parse_ok(&format!(
        "[server]\n{url}\nstore_tls = \"verify-full\"\nstore_ca_file = {:?}\n\
         store_server_name = \"db.example\"\n{MINIMAL}",
        ca.display().to_string()
    ));
    let tls = config
        .server
        .postgres_store
        .expect("a PostgreSQL store")
        .tls;
    assert_eq!(tls.mode, UpstreamTlsMode::VerifyFull);
    assert_eq!(tls.ca_file.as_deref(), Some(ca.as_path()));
    assert_eq!(tls.server_name.as_deref(), Some("db.example"));

    let e = error(&format!(
        "[server]\nstore = \"postgresql://jitgate@db/jitgate?sslmode=require\"\n{MINIMAL}"
    ));
    assert!(e.contains("`sslmode`") && e.contains("store_tls"), "{e}");
    let e = error(&format!(
        "[server]\n{url}\nstore_tls = \"require\"\nstore_ca_file = {:?}\n{MINIMAL}",
        ca.display().to_string()
    ));
    assert!(
        e.contains("store_ca_file is only used with store_tls"),
        "{e}"
    );
    let e = error(&format!(
        "[server]\n{url}\nstore_tls = \"always\"\n{MINIMAL}"
    ));
    assert!(e.contains("verify-full"), "{e}");
    let e = error(&format!("[server]\nstore_tls = \"require\"\n{MINIMAL}"));
    assert!(
        e.contains("store_tls is given but store is not a postgresql:// URL"),
        "{e}"
    );
}
