//! The throwaway MariaDB servers the MySQL front's tests and `jitgate demo` run.

use std::process::Command;

use jitgate_testkit::mariadb::{MariaDb, MariaDbOptions};

/// The `mariadb` client over TCP as `db`'s service account, with `extra` options.
fn client(db: &MariaDb, extra: &[String], sql: &str) -> std::process::Output {
    let (user, password) = db.service_account();
    Command::new("mariadb")
        .args([
            "--no-defaults",
            "--batch",
            "--skip-column-names",
            "--protocol=TCP",
        ])
        .args(["-h", "127.0.0.1", "-P", &db.port().to_string()])
        .arg(format!("-u{user}"))
        .arg(format!("-p{password}"))
        .args(extra)
        .args(["-e", sql])
        .output()
        .expect("running mariadb")
}

/// Scripts longer than a command-line argument may be (the demo's seed is ~600 kB) run whole,
/// and the service account is what the options say.
#[test]
fn long_scripts_run_and_the_service_account_has_its_grant() {
    if !MariaDb::available() {
        eprintln!("skipping: MariaDB is not installed (scripts/install-deps test)");
        return;
    }
    let db = MariaDb::start_with(MariaDbOptions {
        service_user: "reader".into(),
        service_password: "it's a \\ secret".into(),
        database: "shop".into(),
        grant: "SELECT ON `shop`.*".into(),
        tls: false,
    })
    .expect("starting MariaDB");
    let mut script = String::from("CREATE TABLE shop.t (v varchar(20));\n");
    for i in 0..10_000 {
        script.push_str(&format!("INSERT INTO shop.t VALUES ('row {i:08}');\n"));
    }
    assert!(script.len() > 256 * 1024);
    db.sql(&script).expect("the long script");
    assert_eq!(
        db.sql("SELECT count(*) FROM shop.t").unwrap().trim(),
        "10000"
    );
    let read = client(&db, &[], "SELECT count(*) FROM shop.t");
    assert!(read.status.success(), "{read:?}");
    assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), "10000");
    let write = client(&db, &[], "INSERT INTO shop.t VALUES ('no')");
    assert!(!write.status.success(), "SELECT only: {write:?}");
}

/// With `tls`, the server speaks TLS with a certificate the returned CA verifies for 127.0.0.1.
#[test]
fn tls_servers_present_a_certificate_their_ca_verifies() {
    if !MariaDb::available() {
        eprintln!("skipping: MariaDB is not installed (scripts/install-deps test)");
        return;
    }
    let db = MariaDb::start_with(MariaDbOptions {
        tls: true,
        ..MariaDbOptions::default()
    })
    .expect("starting MariaDB with TLS");
    let ca = db.ca_cert_path().expect("a CA");
    let verified = client(
        &db,
        &[
            format!("--ssl-ca={}", ca.display()),
            "--ssl-verify-server-cert".into(),
        ],
        "SHOW SESSION STATUS LIKE 'Ssl_version'",
    );
    assert!(verified.status.success(), "{verified:?}");
    let status = String::from_utf8_lossy(&verified.stdout);
    assert!(status.contains("TLSv1."), "{status}");
    // Without TLS the server has no CA to give.
    let plain = MariaDb::start().expect("starting MariaDB");
    assert!(plain.ca_cert_path().is_none());
}
