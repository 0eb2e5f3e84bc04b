//! Reconcile passes against the emulated workspace with a real control plane and store: grants
//! carried out and undone, drift, foreign entitlements, a change interrupted by a restart,
//! subjects without a workspace identity, dry runs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use jitgate_config::ForeignPolicy;
use jitgate_control::audit::kind;
use jitgate_control::model::GrantEnd;
use jitgate_control::store::SqliteStore;
use jitgate_control::ControlPlane;
use jitgate_databricks::provision::Provisioner;

struct Fixture {
    w: World,
    _dir: tempfile::TempDir,
    control: Arc<ControlPlane>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("folder");
    let store = SqliteStore::open(&dir.path().join("store.sqlite")).expect("store");
    Fixture {
        w: world(),
        control: ControlPlane::new(Arc::new(store)),
        _dir: dir,
    }
}

impl Fixture {
    fn provisioner(&self, foreign: ForeignPolicy, dry_run: bool) -> Provisioner {
        self.provisioner_as(foreign, dry_run, "gw-1")
    }

    fn provisioner_as(&self, foreign: ForeignPolicy, dry_run: bool, holder: &str) -> Provisioner {
        Provisioner::new(
            self.control.clone(),
            vec![binding(&self.w.emu.url(), foreign)],
            dry_run,
            holder,
        )
    }

    fn alice_has_access(&self) -> (bool, bool) {
        (
            self.w.emu.members(GROUP).contains(&self.w.alice),
            self.w
                .emu
                .privileges("table", TABLE, "alice@example.com")
                .contains("SELECT"),
        )
    }

    fn audit_kinds(&self) -> Vec<(String, serde_json::Value)> {
        self.control.flush();
        self.control
            .audit_page(0, 1000)
            .expect("audit")
            .into_iter()
            .map(|e| (e.event.kind.clone(), e.event.detail_value()))
            .collect()
    }
}

#[test]
fn a_grant_gives_membership_and_privilege_and_its_revocation_takes_both_back_audited() {
    let f = fixture();
    let p = f.provisioner(ForeignPolicy::Alert, false);
    let grant = grant_alice(&f.control, 600);
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (true, true));
    // A second pass changes nothing: the work is idempotent.
    let before =
        f.w.emu
            .seen()
            .iter()
            .filter(|s| s.method == "PATCH")
            .count();
    assert!(p.reconcile_once().expect("pass").is_empty());
    assert_eq!(
        f.w.emu
            .seen()
            .iter()
            .filter(|s| s.method == "PATCH")
            .count(),
        before
    );

    f.control
        .end_grant(&grant.id, GrantEnd::Revoked { by: "dana".into() })
        .expect("revoke");
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (false, false));
    let changes: Vec<_> = f
        .audit_kinds()
        .into_iter()
        .filter(|(k, _)| k == kind::DATABRICKS_CHANGED)
        .collect();
    assert_eq!(changes.len(), 4, "two adds, two removals: {changes:#?}");
    // Each change carries the API's answer.
    assert_eq!(changes[0].1["answer"]["status"], 204);
    assert_eq!(
        changes[1].1["answer"]["body"]["privilege_assignments"][0]["principal"],
        "alice@example.com"
    );
}

#[test]
fn an_expired_grant_is_undone_by_the_next_pass() {
    let f = fixture();
    let p = f.provisioner(ForeignPolicy::Alert, false);
    grant_alice(&f.control, 1);
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (true, true));
    std::thread::sleep(Duration::from_millis(1100));
    // Not ended in the store yet (no scheduler runs here): the pass goes by the expiry time.
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (false, false));
}

#[test]
fn drift_is_repaired_and_foreign_entitlements_raise_alerts_or_go_as_the_rule_says() {
    let f = fixture();
    let p = f.provisioner(ForeignPolicy::Alert, false);
    grant_alice(&f.control, 600);
    p.reconcile_once().expect("pass");
    // Someone removes alice by hand and adds bob and a privilege of their own.
    f.w.emu.set_member(GROUP, &f.w.alice, false);
    f.w.emu.set_member(GROUP, &f.w.bob, true);
    f.w.emu
        .set_privilege("table", TABLE, "bob@example.com", "SELECT", true);
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (true, true), "repaired");
    assert!(
        f.w.emu.members(GROUP).contains(&f.w.bob),
        "alert only: left"
    );
    let alerts = f
        .audit_kinds()
        .into_iter()
        .filter(|(k, _)| k == kind::ALERT_DATABRICKS_FOREIGN)
        .count();
    assert_eq!(alerts, 2);

    let p = f.provisioner(ForeignPolicy::Remove, false);
    p.reconcile_once().expect("pass");
    assert!(!f.w.emu.members(GROUP).contains(&f.w.bob), "removed");
    assert!(f
        .w
        .emu
        .privileges("table", TABLE, "bob@example.com")
        .is_empty());
    assert_eq!(f.alice_has_access(), (true, true), "the grant's own stay");
}

