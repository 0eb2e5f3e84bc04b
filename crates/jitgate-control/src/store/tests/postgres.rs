//! The store's suite on PostgreSQL, and what only several replicas on one PostgreSQL store show:
//! the change feed, one audit chain from concurrent writers, one expiry of a request.

use crate::audit::{AuditEvent, ChainVerifier};
use crate::model::{Grant, GrantEnd, Request, RequestState};
use crate::store::sqlite::tests as sqlite_checks;
use crate::store::{PostgresStore, PostgresStoreOptions, Store};
use jitgate_pgcluster::{ClusterOptions, PgCluster};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A throwaway cluster, or `None` (and the test passes vacuously, saying so) where PostgreSQL's
/// server binaries are not installed.
fn cluster() -> Option<PgCluster> {
    if !jitgate_pgcluster::server_binaries_found() {
        eprintln!("PostgreSQL server binaries not found; PostgreSQL store tests skipped");
        return None;
    }
    Some(PgCluster::start(ClusterOptions::default()).expect("starting PostgreSQL"))
}

fn fresh_store(cluster: &PgCluster, db: &str) -> PostgresStore {
    cluster
        .psql("postgres", &format!("CREATE DATABASE {db}"))
        .expect("creating a database");
    let url = cluster.uri(cluster.superuser(), None, db);
    PostgresStore::open(&PostgresStoreOptions::new(&url)).expect("opening the store")
}

#[test]
fn every_store_check_passes_on_postgresql() {
    let Some(cluster) = cluster() else { return };
    let checks = sqlite_checks::CHECKS
        .iter()
        .chain(sqlite_checks::lifecycle::CHECKS)
        .chain(sqlite_checks::provisioning::CHECKS);
    for (i, (name, check)) in checks.enumerate() {
        let store = fresh_store(&cluster, &format!("check_{i}"));
        eprintln!("store check on PostgreSQL: {name}");
        check(&store);
    }
}

fn grant(id: &str) -> Grant {
    Grant {
        id: id.into(),
        subject: "alice".into(),
        resource: "db".into(),
        starts_at: 1000,
        expires_at: i64::MAX / 2,
        granted_by: "dana".into(),
        ended_at: None,
        end: None,
        read_only: false,
        request_id: None,
    }
}

/// Several replicas (here: stores) appending at once build one gap-free chain; and a grant
/// ended through one store wakes the change feed of another.
#[test]
fn replicas_share_one_chain_and_hear_each_others_changes() {
    let Some(cluster) = cluster() else { return };
    let first = Arc::new(fresh_store(&cluster, "fleet"));
    let url = cluster.uri(cluster.superuser(), None, "fleet");
    let second = Arc::new(PostgresStore::open(&PostgresStoreOptions::new(&url)).expect("store"));

    let writers: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            std::thread::spawn(move || {
                for batch in 0..20 {
                    let events: Vec<_> = (0..50)
                        .map(|i| AuditEvent::new("statement", json!({"w": w, "b": batch, "i": i})))
                        .collect();
                    store.append_audit(&events).expect("append");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let stored = first.audit_after(0, 10_000).expect("read");
    assert_eq!(stored.len(), 2 * 20 * 50);
    let mut verifier = ChainVerifier::default();
    for e in &stored {
        verifier.check(e).expect("one unbroken chain");
    }

    let feed = second.changes().expect("a change feed");
    first.insert_grant(&grant("g1")).expect("grant");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Whatever the feed said while connecting is consumed first.
        let _ = tokio::time::timeout(Duration::from_millis(300), feed.notified()).await;
        let ended = GrantEnd::Revoked { by: "dana".into() };
        assert!(first.end_grant("g1", &ended, 2000).expect("end"));
        tokio::time::timeout(Duration::from_secs(5), feed.notified())
            .await
            .expect("the other store heard of the end");
    });
}

/// Two replicas expiring pending requests at once: each request is expired by exactly one.
#[test]
fn a_due_request_is_expired_by_one_replica_only() {
    let Some(cluster) = cluster() else { return };
    let first = fresh_store(&cluster, "expiry");
    let url = cluster.uri(cluster.superuser(), None, "expiry");
    let second = PostgresStore::open(&PostgresStoreOptions::new(&url)).expect("store");
    for i in 0..30 {
        let request = Request {
            id: format!("r{i}"),
            subject: "alice".into(),
            subject_groups: vec![],
            resource: "db".into(),
            duration_ms: 60_000,
            reason: "x".into(),
            state: RequestState::Pending,
            created_at: 1,
            decided_at: None,
            decided_by: None,
            expires_at: 10,
            approvals_required: 1,
            read_only: false,
            grant_id: None,
            approvals: vec![],
        };
        first.insert_request(&request, None).expect("request");
    }
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| first.expire_requests(100).expect("expire"));
        let b = s.spawn(|| second.expire_requests(100).expect("expire"));
        (a.join().expect("a"), b.join().expect("b"))
    });
    assert_eq!(a.len() + b.len(), 30);
}

