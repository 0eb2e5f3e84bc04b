//! The SQLite store's tables one by one: grants, credentials, the audit chain, sessions.

pub(crate) mod lifecycle;
pub(crate) mod provisioning;

use crate::audit::AuditEvent;
use crate::audit::ChainVerifier;
use crate::model::{
    Credential, Grant, GrantEnd, Millis, ReplicaBeat, SessionEnd, SessionRecord, UpstreamCancel,
};
use crate::native_password::NativePasswordHash;
use crate::scram::ScramVerifier;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use serde_json::json;

fn grant(id: &str, expires_at: Millis) -> Grant {
    Grant {
        id: id.into(),
        subject: "alice".into(),
        resource: "db".into(),
        starts_at: 1000,
        expires_at,
        granted_by: "admin".into(),
        ended_at: None,
        end: None,
        read_only: false,
        request_id: None,
    }
}

#[test]
fn reopening_a_file_keeps_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    SqliteStore::open(&path)
        .unwrap()
        .insert_grant(&grant("g1", 5))
        .unwrap();
    let again = SqliteStore::open(&path).unwrap();
    assert!(again.grant("g1").unwrap().is_some());
}

fn session(id: &str) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        subject: "alice".into(),
        grant_id: "g1".into(),
        resource: "db".into(),
        client_addr: "127.0.0.1:5000".into(),
        replica: "main".into(),
        started_at: 1,
        ended_at: None,
        end_reason: None,
        bytes_from_client: 0,
        bytes_to_client: 0,
    }
}

fn cancel(process_id: i32) -> UpstreamCancel {
    UpstreamCancel::Postgres {
        addr: "127.0.0.1:5432".parse().expect("address"),
        process_id,
        secret_key: 99,
    }
}

