//! Two replicas on one PostgreSQL store (two control planes, as two `jitgate serve` processes
//! have): they share the ledger, so a token minted through one is deleted by the other when
//! the grant ends, and only the one holding the fleet-wide job reconciles.

mod common;

use std::sync::Arc;

use common::*;
use jitgate_config::ForeignPolicy;
use jitgate_control::model::GrantEnd;
use jitgate_control::store::{PostgresStore, PostgresStoreOptions};
use jitgate_control::{ControlPlane, Subject};
use jitgate_databricks::provision::gate::WorkspaceGate;
use jitgate_databricks::provision::{ProvisionError, Provisioner};
use jitgate_pgcluster::{ClusterOptions, PgCluster};

fn replica(cluster: &PgCluster, w: &World) -> Arc<ControlPlane> {
    let url = cluster.uri(cluster.superuser(), None, "fleet");
    let store = PostgresStore::open(&PostgresStoreOptions::new(&url)).expect("store");
    let control = ControlPlane::new(Arc::new(store));
    control.set_native(Arc::new(WorkspaceGate::new(vec![binding(
        &w.emu.url(),
        ForeignPolicy::Alert,
    )])));
    control
}

fn provisioner(control: &Arc<ControlPlane>, w: &World, holder: &str) -> Provisioner {
    Provisioner::new(
        control.clone(),
        vec![binding(&w.emu.url(), ForeignPolicy::Alert)],
        false,
        holder,
    )
}

#[test]
fn replicas_share_the_ledger_and_one_of_them_reconciles() {
    if !jitgate_pgcluster::server_binaries_found() {
        eprintln!("PostgreSQL server binaries not found; fleet test skipped");
        return;
    }
    let cluster = PgCluster::start(ClusterOptions::default()).expect("PostgreSQL");
    cluster
        .psql("postgres", "CREATE DATABASE fleet")
        .expect("database");
    let w = world();
    let a = replica(&cluster, &w);
    let b = replica(&cluster, &w);
    let (pa, pb) = (provisioner(&a, &w, "gw-a"), provisioner(&b, &w, "gw-b"));

    // A grant made through replica B is carried out by A, which holds the job.
    let grant = grant_alice(&b, 600);
    pa.reconcile_once().expect("A reconciles");
    assert!(matches!(
        pb.reconcile_once(),
        Err(ProvisionError::NotHolder)
    ));
    assert!(w.emu.members(GROUP).contains(&w.alice));

    // The token is minted through B (any replica serves the API)…
    let alice = Subject {
        name: "alice".into(),
        groups: vec![],
    };
    let token = b
        .issue_platform_token(&alice, &grant.id)
        .expect("token through B");
    // …and when the grant ends, A finds it in the shared ledger and deletes it, with the rest.
    b.end_grant(&grant.id, GrantEnd::Revoked { by: "dana".into() })
        .expect("revoke through B");
    let lines = pa.reconcile_once().expect("A reconciles");
    assert!(w.emu.obo_token(&token.token_id).is_none(), "{lines:?}");
    assert!(!w.emu.members(GROUP).contains(&w.alice), "{lines:?}");

    // A stops cleanly: B takes the job over at once and finds nothing left to do.
    pa.release();
    assert!(pb.reconcile_once().expect("B took over").is_empty());
}
