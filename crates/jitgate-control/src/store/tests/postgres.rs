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
