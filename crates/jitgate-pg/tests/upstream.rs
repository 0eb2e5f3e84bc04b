//! jitgate's login to real PostgreSQL servers, with each authentication method and TLS mode,
//! and cancel requests. Each test starts a throwaway cluster of its own.

use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use jitgate_config::model::{PostgresUpstream, Secret, UpstreamTls, UpstreamTlsMode};
use jitgate_pg::codec::{backend, read_message, Message};
use jitgate_pg::tls::{upstream_connector, UpstreamTlsConnector};
use jitgate_pg::upstream::{self, UpstreamConn, UpstreamError};
use jitgate_testkit::{AuthMethod, ClusterOptions, PgCluster};
use tokio::io::AsyncWriteExt;

const SERVICE_USER: &str = "svc";
const SERVICE_PASSWORD: &str = "s3rvice pass'word";

fn cluster(auth: AuthMethod, tls: bool) -> PgCluster {
    PgCluster::start(ClusterOptions {
        auth,
        service_user: Some((SERVICE_USER.into(), SERVICE_PASSWORD.into())),
        tls,
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster")
}

fn no_tls() -> UpstreamTls {
    tls(UpstreamTlsMode::Disable, None, None)
}

fn tls(mode: UpstreamTlsMode, ca_file: Option<PathBuf>, server_name: Option<&str>) -> UpstreamTls {
    UpstreamTls {
        mode,
        ca_file,
        server_name: server_name.map(str::to_owned),
    }
}

/// The service user's upstream settings, with `password`.
fn service(cluster: &PgCluster, password: Option<&str>, tls: UpstreamTls) -> PostgresUpstream {
    PostgresUpstream {
        host: cluster.host().into(),
        port: cluster.port(),
        database: "app".into(),
        user: SERVICE_USER.into(),
        password: password.map(|p| Secret::new(p.into(), "test")),
        tls,
        connect_timeout: Duration::from_secs(10),
    }
}

/// The superuser's, who logs in with trust.
fn superuser(cluster: &PgCluster, tls: UpstreamTls) -> PostgresUpstream {
    PostgresUpstream {
        database: "postgres".into(),
        user: cluster.superuser().into(),
        ..service(cluster, None, tls)
    }
}

async fn login(
    cfg: &PostgresUpstream,
    params: &[(&str, &str)],
) -> Result<UpstreamConn, UpstreamError> {
    let connector = upstream_connector(&cfg.tls, &cfg.host).expect("TLS configuration");
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    upstream::connect(cfg, connector.as_ref(), &params).await
}

/// Sends a simple Query and reads the replies up to ReadyForQuery.
async fn query(conn: &mut UpstreamConn, sql: &str) -> Vec<Message> {
    let mut out = BytesMut::new();
    postgres_protocol::message::frontend::query(sql, &mut out).unwrap();
    conn.stream.write_all(&out).await.unwrap();
    conn.stream.flush().await.unwrap();
    let mut replies = Vec::new();
    loop {
        let msg = read_message(&mut conn.stream, &mut conn.read_buf, 1 << 20)
            .await
            .unwrap();
        let done = msg.tag == b'Z';
        replies.push(msg);
        if done {
            return replies;
        }
    }
}

/// The first column of the first DataRow of `sql`'s result, as text.
async fn query_value(conn: &mut UpstreamConn, sql: &str) -> String {
    let replies = query(conn, sql).await;
    let row = replies
        .iter()
        .find(|m| m.tag == b'D')
        .unwrap_or_else(|| panic!("no row from {sql}: {replies:?}"));
    // Column count (2 bytes), then the first column's length (4 bytes) and value.
    let len = i32::from_be_bytes(row.body[2..6].try_into().unwrap()) as usize;
    String::from_utf8(row.body[6..6 + len].to_vec()).unwrap()
}

fn parameter_status(conn: &UpstreamConn, name: &str) -> Option<String> {
    conn.startup_messages
        .iter()
        .filter(|m| m.tag == b'S')
        .find_map(|m| {
            let mut parts = m.body[..].split(|&b| b == 0);
            let key = parts.next()?;
            let value = parts.next()?;
            (key == name.as_bytes()).then(|| String::from_utf8_lossy(value).into_owned())
        })
}

/// How the service user's password is stored, which decides what md5 in pg_hba.conf does.
fn stored_password_kind(pg: &PgCluster) -> String {
    let sql = format!(
        "SELECT CASE WHEN rolpassword LIKE 'md5%' THEN 'md5' ELSE split_part(rolpassword, '$', 1) END \
         FROM pg_authid WHERE rolname = '{SERVICE_USER}'"
    );
    pg.psql("postgres", &sql).unwrap().trim().to_owned()
}

fn assert_sqlstate(result: Result<UpstreamConn, UpstreamError>, sqlstate: &str) {
    match result {
        Err(e) => assert_eq!(
            e.sqlstate().map(|s| s.to_string()).as_deref(),
            Some(sqlstate),
            "{e}"
        ),
        Ok(_) => panic!("expected SQLSTATE {sqlstate}, logged in"),
    }
}

#[tokio::test]
async fn trust_and_cleartext_password() {
    let pg = cluster(AuthMethod::Password, false);

    let mut conn = login(
        &superuser(&pg, no_tls()),
        &[("application_name", "jitgate-test"), ("user", "ignored")],
    )
    .await
    .unwrap();
    assert_eq!(conn.transaction_status, b'I');
    assert_ne!(conn.backend_key, (0, 0));
    assert!(!conn.stream.is_tls());
    assert!(parameter_status(&conn, "server_version").is_some());
    assert_eq!(
        parameter_status(&conn, "application_name").as_deref(),
        Some("jitgate-test")
    );
    assert_eq!(
        query_value(&mut conn, "SELECT current_user").await,
        pg.superuser()
    );

    let mut conn = login(&service(&pg, Some(SERVICE_PASSWORD), no_tls()), &[])
        .await
        .unwrap();
    assert_eq!(
        query_value(&mut conn, "SELECT current_user").await,
        SERVICE_USER
    );

    assert_sqlstate(
        login(&service(&pg, Some("wrong"), no_tls()), &[]).await,
        "28P01",
    );
    let missing = login(&service(&pg, None, no_tls()), &[]).await;
    assert!(
        matches!(missing, Err(UpstreamError::PasswordRequired)),
        "{missing:?}"
    );

    // This server has no TLS: prefer falls back to plaintext, require refuses.
    let prefer = tls(UpstreamTlsMode::Prefer, None, None);
    let conn = login(&service(&pg, Some(SERVICE_PASSWORD), prefer), &[])
        .await
        .unwrap();
    assert!(!conn.stream.is_tls());
    let require = tls(UpstreamTlsMode::Require, None, None);
    let refused = login(&service(&pg, Some(SERVICE_PASSWORD), require), &[]).await;
    assert!(
        matches!(refused, Err(UpstreamError::TlsRefused { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn md5_password() {
    let pg = cluster(AuthMethod::Md5, false);
    assert_eq!(stored_password_kind(&pg), "md5");
    let mut conn = login(&service(&pg, Some(SERVICE_PASSWORD), no_tls()), &[])
        .await
        .unwrap();
    assert_eq!(
        query_value(&mut conn, "SELECT current_user").await,
        SERVICE_USER
    );
    assert_sqlstate(
        login(&service(&pg, Some("wrong"), no_tls()), &[]).await,
        "28P01",
    );
}

#[tokio::test]
async fn scram_over_tls_in_every_mode() {
    let pg = cluster(AuthMethod::ScramSha256, true);
    assert_eq!(stored_password_kind(&pg), "SCRAM-SHA-256");
    let ca = pg.ca_cert_path().map(PathBuf::from);

    let mut conn = login(&service(&pg, Some(SERVICE_PASSWORD), no_tls()), &[])
        .await
        .unwrap();
    assert_eq!(
        query_value(&mut conn, "SELECT current_user").await,
        SERVICE_USER
    );
    assert_sqlstate(
        login(&service(&pg, Some("wrong"), no_tls()), &[]).await,
        "28P01",
    );

    let succeeding = [
        tls(UpstreamTlsMode::Prefer, None, None),
        tls(UpstreamTlsMode::Require, None, None),
        tls(
            UpstreamTlsMode::VerifyCa,
            ca.clone(),
            Some("elsewhere.example"),
        ),
        tls(UpstreamTlsMode::VerifyFull, ca.clone(), None),
        tls(UpstreamTlsMode::VerifyFull, ca.clone(), Some("localhost")),
    ];
    for mode in succeeding {
        let mut conn = login(&service(&pg, Some(SERVICE_PASSWORD), mode.clone()), &[])
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert!(conn.stream.is_tls(), "{mode:?}");
        assert_eq!(
            query_value(
                &mut conn,
                "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            .await,
            "true"
        );
    }

    let wrong_ca = WrongCa::new();
    let failing = [
        tls(UpstreamTlsMode::VerifyFull, Some(wrong_ca.path()), None),
        tls(UpstreamTlsMode::VerifyCa, Some(wrong_ca.path()), None),
        tls(
            UpstreamTlsMode::VerifyFull,
            ca.clone(),
            Some("elsewhere.example"),
        ),
    ];
    for mode in failing {
        let result = login(&service(&pg, Some(SERVICE_PASSWORD), mode.clone()), &[]).await;
        assert!(
            matches!(result, Err(UpstreamError::Tls(_))),
            "{mode:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn cancel_stops_a_running_query() {
    let pg = cluster(AuthMethod::Trust, true);
    for mode in [UpstreamTlsMode::Disable, UpstreamTlsMode::Require] {
        let cfg = superuser(&pg, tls(mode, None, None));
        let connector = upstream_connector(&cfg.tls, &cfg.host).unwrap();
        let mut conn = login(&cfg, &[]).await.unwrap();
        let (pid, key) = conn.backend_key;

        let sleeper = tokio::spawn(async move {
            let replies = query(&mut conn, "SELECT pg_sleep(30)").await;
            replies.into_iter().find(|m| m.tag == b'E')
        });
        wait_until_sleeping(&pg, pid).await;
        cancel(
            &conn_addr(&pg),
            connector.as_ref(),
            (pid, key.wrapping_add(1)),
        )
        .await;
        // A wrong secret does nothing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !sleeper.is_finished(),
            "{mode:?}: cancelled with a wrong key"
        );

        cancel(&conn_addr(&pg), connector.as_ref(), (pid, key)).await;
        let error = tokio::time::timeout(Duration::from_secs(10), sleeper)
            .await
            .unwrap_or_else(|_| panic!("{mode:?}: the query was not cancelled"))
            .unwrap()
            .expect("an ErrorResponse");
        assert_eq!(
            backend::sqlstate(&error.body)
                .map(|s| s.to_string())
                .as_deref(),
            Some("57014"),
            "{mode:?}"
        );
    }
}

fn conn_addr(pg: &PgCluster) -> std::net::SocketAddr {
    format!("{}:{}", pg.host(), pg.port()).parse().unwrap()
}

async fn cancel(
    addr: &std::net::SocketAddr,
    connector: Option<&UpstreamTlsConnector>,
    key: (i32, i32),
) {
    upstream::cancel(*addr, connector, key)
        .await
        .expect("send the cancel request");
}

/// Waits until backend `pid` is inside pg_sleep, so the cancel cannot arrive before the query.
async fn wait_until_sleeping(pg: &PgCluster, pid: i32) {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND wait_event = 'PgSleep'"
    );
    for _ in 0..100 {
        if pg.psql("postgres", &sql).unwrap().trim() == "1" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("backend {pid} never started sleeping");
}

/// A CA that signed nothing the server has, in a PEM file.
struct WrongCa {
    dir: tempfile::TempDir,
}

impl WrongCa {
    fn new() -> WrongCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.crt"), cert.pem()).unwrap();
        WrongCa { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
}
