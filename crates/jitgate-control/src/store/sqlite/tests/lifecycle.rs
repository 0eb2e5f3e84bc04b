//! The SQLite store's lifecycle tables: migration from the first schema, requests and votes as
//! atomic steps, credential listings and tokens.

use crate::model::{ApiToken, Approval, Credential, Decision, Grant, Request, RequestState};
use crate::scram::ScramVerifier;
use crate::store::migrations::MIGRATIONS;
use crate::store::sqlite::SqliteStore;
use crate::store::{CredentialQuery, GrantQuery, RequestQuery, Store, Transition};

fn request(id: &str, expires_at: i64) -> Request {
    Request {
        id: id.into(),
        subject: "alice".into(),
        subject_groups: vec!["analysts".into()],
        resource: "db".into(),
        duration_ms: 60_000,
        reason: "INC-1".into(),
        state: RequestState::Pending,
        created_at: 1_000,
        decided_at: None,
        decided_by: None,
        expires_at,
        approvals_required: 2,
        read_only: true,
        grant_id: None,
        approvals: Vec::new(),
    }
}

fn grant(id: &str, request_id: Option<&str>, expires_at: i64) -> Grant {
    Grant {
        id: id.into(),
        subject: "alice".into(),
        resource: "db".into(),
        starts_at: 2_000,
        expires_at,
        granted_by: "dana".into(),
        ended_at: None,
        end: None,
        read_only: true,
        request_id: request_id.map(String::from),
    }
}

fn vote(request_id: &str, approver: &str, decision: Decision) -> Approval {
    Approval {
        request_id: request_id.into(),
        approver: approver.into(),
        decision,
        comment: format!("{approver} says {}", decision.as_str()),
        at: 2_000,
    }
}

#[test]
fn a_first_schema_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().expect("folder");
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("schema 1");
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO subjects VALUES ('alice', 1);
             INSERT INTO grants (id, subject, resource, starts_at, expires_at, granted_by)
             VALUES ('g_old', 'alice', 'db', 1, 2, 'admin');",
        )
        .expect("old rows");
    }
    let store = SqliteStore::open(&path).expect("migrate");
    let old = store.grant("g_old").expect("read").expect("kept");
    assert_eq!((old.read_only, old.request_id), (false, None));
    store
        .insert_request(&request("r_1", 10_000), None)
        .expect("new table works");
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, MIGRATIONS.len() as i64);
}

