//! TLS between jitgate and its MySQL upstream: a session under `verify-full` runs over TLS, and
//! a certificate that does not match (wrong name, foreign CA) or a server without TLS under
//! `require` refuses the login with a clear error and an `upstream.failed` audit event.

use jitgate_testkit::mariadb::MariaDbOptions;
use jitgate_testkit::MariaDb;

use crate::env::{start_custom, Env};

fn with_tls() -> MariaDbOptions {
    MariaDbOptions {
        tls: true,
        ..MariaDbOptions::default()
    }
}

/// `tls`, `ca_file` (the server's own CA unless `ca` is given) and `server_name` lines.
fn verify_full(db: &MariaDb, server_name: &str, ca: Option<&str>) -> String {
    let own = db
        .ca_cert_path()
        .expect("MariaDB started with TLS has a CA");
    let ca = ca.map_or_else(|| own.display().to_string(), str::to_owned);
    format!("tls = \"verify-full\"\nca_file = \"{ca}\"\nserver_name = \"{server_name}\"\n")
}

/// A CA of nobody the upstream knows, written as PEM.
fn foreign_ca(dir: &std::path::Path) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).expect("CA");
    let path = dir.join("foreign-ca.pem");
    std::fs::write(&path, ca.pem()).expect("write");
    path.display().to_string()
}

/// A login through jitgate fails with the upstream-refusal shape naming `why`, and the audit
/// trail records the upstream's failure.
fn assert_refused(env: &Env, why: &str) {
    let erin = env.grant("erin");
    let out = env.cli(&erin.login, &erin.password, "SELECT 1");
    assert!(!out.ok, "the login must be refused: {}", out.stdout);
    assert!(
        out.stderr.contains("ERROR 1042 (08S01)")
            && out
                .stderr
                .contains("jitgate cannot log in to the upstream database")
            && out.stderr.contains(why),
        "{}\n{}",
        out.stderr,
        env.gateway.log()
    );
    let events = env.audit_until(|e| e.iter().any(|e| e.event.kind == "upstream.failed"));
    let failed = events
        .iter()
        .find(|e| e.event.kind == "upstream.failed")
        .expect("an upstream.failed event");
    assert_eq!(failed.event.subject.as_deref(), Some("erin"));
}

#[test]
fn sessions_reach_a_verified_upstream_over_tls() {
    let Some(env) = start_custom("", with_tls(), &|db| verify_full(db, "localhost", None)) else {
        return;
    };
    let erin = env.grant("erin");
    let out = env.cli(
        &erin.login,
        &erin.password,
        "SHOW STATUS LIKE 'Ssl_cipher'; SELECT COUNT(*) FROM customers",
    );
    assert!(out.ok, "{}\n{}", out.stderr, env.gateway.log());
    let cipher = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Ssl_cipher\t"))
        .expect("an Ssl_cipher row");
    assert!(!cipher.trim().is_empty(), "no TLS upstream: {}", out.stdout);
    assert!(out.stdout.lines().any(|l| l == "3"), "{}", out.stdout);
}

#[test]
fn verify_full_refuses_a_certificate_for_another_name() {
    let Some(env) = start_custom("", with_tls(), &|db| {
        verify_full(db, "db.example.com", None)
    }) else {
        return;
    };
    assert_refused(&env, "TLS with the upstream failed");
}

#[test]
fn verify_full_refuses_a_certificate_of_a_foreign_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = foreign_ca(dir.path());
    let Some(env) = start_custom("", with_tls(), &|db| {
        verify_full(db, "localhost", Some(&ca))
    }) else {
        return;
    };
    assert_refused(&env, "TLS with the upstream failed");
}

#[test]
fn require_refuses_an_upstream_without_tls() {
    let Some(env) = start_custom("", MariaDbOptions::default(), &|_| {
        "tls = \"require\"\n".to_owned()
    }) else {
        return;
    };
    assert_refused(&env, "does not offer TLS");
}
