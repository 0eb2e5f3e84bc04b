//! On-behalf-of tokens per grant against the emulated workspace, with a real control plane and
//! store: minted for the grant's holder only, living no longer than the grant, never kept or
//! audited in clear, replaced when asked again, deleted when the grant ends (also when the
//! answer of the creation was lost); and the fleet-wide reconcile job held by one process.

mod common;

use std::sync::Arc;

use common::*;
use jitgate_config::ForeignPolicy;
use jitgate_control::audit::kind;
use jitgate_control::model::GrantEnd;
use jitgate_control::store::{ProvisionLedger, SqliteStore};
use jitgate_control::{ControlPlane, LifecycleError, Subject};
use jitgate_databricks::provision::gate::WorkspaceGate;
use jitgate_databricks::provision::{ProvisionError, Provisioner};

struct Fixture {
    w: World,
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    control: Arc<ControlPlane>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("folder");
    let store = Arc::new(SqliteStore::open(&dir.path().join("store.sqlite")).expect("store"));
    let w = world();
    let control = ControlPlane::new(store.clone());
    control.set_native(Arc::new(WorkspaceGate::new(vec![binding(
        &w.emu.url(),
        ForeignPolicy::Alert,
    )])));
    Fixture {
        w,
        _dir: dir,
        store,
        control,
    }
}

fn alice() -> Subject {
    Subject {
        name: "alice".into(),
        groups: vec!["analysts".into()],
    }
}

impl Fixture {
    fn provisioner(&self, holder: &str) -> Provisioner {
        Provisioner::new(
            self.control.clone(),
            vec![binding(&self.w.emu.url(), ForeignPolicy::Alert)],
            false,
            holder,
        )
    }

    /// Every audit event and row of the store, as text.
    fn everything_kept(&self) -> String {
        self.control.flush();
        let events = self.control.audit_page(0, 10_000).expect("audit");
        let tokens = self.store.workspace_tokens("dbx").expect("tokens");
        format!(
            "{}\n{tokens:?}",
            events
                .iter()
                .map(|e| e.event.detail.get().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

#[test]
fn a_grant_holder_gets_a_token_for_the_service_principal_that_ends_with_the_grant() {
    let f = fixture();
    let grant = grant_alice(&f.control, 600);
    let issued = f
        .control
        .issue_platform_token(&alice(), &grant.id)
        .expect("token");
    let (owner, comment, expiry, value) = f.w.emu.obo_token(&issued.token_id).expect("minted");
    assert_eq!(owner, SP);
    assert_eq!(issued.value, value, "the value the workspace minted");
    assert_eq!(issued.on_behalf_of, SP);
    assert!(
        comment.contains(&grant.id) && comment.contains("alice"),
        "{comment}"
    );
    assert!(
        expiry <= grant.expires_at,
        "the token never outlives the grant"
    );
    assert!(
        expiry > grant.expires_at - 5_000,
        "it lives as long as the grant"
    );
    // The value is nowhere but in the answer: not in the store, not in the audit trail.
    let kept = f.everything_kept();
    assert!(!kept.contains(&value), "{kept}");
    assert!(kept.contains(&issued.token_id), "the token's id is audited");
    assert!(!format!("{issued:?}").contains(&value));

    // A pass while the grant lives leaves it alone; the grant's end deletes it.
    let p = f.provisioner("gw-1");
    p.reconcile_once().expect("pass");
    assert!(f.w.emu.obo_token(&issued.token_id).is_some());
    f.control
        .end_grant(&grant.id, GrantEnd::Revoked { by: "dana".into() })
        .expect("revoke");
    let lines = p.reconcile_once().expect("pass");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("delete token {}", issued.token_id))),
        "{lines:?}"
    );
    assert!(f.w.emu.obo_token(&issued.token_id).is_none());
    assert!(f.store.workspace_tokens("dbx").expect("rows").is_empty());
    assert!(
        p.reconcile_once().expect("pass").is_empty(),
        "nothing left to do"
    );
}

#[test]
fn only_the_holder_of_a_live_grant_gets_a_token_and_asking_again_replaces_it() {
    let f = fixture();
    let grant = grant_alice(&f.control, 600);
    let bob = Subject {
        name: "bob".into(),
        groups: vec!["admins".into()],
    };
    assert!(matches!(
        f.control.issue_platform_token(&bob, &grant.id),
        Err(LifecycleError::NotFound(_))
    ));
    let first = f
        .control
        .issue_platform_token(&alice(), &grant.id)
        .expect("token");
    let second = f
        .control
        .issue_platform_token(&alice(), &grant.id)
        .expect("token again");
    assert_ne!(first.token_id, second.token_id);
    assert!(f.w.emu.obo_token(&first.token_id).is_none(), "replaced");
    assert!(f.w.emu.obo_token(&second.token_id).is_some());
    f.control
        .end_grant(&grant.id, GrantEnd::Expired)
        .expect("end");
    assert!(matches!(
        f.control.issue_platform_token(&alice(), &grant.id),
        Err(LifecycleError::Conflict(_))
    ));
}

#[test]
fn a_refused_creation_is_a_clear_error_and_leaves_nothing_behind() {
    let f = fixture();
    f.w.emu.set_max_token_lifetime(Some(60));
    let grant = grant_alice(&f.control, 600);
    let refused = f
        .control
        .issue_platform_token(&alice(), &grant.id)
        .expect_err("the workspace caps lifetimes at a minute");
    assert_eq!(refused.code(), "unavailable");
    assert!(refused.to_string().contains("HTTP 400"), "{refused}");
    assert!(f.store.workspace_tokens("dbx").expect("rows").is_empty());
    f.control.flush();
    let failed: Vec<_> = f
        .control
        .audit_page(0, 1000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.event.kind == kind::DATABRICKS_FAILED)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].event.detail_value()["answer"]["body"]["error_code"],
        "INVALID_PARAMETER_VALUE"
    );
}