#[test]
fn a_change_interrupted_before_its_answer_is_owned_and_undone_after_a_restart() {
    let f = fixture();
    let grant = grant_alice(&f.control, 600);
    // The membership goes through but every answer is lost: the pass fails after its retries.
    f.w.emu.fail(answer_lost("PATCH", "/Groups/", 100));
    {
        let p = f.provisioner(ForeignPolicy::Alert, false);
        let lines = p.reconcile_once().expect("pass");
        assert!(lines.iter().any(|l| l.contains("error")), "{lines:?}");
        assert!(f.w.emu.members(GROUP).contains(&f.w.alice));
    }
    // jitgate stops; meanwhile the grant is revoked; it starts again with the workspace healthy.
    f.w.emu.clear_faults();
    f.control
        .end_grant(&grant.id, GrantEnd::Revoked { by: "dana".into() })
        .expect("revoke");
    let p = f.provisioner(ForeignPolicy::Alert, false);
    p.reconcile_once().expect("pass");
    assert!(
        !f.w.emu.members(GROUP).contains(&f.w.alice),
        "the ledger's intent made it jitgate's"
    );
    let kinds = f.audit_kinds();
    assert!(kinds
        .iter()
        .any(|(k, d)| k == kind::DATABRICKS_FAILED && d["answer"]["status"] == 503));
    // No foreign alert for what jitgate itself made.
    assert!(!kinds
        .iter()
        .any(|(k, _)| k == kind::ALERT_DATABRICKS_FOREIGN));
}

#[test]
fn a_subject_without_a_workspace_identity_gets_nothing_and_one_clear_audit_event() {
    let f = fixture();
    let p = f.provisioner(ForeignPolicy::Alert, false);
    f.control
        .issue_grant("carol", "dbx", Duration::from_secs(600), "dana")
        .expect("grant");
    p.reconcile_once().expect("pass");
    p.reconcile_once().expect("pass");
    assert!(f.w.emu.members(GROUP).is_empty());
    let missing: Vec<_> = f
        .audit_kinds()
        .into_iter()
        .filter(|(k, _)| k == kind::DATABRICKS_NO_IDENTITY)
        .collect();
    assert_eq!(missing.len(), 1, "once per grant");
    assert_eq!(missing[0].1["user_name"], "carol");
}

#[test]
fn a_dry_run_says_what_it_would_do_and_changes_nothing() {
    let f = fixture();
    f.w.emu.set_member(GROUP, &f.w.bob, true);
    grant_alice(&f.control, 600);
    let p = f.provisioner(ForeignPolicy::Remove, true);
    let lines = p.reconcile_once().expect("pass");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("would add member {} of group {GROUP}", f.w.alice))),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.contains("would add SELECT on table main.sales.orders for alice@example.com")));
    assert!(lines.iter().any(|l| l.contains(&format!(
        "would remove member {} of group {GROUP} (foreign)",
        f.w.bob
    ))));
    assert_eq!(f.alice_has_access(), (false, false));
    assert!(f.w.emu.members(GROUP).contains(&f.w.bob));
    assert!(f.w.emu.seen().iter().all(|s| s.method == "GET"));
}

#[test]
fn when_a_grant_user_cannot_be_looked_up_its_access_is_taken_back_until_it_can() {
    let f = fixture();
    let p = f.provisioner(ForeignPolicy::Alert, false);
    grant_alice(&f.control, 600);
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (true, true));
    // SCIM user look-ups fail after every retry: fail closed, not open.
    f.w.emu.fail(fault("GET", "/Users", 503, None, 100));
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (false, false));
    f.w.emu.clear_faults();
    p.reconcile_once().expect("pass");
    assert_eq!(f.alice_has_access(), (true, true));
}

#[test]
fn the_control_plane_signals_every_grant_start_and_end_to_provisioning() {
    let f = fixture();
    let mut changes = f.control.grant_changes();
    let grant = grant_alice(&f.control, 600);
    assert!(changes.has_changed().expect("sender alive"));
    changes.borrow_and_update();
    f.control
        .end_grant(&grant.id, GrantEnd::Expired)
        .expect("end");
    assert!(changes.has_changed().expect("sender alive"));
    changes.borrow_and_update();
    // Ending it again changes nothing, and signals nothing.
    f.control
        .end_grant(&grant.id, GrantEnd::Expired)
        .expect("end again");
    assert!(!changes.has_changed().expect("sender alive"));
}