/// Whether the store's connections are encrypted, as the server sees them.
fn connection_is_tls(store: &PostgresStore) -> bool {
    store
        .run(async |c| {
            let row = c
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await?;
            Ok(row.get::<_, bool>(0))
        })
        .expect("asking the server")
}

/// A PEM file with a CA that signed nothing the server holds.
fn foreign_ca(dir: &std::path::Path) -> std::path::PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("key");
    let ca = params.self_signed(&key).expect("CA");
    let path = dir.join("foreign-ca.crt");
    std::fs::write(&path, ca.pem()).expect("writing the CA");
    path
}

/// The store's `store_tls` modes verify what libpq's `sslmode` does, against a server with
/// `ssl = on` and a certificate for 127.0.0.1 and localhost signed by a test CA: `disable`
/// stays in plaintext, `prefer`/`require` encrypt whatever the certificate, `verify-ca` needs
/// the chain to lead to the given CA, `verify-full` also needs the name to match.
#[test]
fn store_tls_modes_verify_what_libpq_verifies() {
    use jitgate_config::model::{UpstreamTls, UpstreamTlsMode as Mode};
    if !jitgate_pgcluster::server_binaries_found() {
        eprintln!("PostgreSQL server binaries not found; store TLS test skipped");
        return;
    }
    let cluster = PgCluster::start(ClusterOptions {
        tls: true,
        ..ClusterOptions::default()
    })
    .expect("starting PostgreSQL with TLS");
    let ca = cluster.ca_cert_path().expect("the test CA").to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let foreign = foreign_ca(dir.path());
    let url = cluster.uri(cluster.superuser(), None, "postgres");
    // (mode, CA file, server name, whether the connection is TLS; `None`: refused)
    type Case<'a> = (
        Mode,
        Option<&'a std::path::Path>,
        Option<&'a str>,
        Option<bool>,
    );
    let cases: [Case<'_>; 10] = [
        (Mode::Disable, None, None, Some(false)),
        (Mode::Prefer, None, None, Some(true)),
        (Mode::Require, None, Some("elsewhere.example"), Some(true)),
        (Mode::VerifyCa, Some(&ca), None, Some(true)),
        (
            Mode::VerifyCa,
            Some(&ca),
            Some("elsewhere.example"),
            Some(true),
        ),
        (Mode::VerifyCa, Some(&foreign), None, None),
        (Mode::VerifyFull, Some(&ca), None, Some(true)),
        (Mode::VerifyFull, Some(&ca), Some("elsewhere.example"), None),
        (Mode::VerifyFull, Some(&foreign), None, None),
        // The system's roots never vouch for a test CA.
        (Mode::VerifyFull, None, None, None),
    ];
    for (mode, ca_file, server_name, expected) in cases {
        let mut options = PostgresStoreOptions::new(&url);
        options.tls = UpstreamTls {
            mode,
            ca_file: ca_file.map(|p| p.to_owned()),
            server_name: server_name.map(str::to_owned),
        };
        let what = format!("{} ca={ca_file:?} name={server_name:?}", mode.as_str());
        match (PostgresStore::open(&options), expected) {
            (Ok(store), Some(tls)) => assert_eq!(connection_is_tls(&store), tls, "{what}"),
            (Err(e), None) => eprintln!("{what}: refused as it should be: {e}"),
            (Ok(_), None) => panic!("{what}: connected, but the certificate should be refused"),
            (Err(e), Some(_)) => panic!("{what}: {e}"),
        }
    }
}

/// `require` (and the modes above it) never falls back to plaintext when the server has no TLS;
/// `prefer` does.
#[test]
fn store_tls_require_refuses_a_server_without_tls() {
    use jitgate_config::model::UpstreamTlsMode as Mode;
    let Some(cluster) = cluster() else { return };
    let url = cluster.uri(cluster.superuser(), None, "postgres");
    let mut options = PostgresStoreOptions::new(&url);
    let store = PostgresStore::open(&options).expect("prefer falls back to plaintext");
    assert!(!connection_is_tls(&store));
    options.tls.mode = Mode::Require;
    assert!(
        PostgresStore::open(&options).is_err(),
        "require connected without TLS"
    );
}