#[test]
fn an_ended_session_forgets_its_upstream_cancel() {
    let store = SqliteStore::in_memory().unwrap();
    store.insert_session(&session("s1")).unwrap();
    store
        .record_upstream_cancel(&session("s1"), &cancel(1))
        .unwrap();
    let end = SessionEnd {
        at: 2,
        reason: "client closed".into(),
        bytes_from_client: 0,
        bytes_to_client: 0,
    };
    store.end_session("s1", &end).unwrap();
    let conn = store.conn();
    let kept: Option<String> = conn
        .query_row(
            "SELECT upstream_cancel FROM sessions WHERE id = 's1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, None);
}

// What every store must do: run here on SQLite and, by the store's suite, on PostgreSQL.
crate::store_checks! {
    fn grants_end_once(store) {
        store.insert_grant(&grant("g1", 5000)).unwrap();
        assert_eq!(store.unended_grants().unwrap().len(), 1);
        let revoked = GrantEnd::Revoked { by: "dana".into() };
        assert!(store.end_grant("g1", &revoked, 2000).unwrap());
        assert!(!store.end_grant("g1", &GrantEnd::Expired, 3000).unwrap());
        let g = store.grant("g1").unwrap().unwrap();
        assert_eq!(g.end, Some(revoked));
        assert_eq!(g.ended_at, Some(2000));
        assert!(store.unended_grants().unwrap().is_empty());
    }

    fn credentials_are_found_by_login_with_their_verifier(store) {
        store.insert_grant(&grant("g1", 5000)).unwrap();
        let verifier = ScramVerifier::derive("secret", b"salt", 64);
        let c = Credential {
            id: "c1".into(),
            login: "alice-abc".into(),
            grant_id: "g1".into(),
            subject: "alice".into(),
            resource: "db".into(),
            verifier,
            native_password: None,
            created_at: 1000,
            expires_at: 5000,
        };
        store.insert_credential(&c).unwrap();
        assert_eq!(store.credential_by_login("alice-abc").unwrap(), Some(c.clone()));
        assert_eq!(store.credential_by_login("nobody").unwrap(), None);
        // A MySQL resource's credential with its native_password hash reads back with it.
        let native = Credential {
            id: "c2".into(),
            login: "alice-def".into(),
            native_password: Some(NativePasswordHash::derive("secret")),
            ..c
        };
        store.insert_credential(&native).unwrap();
        assert_eq!(store.credential_by_login("alice-def").unwrap(), Some(native));
    }

    fn audit_appends_chain_across_batches_and_verify(store) {
        for batch in 0..3 {
            let events: Vec<_> = (0..4)
                .map(|i| AuditEvent::new("statement", json!({"batch": batch, "i": i})))
                .collect();
            store.append_audit(&events).unwrap();
        }
        let stored = store.audit_after(0, 100).unwrap();
        assert_eq!(stored.len(), 12);
        let mut v = ChainVerifier::default();
        for e in &stored {
            v.check(e).unwrap();
        }
        assert_eq!(store.audit_after(10, 100).unwrap().len(), 2);
    }

    fn sessions_open_and_end(store) {
        let s = SessionRecord {
            id: "s1".into(),
            subject: "alice".into(),
            grant_id: "g1".into(),
            resource: "db".into(),
            client_addr: "127.0.0.1:5000".into(),
            replica: "main".into(),
            started_at: 1,
            ended_at: None,
            end_reason: None,
            bytes_from_client: 0,
            bytes_to_client: 0,
        };
        store.insert_session(&s).unwrap();
        assert_eq!(store.sessions(true).unwrap().len(), 1);
        let end = SessionEnd {
            at: 2,
            reason: "client closed".into(),
            bytes_from_client: 10,
            bytes_to_client: 20,
        };
        store.end_session("s1", &end).unwrap();
        assert!(store.sessions(true).unwrap().is_empty());
        let all = store.sessions(false).unwrap();
        assert_eq!(all[0].bytes_to_client, 20);
        assert_eq!(all[0].end_reason.as_deref(), Some("client closed"));
    }

    fn an_upstream_cancel_is_kept_whether_it_comes_before_or_after_the_sessions_start(store) {
        // The recorder may write the start after the front recorded the cancel key, or before.
        store
            .record_upstream_cancel(&session("s1"), &cancel(1))
            .unwrap();
        store.insert_session(&session("s1")).unwrap();
        store.insert_session(&session("s2")).unwrap();
        store
            .record_upstream_cancel(&session("s2"), &cancel(2))
            .unwrap();
        // Another replica's open session is not this replica's orphan.
        let mut elsewhere = session("s3");
        elsewhere.replica = "b".into();
        store.insert_session(&elsewhere).unwrap();
        let orphans = store
            .end_orphaned_sessions("main", 10, "gateway restarted")
            .unwrap();
        let found: Vec<_> = orphans
            .iter()
            .map(|o| (o.record.id.as_str(), o.upstream_cancel.clone()))
            .collect();
        assert_eq!(found, [("s1", Some(cancel(1))), ("s2", Some(cancel(2)))]);
        assert!(orphans
            .iter()
            .all(|o| o.record.end_reason.as_deref() == Some("gateway restarted")));
        let open: Vec<_> = store.sessions(true).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].replica, "b");
        assert!(store
            .end_orphaned_sessions("main", 11, "again")
            .unwrap()
            .is_empty());
    }

    fn a_kill_asked_anywhere_reaches_the_replica_that_runs_the_session(store) {
        let mut on_b = session("s1");
        on_b.replica = "b".into();
        store.insert_session(&on_b).unwrap();
        assert!(store.session_kills("b").unwrap().is_empty());
        assert!(store.request_session_kill("s1", "ended by dana").unwrap());
        // Asked once; a second ask changes nothing.
        assert!(!store.request_session_kill("s1", "again").unwrap());
        assert!(!store.request_session_kill("s_none", "x").unwrap());
        assert!(store.session_kills("main").unwrap().is_empty());
        assert_eq!(
            store.session_kills("b").unwrap(),
            [("s1".to_owned(), "ended by dana".to_owned())]
        );
        let end = SessionEnd {
            at: 2,
            reason: "ended by dana".into(),
            bytes_from_client: 0,
            bytes_to_client: 0,
        };
        store.end_session("s1", &end).unwrap();
        assert!(store.session_kills("b").unwrap().is_empty());
    }

    fn a_replica_name_is_held_by_one_process_and_its_sessions_end_once_it_is_silent(store) {
        let beat = |instance: &str, at: Millis| ReplicaBeat {
            name: "b".into(),
            instance: instance.into(),
            heartbeat_at: at,
            lost_after_ms: 1000,
        };
        assert_eq!(store.replica("b").unwrap(), None);
        assert!(store.claim_replica(&beat("i1", 100), None).unwrap());
        // A second process cannot take a held name as if it were free, nor from the wrong holder.
        assert!(!store.claim_replica(&beat("i2", 100), None).unwrap());
        assert!(!store.claim_replica(&beat("i2", 100), Some("i9")).unwrap());
        assert!(store.replica_heartbeat("b", "i1", 500).unwrap());
        assert_eq!(store.replica("b").unwrap(), Some(beat("i1", 500)));

        let mut on_b = session("s1");
        on_b.replica = "b".into();
        store.insert_session(&on_b).unwrap();
        store.record_upstream_cancel(&on_b, &cancel(42)).unwrap();
        let mut on_c = session("s2");
        on_c.replica = "c".into();
        store.insert_session(&on_c).unwrap();

        // Within its bound (heartbeat 500 + 1000), nothing is touched.
        assert!(store.end_lost_replica_sessions(1500, "lost").unwrap().is_empty());
        let ended = store.end_lost_replica_sessions(1501, "lost").unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].record.id, "s1");
        assert_eq!(ended[0].upstream_cancel, Some(cancel(42)));
        // Once: a second sweep finds nothing; the replica without a heartbeat row is left alone.
        assert!(store.end_lost_replica_sessions(9999, "lost").unwrap().is_empty());
        let s1 = store.session("s1").unwrap().unwrap();
        assert_eq!((s1.ended_at, s1.end_reason.as_deref()), (Some(1501), Some("lost")));
        assert_eq!(store.session("s2").unwrap().unwrap().ended_at, None);

        // Taken over from the silent holder: the old one's heartbeat no longer lands.
        assert!(store.claim_replica(&beat("i2", 2000), Some("i1")).unwrap());
        assert!(!store.replica_heartbeat("b", "i1", 2100).unwrap());
        assert_eq!(store.replica("b").unwrap(), Some(beat("i2", 2000)));
    }
}
