//! The kit's own tests: real clusters, reached the ways jitgate's tests will.

use std::net::TcpStream;
use std::process::Command;

use jitgate_testkit::{AuthMethod, ClusterOptions, PgCluster};

fn service_user(name: &str, password: &str) -> Option<(String, String)> {
    Some((name.to_string(), password.to_string()))
}

/// Connects with tokio-postgres and returns `current_user`.
async fn current_user(uri: &str) -> Result<String, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(uri, tokio_postgres::NoTls).await?;
    let conn = tokio::spawn(conn);
    let row = client.query_one("SELECT current_user::text", &[]).await?;
    drop(client);
    let _ = conn.await;
    Ok(row.get(0))
}

#[test]
fn trust_cluster_runs_sql_and_cleans_up() {
    let pg = PgCluster::start(ClusterOptions::default()).unwrap();
    assert_eq!(pg.host(), "127.0.0.1");
    assert_eq!(pg.psql("postgres", "SELECT 1 + 1").unwrap(), "2\n");
    // Several statements, one of which cannot run in a transaction block.
    let out = pg
        .psql(
            "postgres",
            "CREATE DATABASE t1; SELECT datname FROM pg_database WHERE datname = 't1';",
        )
        .unwrap();
    assert_eq!(out.trim(), "t1");
    let err = pg.psql("postgres", "SELECT nope").unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    assert_eq!(
        pg.uri("u@x", Some("p:w"), "app"),
        format!("postgresql://u%40x:p%3Aw@127.0.0.1:{}/app", pg.port())
    );
    assert!(pg
        .socket_dir()
        .join(format!(".s.PGSQL.{}", pg.port()))
        .exists());
    assert!(pg.log_contents().contains("ready to accept connections"));

    let (port, data) = (pg.port(), pg.data_dir());
    drop(pg);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server still up"
    );
    assert!(!data.exists(), "data dir left behind");
}

#[tokio::test(flavor = "current_thread")]
async fn scram_service_user_needs_its_password() {
    let pg = PgCluster::start(ClusterOptions {
        auth: AuthMethod::ScramSha256,
        service_user: service_user("svc", "s3cret'pw"),
        max_connections: 20,
        settings: vec![("work_mem".into(), "8MB".into())],
        ..Default::default()
    })
    .unwrap();
    let su = pg.superuser().to_string();
    assert_eq!(
        pg.psql("postgres", "SHOW max_connections").unwrap().trim(),
        "20"
    );
    assert_eq!(pg.psql("postgres", "SHOW work_mem").unwrap().trim(), "8MB");
    let owner = pg
        .psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'",
        )
        .unwrap();
    assert_eq!(owner.trim(), "svc");
    let secret = pg
        .psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'svc'",
        )
        .unwrap();
    assert!(secret.starts_with("SCRAM-SHA-256$"), "{secret}");

    let user = current_user(&pg.uri("svc", Some("s3cret'pw"), "app"))
        .await
        .unwrap();
    assert_eq!(user, "svc");
    let err = current_user(&pg.uri("svc", Some("wrong"), "app"))
        .await
        .unwrap_err();
    let code = err.as_db_error().map(|e| e.code().clone());
    assert_eq!(
        code,
        Some(tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err:?}"
    );
    // The superuser still gets in without a password (trust), for setup.
    assert_eq!(current_user(&pg.uri(&su, None, "app")).await.unwrap(), su);
}

#[tokio::test(flavor = "current_thread")]
async fn md5_service_user() {
    let pg = PgCluster::start(ClusterOptions {
        auth: AuthMethod::Md5,
        service_user: service_user("legacy", "md5pass"),
        ..Default::default()
    })
    .unwrap();
    let secret = pg
        .psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'",
        )
        .unwrap();
    assert!(secret.starts_with("md5"), "{secret}");
    let user = current_user(&pg.uri("legacy", Some("md5pass"), "app"))
        .await
        .unwrap();
    assert_eq!(user, "legacy");
    assert!(current_user(&pg.uri("legacy", None, "app")).await.is_err());
}

#[test]
fn tls_cluster_verifies_against_its_ca() {
    let pg = PgCluster::start(ClusterOptions {
        tls: true,
        auth: AuthMethod::Password,
        service_user: service_user("svc", "pw"),
        ..Default::default()
    })
    .unwrap();
    let ca = pg
        .ca_cert_path()
        .expect("tls cluster has a CA")
        .to_path_buf();
    let query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for sslmode in [
        "require".to_string(),
        format!("verify-full&sslrootcert={}", ca.display()),
    ] {
        let uri = format!("{}?sslmode={sslmode}", pg.uri("svc", Some("pw"), "app"));
        let out = Command::new("psql")
            .args(["-X", "-A", "-t", "-d", &uri, "-c", query])
            .env_remove("PGSSLMODE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "t",
            "sslmode={sslmode}"
        );
    }
    let plain = PgCluster::start(ClusterOptions::default()).unwrap();
    assert!(plain.ca_cert_path().is_none());
}
