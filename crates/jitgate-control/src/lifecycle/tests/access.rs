//! Connecting, credentials, sessions, tokens, what each role sees, and the audit chain.

use super::{alice, bob, dana, fixture, fixture_with, oscar, root, rule, MIN, NOON};
use crate::audit::ChainBreak;
use crate::lifecycle::LifecycleError;
use crate::model::RequestState;
use crate::store::SqliteStore;
use crate::{Admission, AuditCheckError, SessionStop};
use std::sync::Arc;
use std::time::Duration;

fn code<T: std::fmt::Debug>(result: Result<T, LifecycleError>) -> &'static str {
    result.expect_err("expected a refusal").code()
}

#[test]
fn connect_mints_a_credential_for_the_live_grant_only() {
    let f = fixture(vec![rule(1)]);
    assert_eq!(
        f.control.connect(&alice(), "prod-pg").map(|_| ()),
        Err(LifecycleError::NoActiveGrant("prod-pg".into()))
    );
    assert_eq!(code(f.control.connect(&alice(), "nope")), "not_found");
    let request = f.ask(&alice(), 30);
    assert_eq!(
        code(f.control.connect(&alice(), "prod-pg")),
        "no_active_grant"
    );
    let approved = f
        .control
        .approve(&dana(), &request.id, "")
        .expect("approve");
    let grant_id = approved.grant_id.expect("grant");

    let first = f.control.connect(&alice(), "prod-pg").expect("credential");
    assert_eq!(first.credential.grant_id, grant_id);
    assert_eq!(first.credential.expires_at, NOON + 30 * 60_000);
    // Late in the grant, a reconnect gets only what is left.
    f.clock.advance(25 * MIN);
    let late = f.control.connect(&alice(), "prod-pg").expect("credential");
    assert_eq!(late.credential.expires_at, first.credential.expires_at);
    assert_ne!(late.secret, first.secret);
    // Someone else's grant is no use.
    assert_eq!(
        code(f.control.connect(&bob(), "prod-pg")),
        "no_active_grant"
    );
    f.clock.advance(5 * MIN);
    assert_eq!(
        code(f.control.connect(&alice(), "prod-pg")),
        "no_active_grant"
    );
}

#[test]
fn credentials_are_listed_deleted_and_pruned() {
    let f = fixture(vec![rule(0)]);
    f.ask(&alice(), 10);
    let a1 = f.control.connect(&alice(), "prod-pg").expect("cred");
    let a2 = f.control.connect(&alice(), "prod-pg").expect("cred");
    f.ask(&oscar(), 30);
    let o1 = f.control.connect(&oscar(), "prod-pg").expect("cred");

    let mine = f.control.list_credentials(&alice(), false).expect("list");
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|c| c.subject == "alice"));
    assert!(!serde_json::to_string(&mine)
        .expect("json")
        .contains("verifier"));
    assert_eq!(
        f.control
            .list_credentials(&root(), false)
            .expect("list")
            .len(),
        3
    );
    assert!(f
        .control
        .list_credentials(&alice(), true)
        .expect("list")
        .is_empty());

    assert_eq!(
        code(f.control.delete_credential(&alice(), &o1.credential.id)),
        "not_found"
    );
    f.control
        .delete_credential(&alice(), &a2.credential.id)
        .expect("delete own");
    assert_eq!(
        code(f.control.delete_credential(&alice(), &a2.credential.id)),
        "not_found"
    );
    let login = &a2.credential.login;
    assert_eq!(
        f.control.find_credential(login).expect("lookup"),
        None,
        "a deleted credential no longer logs in"
    );

    f.clock.advance(10 * MIN);
    let expired = f.control.list_credentials(&alice(), true).expect("list");
    assert_eq!(
        expired.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [a1.credential.id.as_str()]
    );
    assert_eq!(f.control.prune_credentials(&alice()).expect("prune"), 1);
    assert_eq!(f.control.prune_credentials(&alice()).expect("prune"), 0);
    assert_eq!(
        f.control
            .list_credentials(&root(), false)
            .expect("list")
            .len(),
        1,
        "oscar's is still live"
    );
    let kinds = f.audit_kinds();
    assert!(kinds.contains(&"credential.deleted".to_string()));
    assert_eq!(
        kinds.iter().filter(|k| *k == "credentials.pruned").count(),
        2
    );
}