// What every store must do: run here on SQLite and, by the store's suite, on PostgreSQL.
crate::store_checks! {
    fn votes_count_once_and_the_deciding_one_creates_the_grant(store) {
        store
            .insert_request(&request("r_1", 10_000), None)
            .expect("insert");
        let g = grant("g_1", Some("r_1"), 62_000);
        let first = store
            .approve_request(&vote("r_1", "dana", Decision::Approve), 2, &g)
            .expect("vote");
        let Transition::Counted(after) = first else {
            panic!("expected a counted vote, got {first:?}");
        };
        assert_eq!(
            (after.approval_count(), after.state),
            (1, RequestState::Pending)
        );
        assert_eq!(
            store.grant("g_1").expect("read"),
            None,
            "no grant before enough votes"
        );
        assert_eq!(
            store
                .approve_request(&vote("r_1", "dana", Decision::Approve), 2, &g)
                .expect("vote"),
            Transition::AlreadyVoted
        );
        let second = store
            .approve_request(&vote("r_1", "erin", Decision::Approve), 2, &g)
            .expect("vote");
        let Transition::Decided(done) = second else {
            panic!("expected a decision, got {second:?}");
        };
        assert_eq!(done.state, RequestState::Approved);
        assert_eq!(
            (done.grant_id.as_deref(), done.decided_by.as_deref()),
            (Some("g_1"), Some("erin"))
        );
        assert_eq!(done.approvals.len(), 2);
        assert_eq!(done.subject_groups, ["analysts"]);
        assert_eq!(store.grant("g_1").expect("read"), Some(g.clone()));
        assert_eq!(
            store
                .deny_request(&vote("r_1", "frank", Decision::Deny))
                .expect("deny"),
            Transition::NotPending(RequestState::Approved)
        );
        assert_eq!(
            store.cancel_request("r_none", "alice", 1).expect("cancel"),
            Transition::NotFound
        );
    }

    fn denial_cancellation_and_expiry_close_pending_requests(store) {
        for (id, expires_at) in [("r_d", 10_000), ("r_c", 10_000), ("r_e", 5_000)] {
            store
                .insert_request(&request(id, expires_at), None)
                .expect("insert");
        }
        let Transition::Decided(denied) = store
            .deny_request(&vote("r_d", "dana", Decision::Deny))
            .expect("deny")
        else {
            panic!("deny decides");
        };
        assert_eq!(denied.state, RequestState::Denied);
        let Transition::Decided(cancelled) =
            store.cancel_request("r_c", "alice", 3_000).expect("cancel")
        else {
            panic!("cancel decides");
        };
        assert_eq!(
            (cancelled.state, cancelled.decided_at),
            (RequestState::Cancelled, Some(3_000))
        );
        assert!(store.expire_requests(4_999).expect("expire").is_empty());
        let expired = store.expire_requests(5_000).expect("expire");
        assert_eq!(
            expired.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r_e"]
        );
        assert_eq!(expired[0].state, RequestState::Expired);
        let pending = store
            .find_requests(&RequestQuery {
                state: Some(RequestState::Pending),
                ..RequestQuery::default()
            })
            .expect("find");
        assert!(pending.is_empty());
        let mine = store
            .find_requests(&RequestQuery {
                subject: Some("alice".into()),
                limit: 2,
                ..RequestQuery::default()
            })
            .expect("find");
        assert_eq!(mine.len(), 2);
    }

    fn credentials_listed_by_usability_and_pruned(store) {
        store
            .insert_grant(&grant("g_1", None, 10_000))
            .expect("grant");
        store
            .insert_grant(&grant("g_2", None, 10_000))
            .expect("grant");
        let credential = |id: &str, grant_id: &str, expires_at: i64| Credential {
            id: id.into(),
            login: format!("alice-{id}"),
            grant_id: grant_id.into(),
            subject: "alice".into(),
            resource: "db".into(),
            verifier: ScramVerifier::derive("pw", b"salt", 64),
            native_password: None,
            created_at: 1_000,
            expires_at,
        };
        store
            .insert_credential(&credential("c_live", "g_1", 10_000))
            .expect("c");
        store
            .insert_credential(&credential("c_old", "g_1", 3_000))
            .expect("c");
        store
            .insert_credential(&credential("c_revoked", "g_2", 10_000))
            .expect("c");
        store
            .end_grant("g_2", &crate::model::GrantEnd::Expired, 4_000)
            .expect("end");
        let unusable = store
            .find_credentials(&CredentialQuery {
                unusable_at: Some(5_000),
                ..CredentialQuery::default()
            })
            .expect("find");
        let mut ids: Vec<&str> = unusable.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["c_old", "c_revoked"]);
        assert_eq!(
            store.prune_credentials(Some("bob"), 5_000).expect("prune"),
            0
        );
        assert_eq!(
            store
                .prune_credentials(Some("alice"), 5_000)
                .expect("prune"),
            2
        );
        assert_eq!(store.credential("c_old").expect("read"), None);
        assert!(store
            .credential_by_login("alice-c_live")
            .expect("read")
            .is_some());
        assert!(store.delete_credential("c_live", 6_000).expect("delete"));
        assert!(!store.delete_credential("c_live", 6_000).expect("delete"));
        assert_eq!(
            store.credential_by_login("alice-c_live").expect("read"),
            None
        );
        let live = store
            .find_grants(&GrantQuery {
                live_at: Some(5_000),
                ..GrantQuery::default()
            })
            .expect("grants");
        assert_eq!(
            live.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            ["g_1"]
        );
    }

    fn tokens_round_trip_and_are_forgotten_after_expiry(store) {
        let token = ApiToken {
            token_hash: "ab".repeat(32),
            subject: "alice".into(),
            groups: vec!["analysts".into(), "oncall".into()],
            created_at: 1,
            expires_at: 100,
            revoked_at: None,
        };
        store.insert_token(&token).expect("insert");
        assert_eq!(
            store.token(&token.token_hash).expect("read"),
            Some(token.clone())
        );
        assert!(store.revoke_token(&token.token_hash, 50).expect("revoke"));
        assert!(!store.revoke_token(&token.token_hash, 60).expect("again"));
        assert_eq!(
            store
                .token(&token.token_hash)
                .expect("read")
                .and_then(|t| t.revoked_at),
            Some(50)
        );
        assert_eq!(store.delete_expired_tokens(100).expect("delete"), 0);
        assert_eq!(store.delete_expired_tokens(101).expect("delete"), 1);
    }
}
