//! Every session and every statement leaves a record.

mod common;

use common::start;
use jitgate_control::audit::ChainVerifier;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_sessions_and_failed_logins_are_audited() {
    let env = start();
    let grant = env.grant("5m");
    let client = env.connect(&grant.uri).await.unwrap();
    client
        .simple_query("select generate_series(1, 5)")
        .await
        .unwrap();
    client
        .query("select * from generate_series(1, $1)", &[&3i32])
        .await
        .unwrap();
    let _ = client.simple_query("select 1/0").await;
    drop(client);

    let wrong = grant.uri.replace(&grant.password, "wrong");
    assert!(env.connect(&wrong).await.is_err());

    let events = env.audit_until(|events| {
        events.iter().any(|e| e.event.kind == "session.ended")
            && events.iter().any(|e| e.event.kind == "login.failed")
    });
    let statements: Vec<_> = events
        .iter()
        .filter(|e| e.event.kind == "statement")
        .map(|e| (&e.event, e.event.detail_value()))
        .collect();
    let find = |text: &str| {
        statements
            .iter()
            .find(|(_, d)| d["text"] == text)
            .unwrap_or_else(|| panic!("no statement {text:?} in {statements:#?}"))
    };
    let simple = find("select generate_series(1, 5)");
    assert_eq!(simple.1["rows"], 5);
    assert_eq!(simple.0.subject.as_deref(), Some("alice"));
    assert_eq!(simple.0.grant_id.as_deref(), Some(grant.grant_id.as_str()));
    assert!(simple.0.session_id.is_some());
    let extended = find("select * from generate_series(1, $1)");
    assert_eq!(extended.1["rows"], 3);
    assert!(extended.1["duration_us"].is_u64());
    assert_eq!(find("select 1/0").1["sqlstate"], "22012");

    let failed = events
        .iter()
        .find(|e| e.event.kind == "login.failed")
        .unwrap();
    assert_eq!(failed.event.detail_value()["login"], grant.login.as_str());

    let sessions = env.sessions();
    let s = sessions
        .iter()
        .find(|s| s.grant_id == grant.grant_id && s.ended_at.is_some())
        .expect("an ended session");
    assert_eq!(s.subject, "alice");
    assert_eq!(s.resource, "app");
    assert!(s.client_addr.starts_with("127.0.0.1:"));
    assert!(s.bytes_from_client > 0 && s.bytes_to_client > 0);
    assert!(s.end_reason.is_some());

    // The trail is one unbroken hash chain.
    let mut verifier = ChainVerifier::default();
    for e in &events {
        verifier.check(e).unwrap();
    }
}
