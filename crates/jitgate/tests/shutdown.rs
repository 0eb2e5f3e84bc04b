//! The gateway's edges under load and at its end: connections over the caps are refused at once
//! with a reason, and SIGTERM drains — no new connections, sessions may finish, and those still
//! open when the drain time is over end with a FATAL the client can read, their queries cancelled
//! upstream and their end on record.

mod common;

use common::{message, sqlstate, start_with};
use jitgate_control::SessionStop;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

/// Runs `sql` on the upstream until it returns `want`, for a few seconds at most.
fn upstream_until(env: &common::Env, sql: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = env.cluster.psql("app", sql).expect("psql upstream");
        if got.trim() == want || Instant::now() > deadline {
            return got.trim().to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SLEEPING: &str = "select count(*) from pg_stat_activity \
    where query = 'select pg_sleep(120)' and state = 'active'";

/// Sends SIGTERM without waiting for the exit.
fn sigterm(env: &common::Env) {
    let pid = env.gateway.pid().expect("gateway running");
    let status = std::process::Command::new("sh")
        .args(["-c", "kill -TERM \"$1\"", "sh", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_running_query_with_57p01_cancels_it_upstream_and_records_the_end() {
    let mut env = start_with("drain_timeout = \"1s\"");
    let grant = env.grant("10m");
    let client = env.connect(&grant.uri).await.expect("connect");
    let query = tokio::spawn(async move { client.query("select pg_sleep(120)", &[]).await });
    assert_eq!(upstream_until(&env, SLEEPING, "1"), "1", "query running");

    let status = tokio::task::block_in_place(|| env.gateway.stop()).expect("jitgate exits");
    assert!(status.success(), "exit status {status}");

    let err = query
        .await
        .expect("query task")
        .expect_err("the query must not outlive the gateway");
    assert_eq!(sqlstate(&err).as_deref(), Some("57P01"), "{err}");
    assert_eq!(message(&err), SessionStop::Shutdown.client_message());
    // Cancelled upstream, not left running for nobody.
    assert_eq!(
        upstream_until(&env, SLEEPING, "0"),
        "0",
        "upstream query left"
    );

    // On record before the process exited.
    let events = env.audit_until(|_| true);
    let ended: Vec<_> = events
        .iter()
        .filter(|e| e.event.kind == "session.ended")
        .map(|e| e.event.detail_value())
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["reason"], SessionStop::Shutdown.reason());
    let sessions = env.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].ended_at.is_some(), "session left open");
    assert_eq!(
        sessions[0].end_reason.as_deref(),
        Some("gateway shutting down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_draining_a_session_finishes_its_transaction_and_new_connections_are_refused() {
    // A drain time no test waits for: the gateway must exit because the session ended.
    let mut env = start_with("drain_timeout = \"1h\"");
    let grant = env.grant("10m");
    let client = env.connect(&grant.uri).await.expect("connect");
    client
        .batch_execute("begin; create temporary table t (x int); insert into t values (1)")
        .await
        .expect("transaction under way");

    sigterm(&env);
    // The listener closes: new connections are refused by the system.
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = env.gateway.listen_addrs()[0];
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        env.connect(&grant.uri).await.is_err(),
        "a new session began"
    );

    // The open session goes on to the end of its transaction.
    client
        .batch_execute("insert into t values (2)")
        .await
        .expect("statement while draining");
    let rows = client
        .query_one("select count(*) from t", &[])
        .await
        .expect("query while draining");
    assert_eq!(rows.get::<_, i64>(0), 2);
    client.batch_execute("commit").await.expect("commit");
    drop(client);

    let status = tokio::task::block_in_place(|| env.gateway.stop()).expect("jitgate exits");
    assert!(status.success(), "exit status {status}");
    let sessions = env.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].end_reason.as_deref(),
        Some("client terminated"),
        "the session ended on its own"
    );
}

/// A TCP connection to `to` from the loopback address `from` (all of 127/8 reaches a listener on
/// 127.0.0.1).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::from(from), 0))
        .expect("bind the client's address");
    socket.connect(to).await.expect("connect")
}

/// Logs in through jitgate from the loopback address `from`.
async fn log_in_from(
    from: [u8; 4],
    env: &common::Env,
    uri: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let stream = connect_from(from, env.gateway.listen_addrs()[0]).await;
    let config: tokio_postgres::Config = uri.parse().expect("uri");
    let (client, connection) = config.connect_raw(stream, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_log_in_cannot_crowd_out_other_clients() {
    let env = start_with("max_logging_in = 5\nmax_logging_in_per_address = 3");
    let grant = env.grant("10m");
    let addr = env.gateway.listen_addrs()[0];
    // Three silent connections from one address take its login places...
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(connect_from([127, 0, 0, 1], addr).await);
    }
    // ...so the next from that address is refused at once, with a reason...
    let err = log_in_from([127, 0, 0, 1], &env, &grant.uri)
        .await
        .expect_err("over the cap on logins from one address");
    assert_eq!(sqlstate(&err).as_deref(), Some("53300"), "{err}");
    assert!(message(&err).contains("from your address"), "{err}");
    // ...while a client from another address still logs in.
    let client = log_in_from([127, 0, 0, 2], &env, &grant.uri)
        .await
        .expect("another address logs in");
    client.simple_query("select 1").await.expect("query");

    // Silent connections from more addresses meet the cap over all addresses.
    for _ in 0..2 {
        silent.push(connect_from([127, 0, 0, 3], addr).await);
    }
    let err = log_in_from([127, 0, 0, 4], &env, &grant.uri)
        .await
        .expect_err("over the cap on logins");
    assert_eq!(sqlstate(&err).as_deref(), Some("53300"), "{err}");
    assert!(message(&err).contains("logging in at once"), "{err}");

    // Places are given back when the silent connections go.
    drop(silent);
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        match log_in_from([127, 0, 0, 1], &env, &grant.uri).await {
            Ok(client) => break client,
            Err(e) => assert!(Instant::now() < deadline, "still refused: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    client.simple_query("select 1").await.expect("query");
    assert!(
        env.gateway.log().contains("over a cap"),
        "refusals are logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_refuses_with_a_clear_error() {
    let env = start_with("max_connections = 2");
    let grant = env.grant("10m");
    let first = env.connect(&grant.uri).await.expect("first");
    let _second = env.connect(&grant.uri).await.expect("second");
    let err = env
        .connect(&grant.uri)
        .await
        .expect_err("third over the cap");
    assert_eq!(sqlstate(&err).as_deref(), Some("53300"), "{err}");
    assert!(message(&err).starts_with("too many connections"), "{err}");
    // psql shows the reason to a person.
    let (ok, _, stderr) = env.psql(&grant.uri, &["-c", "select 1"]);
    assert!(!ok);
    assert!(stderr.contains("too many connections"), "{stderr}");

    // A session that ends gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match env.connect(&grant.uri).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "still refused: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_is_forwarded_even_at_the_connection_cap() {
    let env = start_with("max_connections = 1");
    let grant = env.grant("10m");
    let client = env.connect(&grant.uri).await.expect("the one session");
    let cancel = client.cancel_token();
    let query = tokio::spawn(async move { client.query("select pg_sleep(120)", &[]).await });
    assert_eq!(upstream_until(&env, SLEEPING, "1"), "1", "query running");
    // The cancel comes on a connection of its own, over the cap.
    cancel
        .cancel_query(tokio_postgres::NoTls)
        .await
        .expect("cancel sent");
    let err = query
        .await
        .expect("query task")
        .expect_err("the query was cancelled");
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
}