#[test]
fn a_token_minted_but_answered_with_an_error_is_found_by_its_comment_and_deleted() {
    let f = fixture();
    let grant = grant_alice(&f.control, 600);
    // The workspace mints the token, then the answer is lost (after every retry).
    f.w.emu.fail(answer_lost("POST", "on-behalf-of", 4));
    let refused = f
        .control
        .issue_platform_token(&alice(), &grant.id)
        .expect_err("no answer");
    assert_eq!(refused.code(), "unavailable");
    let minted = f.w.emu.tokens_with_comment(&grant.id);
    assert_eq!(minted.len(), 4, "each retry minted one: {minted:?}");
    f.control
        .end_grant(&grant.id, GrantEnd::Revoked { by: "dana".into() })
        .expect("revoke");
    f.provisioner("gw-1").reconcile_once().expect("pass");
    assert!(
        f.w.emu.tokens_with_comment(&grant.id).is_empty(),
        "every token minted under the recorded comment is deleted"
    );
    assert!(f.store.workspace_tokens("dbx").expect("rows").is_empty());
}

#[test]
fn one_process_at_a_time_reconciles_and_another_takes_over_when_it_stops() {
    let f = fixture();
    let first = f.provisioner("gw-1");
    let second = f.provisioner("gw-2");
    grant_alice(&f.control, 600);
    first.reconcile_once().expect("pass");
    assert!(matches!(
        second.reconcile_once(),
        Err(ProvisionError::NotHolder)
    ));
    // The holder renews its claim with every pass.
    assert!(first.reconcile_once().expect("pass").is_empty());
    first.release();
    assert!(second.reconcile_once().expect("taken over").is_empty());
    assert!(matches!(
        first.reconcile_once(),
        Err(ProvisionError::NotHolder)
    ));
    // A dry run changes nothing and needs no claim.
    let dry = Provisioner::new(
        f.control.clone(),
        vec![binding(&f.w.emu.url(), ForeignPolicy::Alert)],
        true,
        "gw-3",
    );
    assert!(dry.reconcile_once().is_ok());
}

#[test]
fn a_request_is_refused_up_front_without_a_workspace_user_and_while_the_workspace_is_down() {
    let f = fixture();
    let carol = Subject {
        name: "carol".into(),
        groups: vec![],
    };
    let gate = WorkspaceGate::new(vec![binding(&f.w.emu.url(), ForeignPolicy::Alert)]);
    use jitgate_control::native::{NativeProvisioning, NativeRefusal};
    let no_user = gate
        .check_grantable(&f.control, &carol.name, &carol.groups, "dbx")
        .expect_err("carol has no workspace user");
    assert!(
        matches!(no_user, NativeRefusal::NoIdentity(_)),
        "{no_user:?}"
    );
    assert!(gate
        .check_grantable(&f.control, "alice", &[], "dbx")
        .is_ok());
    // Resources the workspace does not carry out are not its business.
    assert!(gate
        .check_grantable(&f.control, "carol", &[], "other")
        .is_ok());
    f.w.emu.fail(fault("GET", "/Users", 503, None, 1));
    let down = gate
        .check_grantable(&f.control, "alice", &[], "dbx")
        .expect_err("fail closed");
    assert!(matches!(down, NativeRefusal::Unavailable(_)), "{down:?}");
}
