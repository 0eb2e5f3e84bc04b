//! Only a live grant lets bytes through, and a session ends the moment its grant does.

mod common;

use common::{message, sqlstate, start};
use std::time::{Duration, Instant, SystemTime};

fn expires_at(grant: &jitgate_testkit::GrantInfo) -> SystemTime {
    humantime::parse_rfc3339(&grant.expires_at).expect("RFC 3339 expiry")
}

fn with_password(uri: &str, login: &str, password: &str) -> String {
    let rest = uri.split_once('@').expect("uri with credentials").1;
    format!("postgresql://{login}:{password}@{rest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_unknown_expired_and_revoked_credentials_get_28p01() {
    let env = start();
    let grant = env.grant("5m");

    let wrong = with_password(&grant.uri, &grant.login, "not-the-secret");
    let err = env
        .connect(&wrong)
        .await
        .expect_err("wrong password refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("28P01"), "{err}");

    let unknown = with_password(&grant.uri, "mallory-abcdef", &grant.password);
    let err = env
        .connect(&unknown)
        .await
        .expect_err("unknown login refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("28P01"), "{err}");

    let short = env.grant("1s");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let err = env
        .connect(&short.uri)
        .await
        .expect_err("expired grant refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("28P01"));
    assert!(message(&err).contains("expired"), "{err}");

    env.gateway.revoke(&grant.grant_id).unwrap();
    let err = env
        .connect(&grant.uri)
        .await
        .expect_err("revoked grant refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("28P01"));
    assert!(message(&err).contains("revoked"), "{err}");

    // psql shows the reason to a person.
    let (ok, _, stderr) = env.psql(&short.uri, &["-c", "select 1"]);
    assert!(!ok);
    assert!(stderr.contains("access grant expired"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_ending_mid_query_cuts_the_session_within_a_second() {
    let env = start();
    let grant = env.grant("3s");
    let client = env.connect(&grant.uri).await.unwrap();
    let err = client
        .query("select pg_sleep(60)", &[])
        .await
        .expect_err("the query must not outlive the grant");
    let late = SystemTime::now()
        .duration_since(expires_at(&grant))
        .unwrap_or_default();
    assert!(late < Duration::from_secs(1), "cut {late:?} after expiry");
    assert_eq!(sqlstate(&err).as_deref(), Some("57P01"), "{err}");
    assert!(message(&err).contains("access grant expired"), "{err}");
    assert!(
        client.simple_query("select 1").await.is_err(),
        "session still usable"
    );

    // The upstream query was cancelled too, not left running for nobody.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let running = env
            .cluster
            .psql("app", "select count(*) from pg_stat_activity where query like 'select pg_sleep(60)%' and state = 'active'")
            .unwrap();
        if running.trim() == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "upstream query still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_idle_in_a_transaction_is_cut_at_expiry() {
    let env = start();
    let grant = env.grant("2s");
    let client = env.connect(&grant.uri).await.unwrap();
    client.batch_execute("begin; select 1").await.unwrap();
    tokio::time::sleep(
        expires_at(&grant)
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while !client.is_closed() {
        assert!(
            Instant::now() < deadline,
            "idle session still open after expiry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(client.simple_query("select 1").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_from_the_command_line_cuts_live_sessions_within_a_second() {
    let env = start();
    let grant = env.grant("10m");
    let client = env.connect(&grant.uri).await.unwrap();
    let query = tokio::spawn(async move {
        let r = client.query("select pg_sleep(60)", &[]).await;
        (r.map(|_| ()), Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.gateway.revoke(&grant.grant_id).unwrap();
    let revoked = Instant::now();
    let (result, ended) = query.await.unwrap();
    let err = result.expect_err("revoked session must end");
    assert!(message(&err).contains("access grant revoked"), "{err}");
    assert!(ended.duration_since(revoked) < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_for_one_resource_does_not_open_another_database() {
    let env = start();
    let grant = env.grant("5m");
    let other_db = grant.uri.rsplit_once('/').unwrap().0.to_owned() + "/postgres";
    let err = env
        .connect(&other_db)
        .await
        .expect_err("other database refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("3D000"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_that_expired_while_jitgate_was_down_are_ended_at_start() {
    let mut env = start();
    let grant = env.grant("2s");
    env.gateway.stop().unwrap();
    std::thread::sleep(Duration::from_millis(2200));
    env.gateway.restart().unwrap();
    let events = env.audit_until(|events| {
        events.iter().any(|e| {
            e.event.kind == "grant.expired" && e.event.grant_id.as_deref() == Some(&grant.grant_id)
        })
    });
    assert!(
        events.iter().any(|e| e.event.kind == "grant.expired"),
        "no grant.expired event: {events:#?}"
    );
}

/// A `long_statement` alert is raised while the statement still runs, not only once it ends.
#[test]
fn a_long_statement_alert_fires_while_the_statement_runs() {
    let env = common::start_custom(
        "",
        "[[alerts]]\nkind = \"long_statement\"\nthreshold = \"1s\"\n",
        &[],
    );
    let grant = env.grant("5m");
    let uri = grant.uri.clone();
    let running = std::thread::spawn(move || {
        std::process::Command::new("psql")
            .arg(&uri)
            .args(["-X", "-c", "select pg_sleep(6)"])
            .output()
            .expect("psql")
    });
    let raised = |events: &[jitgate_control::audit::ChainedEvent]| {
        events.iter().any(|e| {
            e.event.kind == "alert.long_statement" && e.event.detail_value()["running"] == true
        })
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(5);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        seen = raised(&env.audit_until(raised));
    }
    assert!(seen, "no alert while the statement ran");
    assert!(
        !running.is_finished(),
        "the alert came only after the statement ended"
    );
    let out = running.join().expect("psql thread");
    assert!(out.status.success());
}
