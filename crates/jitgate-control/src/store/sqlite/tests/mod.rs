//! The SQLite store's tables one by one: grants, credentials, the audit chain, sessions.

mod lifecycle;

use crate::audit::AuditEvent;
use crate::audit::ChainVerifier;
use crate::model::{
    Credential, Grant, GrantEnd, Millis, SessionEnd, SessionRecord, UpstreamCancel,
};
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
fn grants_end_once() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn credentials_are_found_by_login_with_their_verifier() {
    let store = SqliteStore::in_memory().unwrap();
    store.insert_grant(&grant("g1", 5000)).unwrap();
    let verifier = ScramVerifier::derive("secret", b"salt", 64);
    let c = Credential {
        id: "c1".into(),
        login: "alice-abc".into(),
        grant_id: "g1".into(),
        subject: "alice".into(),
        resource: "db".into(),
        verifier,
        created_at: 1000,
        expires_at: 5000,
    };
    store.insert_credential(&c).unwrap();
    assert_eq!(store.credential_by_login("alice-abc").unwrap(), Some(c));
    assert_eq!(store.credential_by_login("nobody").unwrap(), None);
}

#[test]
fn audit_appends_chain_across_batches_and_verify() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn sessions_open_and_end() {
    let store = SqliteStore::in_memory().unwrap();
    let s = SessionRecord {
        id: "s1".into(),
        subject: "alice".into(),
        grant_id: "g1".into(),
        resource: "db".into(),
        client_addr: "127.0.0.1:5000".into(),
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
fn an_upstream_cancel_is_kept_whether_it_comes_before_or_after_the_sessions_start() {
    let store = SqliteStore::in_memory().unwrap();
    // The recorder may write the start after the front recorded the cancel key, or before.
    store
        .record_upstream_cancel(&session("s1"), &cancel(1))
        .unwrap();
    store.insert_session(&session("s1")).unwrap();
    store.insert_session(&session("s2")).unwrap();
    store
        .record_upstream_cancel(&session("s2"), &cancel(2))
        .unwrap();
    let orphans = store
        .end_orphaned_sessions(10, "gateway restarted")
        .unwrap();
    let found: Vec<_> = orphans
        .iter()
        .map(|o| (o.record.id.as_str(), o.upstream_cancel.clone()))
        .collect();
    assert_eq!(found, [("s1", Some(cancel(1))), ("s2", Some(cancel(2)))]);
    assert!(orphans
        .iter()
        .all(|o| o.record.end_reason.as_deref() == Some("gateway restarted")));
    assert!(store.sessions(true).unwrap().is_empty());
    assert!(store.end_orphaned_sessions(11, "again").unwrap().is_empty());
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