#[test]
fn listings_show_what_each_role_may_see() {
    let f = fixture(vec![rule(1)]);
    let by_alice = f.ask(&alice(), 30);
    let by_bob = f.ask(&bob(), 30);
    let by_dana = f.ask(&dana(), 30);
    let ids = |list: Vec<crate::model::Request>| -> Vec<String> {
        let mut ids: Vec<String> = list.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(f.control.list_requests(&alice(), false).expect("l")),
        std::slice::from_ref(&by_alice.id)
    );
    assert_eq!(
        ids(f.control.list_requests(&dana(), true).expect("l")),
        sorted(vec![
            by_alice.id.clone(),
            by_bob.id.clone(),
            by_dana.id.clone()
        ])
    );
    assert_eq!(
        ids(f.control.list_requests(&root(), false).expect("l")).len(),
        3
    );
    assert_eq!(
        code(f.control.get_request(&bob(), &by_alice.id)),
        "not_found"
    );

    f.control
        .approve(&dana(), &by_alice.id, "")
        .expect("approve");
    // Decided requests leave the approver's pending list, and stay in the requester's.
    assert_eq!(
        ids(f.control.list_requests(&dana(), true).expect("l")),
        sorted(vec![by_bob.id.clone(), by_dana.id.clone()])
    );
    let alices = f.control.list_requests(&alice(), true).expect("l");
    assert!(alices.is_empty());
    assert_eq!(
        f.control.list_requests(&alice(), false).expect("l")[0].state,
        RequestState::Approved
    );

    assert_eq!(f.control.list_grants(&alice(), true).expect("g").len(), 1);
    assert!(f.control.list_grants(&bob(), false).expect("g").is_empty());
    assert_eq!(f.control.list_grants(&dana(), true).expect("g").len(), 1);
}

#[tokio::test]
async fn sessions_are_listed_and_killed_by_approvers() {
    let f = fixture(vec![rule(0)]);
    // Sessions time their grant's end by the real clock: keep the test's clock on it.
    f.clock.set(crate::model::now_millis());
    let grant_id = f.ask(&alice(), 30).grant_id.expect("grant");
    let grant = f
        .control
        .store()
        .grant(&grant_id)
        .expect("read")
        .expect("grant");
    let credential = f.control.connect(&alice(), "prod-pg").expect("cred");
    let admission = Admission {
        subject: "alice".into(),
        grant,
        credential_id: credential.credential.id,
    };
    let mut session = f.control.open_session(&admission, "127.0.0.1:5555");
    f.control.flush();
    let id = session.id().to_owned();
    assert_eq!(f.control.list_sessions(&alice(), true).expect("s").len(), 1);
    assert!(f
        .control
        .list_sessions(&bob(), false)
        .expect("s")
        .is_empty());
    assert_eq!(f.control.list_sessions(&root(), true).expect("s").len(), 1);

    assert_eq!(code(f.control.kill_session(&bob(), &id, "")), "not_found");
    assert_eq!(code(f.control.kill_session(&alice(), &id, "")), "forbidden");
    assert_eq!(
        code(f.control.kill_session(&dana(), "s_none", "")),
        "not_found"
    );
    f.control
        .kill_session(&dana(), &id, "too slow")
        .expect("kill");
    let stop = tokio::time::timeout(Duration::from_secs(1), session.stopped())
        .await
        .expect("stopped within a second");
    assert_eq!(stop, SessionStop::Killed("ended by dana: too slow".into()));
    session.close("killed", 0, 0);
    f.control.flush();
    assert_eq!(code(f.control.kill_session(&dana(), &id, "")), "conflict");
    assert!(f.audit_kinds().contains(&"session.killed".to_string()));
}

