//! The native provisioning ledger and fleet-wide job claims, on every backend.

use crate::store::provisioning::{ProvisionState, Provisioned, WorkspaceToken};

fn membership(principal: &str, state: ProvisionState) -> Provisioned {
    Provisioned {
        resource: "dbx".into(),
        target: "member:jit-sales".into(),
        principal: principal.into(),
        subject: "alice".into(),
        grants: vec!["g1".into(), "g2".into()],
        state,
        updated_at: 1_000,
    }
}

fn token(comment: &str, resource: &str) -> WorkspaceToken {
    WorkspaceToken {
        comment: comment.into(),
        resource: resource.into(),
        grant_id: "g1".into(),
        subject: "alice".into(),
        application_id: "6b0f-sp".into(),
        token_id: None,
        created_at: 1_000,
        expires_at: 61_000,
    }
}

crate::store_checks! {
    fn provisioned_rows_are_replaced_by_key_and_forgotten(store) {
        store.put_provisioned(&membership("u1", ProvisionState::Adding)).unwrap();
        store.put_provisioned(&membership("u2", ProvisionState::Present)).unwrap();
        // The same key again replaces the row (a settled change), it never adds one.
        let mut settled = membership("u1", ProvisionState::Present);
        settled.grants = vec!["g3".into()];
        store.put_provisioned(&settled).unwrap();
        let mut other = membership("u1", ProvisionState::Present);
        other.resource = "other".into();
        store.put_provisioned(&other).unwrap();
        let rows = store.provisioned("dbx").unwrap();
        assert_eq!(rows, vec![settled, membership("u2", ProvisionState::Present)]);
        store.forget_provisioned("dbx", "member:jit-sales", "u2").unwrap();
        assert_eq!(store.provisioned("dbx").unwrap().len(), 1);
        assert_eq!(store.provisioned("other").unwrap(), vec![other]);
    }

    fn workspace_tokens_are_recorded_before_creation_and_settled_after(store) {
        store.insert_workspace_token(&token("jitgate grant g1 n1", "dbx")).unwrap();
        store.insert_workspace_token(&token("jitgate grant g1 n2", "other")).unwrap();
        // The comment is the key: recording the same intent twice is refused.
        assert!(store.insert_workspace_token(&token("jitgate grant g1 n1", "dbx")).is_err());
        assert_eq!(store.workspace_tokens("dbx").unwrap()[0].token_id, None);
        store.settle_workspace_token("jitgate grant g1 n1", "tok1001").unwrap();
        let rows = store.workspace_tokens("dbx").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].token_id.as_deref(), Some("tok1001"));
        assert_eq!(rows[0].expires_at, 61_000);
        store.forget_workspace_token("jitgate grant g1 n1").unwrap();
        assert!(store.workspace_tokens("dbx").unwrap().is_empty());
        assert_eq!(store.workspace_tokens("other").unwrap().len(), 1);
    }

    fn a_fleet_job_has_one_holder_until_its_claim_runs_out(store) {
        assert!(store.claim_job("reconcile", "gw-1", 1_000, 31_000).unwrap());
        // Another replica loses while the claim runs; the holder renews.
        assert!(!store.claim_job("reconcile", "gw-2", 2_000, 32_000).unwrap());
        assert!(store.claim_job("reconcile", "gw-1", 20_000, 50_000).unwrap());
        assert!(!store.claim_job("reconcile", "gw-2", 40_000, 70_000).unwrap());
        // Jobs are independent.
        assert!(store.claim_job("other", "gw-2", 40_000, 70_000).unwrap());
        // Once the claim has run out, another replica takes the job over.
        assert!(store.claim_job("reconcile", "gw-2", 50_001, 80_000).unwrap());
        assert!(!store.claim_job("reconcile", "gw-1", 50_002, 80_000).unwrap());
        // Only the holder can give it up; then anyone may claim it at once.
        store.release_job("reconcile", "gw-1").unwrap();
        assert!(!store.claim_job("reconcile", "gw-1", 50_003, 80_000).unwrap());
        store.release_job("reconcile", "gw-2").unwrap();
        assert!(store.claim_job("reconcile", "gw-1", 50_004, 80_000).unwrap());
    }
}