#[test]
fn tokens_expire_and_can_be_revoked() {
    let f = fixture(vec![rule(1)]);
    let login = f
        .control
        .login("alice", "alice-pw", "127.0.0.1:1")
        .expect("login");
    assert_eq!(login.subject, alice());
    assert!(login.token.starts_with("jgt_"));
    assert_eq!(login.expires_at, NOON + 3_600_000);
    assert_eq!(f.control.subject_for_token(&login.token), Some(alice()));
    assert_eq!(f.control.subject_for_token("jgt_forged"), None);
    assert_eq!(f.control.subject_for_token("nonsense"), None);
    f.clock.advance(60 * MIN);
    assert_eq!(f.control.subject_for_token(&login.token), None, "expired");

    let (token, _) = f.control.issue_token(&dana()).expect("token");
    assert_eq!(f.control.subject_for_token(&token), Some(dana()));
    assert!(f.control.revoke_token(&token).expect("revoke"));
    assert!(!f.control.revoke_token(&token).expect("revoke again"));
    assert_eq!(f.control.subject_for_token(&token), None, "revoked");

    for (user, password) in [("alice", "wrong"), ("mallory", "alice-pw"), ("", "x")] {
        let refused = f.control.login(user, password, "10.0.0.9:4000");
        assert_eq!(code(refused), "unauthenticated");
    }
    let kinds = f.audit_kinds();
    assert_eq!(kinds.iter().filter(|k| *k == "login.failed").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "token.issued").count(), 2);
    // Only the hash is stored.
    let stored = f.control.store().token(&login.token).expect("read");
    assert_eq!(stored, None);
}

#[test]
fn the_audit_chain_verifies_and_names_a_tampered_event() {
    let dir = tempfile::tempdir().expect("folder");
    let path = dir.path().join("store.sqlite");
    let f = fixture_with(
        Arc::new(SqliteStore::open(&path).expect("open")),
        vec![rule(1)],
    );
    let request = f.ask(&alice(), 30);
    f.control
        .approve(&dana(), &request.id, "ok")
        .expect("approve");
    f.control.connect(&alice(), "prod-pg").expect("credential");
    f.control.flush();
    let count = f.control.verify_audit().expect("intact");
    assert_eq!(count, 5);
    let page = f.control.audit_page(2, 2).expect("page");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);

    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute("UPDATE audit SET subject = 'mallory' WHERE seq = 2", [])
        .expect("tamper");
    match f.control.verify_audit() {
        Err(AuditCheckError::Broken(ChainBreak::Edited { seq })) => assert_eq!(seq, 2),
        other => panic!("expected an edited event, got {other:?}"),
    }
}

/// Every page of a listing, walked with `list` from the first page until no cursor is left.
fn walk<T>(
    limit: usize,
    list: impl Fn(&super::super::PageRequest) -> Result<super::super::Page<T>, LifecycleError>,
) -> Vec<T> {
    let mut page = super::super::PageRequest { limit, after: None };
    let mut all = Vec::new();
    loop {
        let got = list(&page).expect("a page");
        assert!(got.items.len() <= limit);
        all.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => return all,
        }
    }
}

#[test]
fn pages_of_an_approvers_requests_add_up_to_the_whole_listing() {
    let f = fixture(vec![rule(1)]);
    for _ in 0..4 {
        f.ask(&alice(), 30);
        f.ask(&bob(), 30);
        f.ask(&dana(), 30);
        f.clock.advance(MIN);
    }
    // Some of the others' requests are decided: they leave the approver's view.
    let alices = f.control.list_requests(&alice(), false).expect("l");
    for request in alices.iter().take(2) {
        f.control
            .approve(&dana(), &request.id, "")
            .expect("approve");
    }
    let ids = |list: Vec<crate::model::Request>| -> Vec<String> {
        list.into_iter().map(|r| r.id).collect()
    };
    let whole = ids(f.control.list_requests(&dana(), false).expect("l"));
    assert_eq!(whole.len(), 10, "dana's 4 and the 6 pending of others");
    for limit in [1, 2, 3, 7] {
        let paged = ids(walk(limit, |p| {
            f.control.list_requests_page(&dana(), false, p)
        }));
        assert_eq!(paged, whole, "pages of {limit}");
    }
    let grants: Vec<String> = f
        .control
        .list_grants(&root(), false)
        .expect("g")
        .into_iter()
        .map(|g| g.id)
        .collect();
    let paged: Vec<String> = walk(1, |p| f.control.list_grants_page(&root(), false, p))
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(paged, grants);
    assert_eq!(grants.len(), 2);
}
