//! Sessions through the front: credentials, clear results identical to a direct connection,
//! the audit trail, and grants ending while a statement runs.

use crate::env::{direct, drive, driver, lines, server, ThriftServer};
use jitgate_control::audit::ChainedEvent;
use jitgate_control::store::{SqliteStore, Store};
use jitgate_testkit::{free_port, Gateway};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub(crate) const MASK_KEY: &str = "a-masking-key-of-enough-length-0123456789";

/// jitgate with resource `wh` (kind databricks-sql) in front of the shared server.
pub(crate) fn gateway(server: &ThriftServer, sections: &str) -> Gateway {
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"

[resources.wh]
kind = "databricks-sql"
listen = "127.0.0.1:{listen}"

[resources.wh.upstream]
host = "127.0.0.1"
port = {port}
tls = false
http_path = "/cliservice"
user = "jitgate"
password_env = "HS2_PASSWORD"

{sections}
"#,
        listen = free_port(),
        port = server.port,
    );
    Gateway::start_with_env(
        env!("CARGO_BIN_EXE_jitgate").as_ref(),
        &config,
        &[("MASK_KEY", MASK_KEY), ("HS2_PASSWORD", "unused-by-nosasl")],
    )
    .expect("starting jitgate")
}

/// The front's URL for PyHive.
pub(crate) fn url(gw: &Gateway) -> String {
    let addr = gw.listen_addrs()[0];
    format!("http://{addr}/cliservice")
}

pub(crate) fn audit(gw: &Gateway, until: impl Fn(&[ChainedEvent]) -> bool) -> Vec<ChainedEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let store = SqliteStore::open(&gw.dir().join("jitgate.sqlite")).expect("store");
        let events = store.audit_after(0, 100_000).expect("reading audit");
        if until(&events) || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn detail(e: &ChainedEvent) -> Value {
    serde_json::from_str(e.event.detail.get()).expect("detail JSON")
}

pub(crate) fn of_kind(events: &[ChainedEvent], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event.kind == kind)
        .map(detail)
        .collect()
}

#[test]
fn no_or_wrong_credential_opens_no_session_and_nothing_reaches_the_upstream() {
    let Some(server) = server() else { return };
    let gw = gateway(server, "");
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    let none = drive(&url(&gw), "-", "-", &["sql:select 1"]);
    assert_eq!(none[0]["open"], false, "{none:?}");
    assert!(
        none[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no jitgate credential"),
        "{none:?}"
    );
    let wrong = drive(&url(&gw), &grant.login, "wrongsecret", &["sql:select 1"]);
    assert_eq!(wrong[0]["open"], false, "{wrong:?}");
    let events = audit(&gw, |e| e.iter().any(|e| e.event.kind == "login.failed"));
    assert!(events.iter().any(|e| e.event.kind == "login.failed"));
    assert!(of_kind(&events, "session.started").is_empty());
    assert!(of_kind(&events, "statement").is_empty());
}

#[test]
fn a_granted_user_gets_what_a_direct_connection_gets_audited() {
    let Some(server) = server() else { return };
    let table = format!("clear_{}", free_port());
    direct(
        server,
        &[
            &format!("sql:create table {table} (id int, name string, price decimal(10,2), at date) using parquet"),
            &format!("sql:insert into {table} values (1, 'ann', 1.50, date'2024-01-02'), (2, NULL, 2.25, NULL), (3, 'cy', NULL, date'2024-03-04')"),
        ],
    );
    let gw = gateway(server, "");
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    let steps = [
        format!("sql:select * from {table} order by id"),
        "sql:select 1 as x, 'two' as y, cast(null as string) as z".to_string(),
        "sql:select * from no_such_table_here".to_string(),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let via = drive(
        &url(&gw),
        "token",
        &format!("{}.{}", grant.login, grant.password),
        &steps,
    );
    let own = drive(&server.url(), "admin", "x", &steps);
    assert_eq!(via[0]["open"], true, "{via:?}");
    assert_eq!(via[1]["rows"], own[1]["rows"], "{via:?}");
    assert_eq!(via[2]["rows"], own[2]["rows"], "{via:?}");
    assert_eq!(via[1]["rows"].as_array().map(Vec::len), Some(3));
    // The upstream's own errors reach the client as they are.
    assert!(
        via[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("TABLE_OR_VIEW_NOT_FOUND"),
        "{via:?}"
    );
    // Basic with the login as user and the secret as password works too.
    let basic = drive(&url(&gw), &grant.login, &grant.password, &["sql:select 7"]);
    assert_eq!(basic[1]["rows"], serde_json::json!([[7]]), "{basic:?}");

    let events = audit(&gw, |e| of_kind(e, "session.ended").len() >= 2);
    let statements = of_kind(&events, "statement");
    let read = statements
        .iter()
        .find(|d| d["text"].as_str().unwrap_or_default().contains(&table))
        .unwrap_or_else(|| panic!("no audited read in {statements:?}"));
    assert_eq!(read["rows"], 3, "{read}");
    assert!(of_kind(&events, "session.started").len() >= 2);
    let ended = of_kind(&events, "session.ended");
    assert!(
        ended
            .iter()
            .any(|d| d["reason"] == "client closed the session"),
        "{ended:?}"
    );
}

/// A statement running when the grant is revoked ends within a second or so with an error
/// that says why, the session is closed upstream, and the next call is refused.
#[test]
fn revoking_the_grant_ends_a_running_statement_at_once() {
    let Some(server) = server() else { return };
    let gw = gateway(server, "");
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    let long = "sql:select sum(id % 7) from range(0, 10000000000000, 1, 2)";
    let mut child = driver(
        &url(&gw),
        "token",
        &format!("{}.{}", grant.login, grant.password),
        &[long, "sql:select 1"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("driver");
    let stdout = child.stdout.take().expect("stdout");
    let mut out = BufReader::new(stdout).lines();
    let opened = out.next().and_then(Result::ok).unwrap_or_default();
    assert!(opened.contains("\"open\": true"), "{opened}");
    // Let the statement reach the upstream and start running.
    std::thread::sleep(Duration::from_secs(4));
    let revoked = Instant::now();
    gw.revoke(&grant.grant_id).expect("revoke");
    // The step's answer is the driver's next line; what the driver does after it (closing its
    // connection, exiting) is not the gateway's to time.
    let answer = out.next().and_then(Result::ok).unwrap_or_default();
    let took = revoked.elapsed();
    // The next step's answer, then the driver's end.
    let rest: Vec<String> = out.map_while(Result::ok).collect();
    let _ = child.wait();
    let steps = lines(&format!("{answer}\n{}", rest.join("\n")));
    assert_eq!(steps[0]["ok"], false, "{steps:?}");
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("access grant revoked"),
        "{steps:?}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(steps[1]["ok"], false, "{steps:?}");
    assert!(
        steps[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{steps:?}"
    );
    let events = audit(&gw, |e| !of_kind(e, "session.ended").is_empty());
    let ended = of_kind(&events, "session.ended");
    assert!(
        ended
            .iter()
            .any(|d| d["reason"].as_str().unwrap_or_default().contains("revoked")),
        "{ended:?}"
    );
}

/// beeline (the Hive JDBC driver, over HTTP) with the JDBC URL `jitgate admin grant` prints:
/// the URL carries `user=token;password=LOGIN.SECRET`, and a query answers through jitgate.
#[test]
fn beeline_connects_with_the_printed_jdbc_url() {
    let Some(server) = server() else { return };
    let gw = gateway(server, "");
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    assert!(
        grant.uri.starts_with("jdbc:hive2://127.0.0.1:")
            && grant.uri.contains("transportMode=http"),
        "{}",
        grant.uri
    );
    let out = crate::env::beeline(&grant.uri, "select 40 + 2 as answer");
    assert!(out.contains("answer") && out.contains("42"), "{out}");
    let wrong = grant.uri.replace(&grant.password, "wrongsecret");
    let refused = crate::env::beeline(&wrong, "select 1");
    assert!(!refused.contains("\n1\n"), "{refused}");
    assert!(
        refused.contains("not valid") || refused.contains("failed"),
        "{refused}"
    );
}

/// A session belongs to the credential that opened it: another subject's valid credential
/// cannot make calls in it (HiveServer2 handles are the only thing that names a session over
/// HTTP, and they travel in every call).
#[test]
fn another_credential_cannot_use_a_session() {
    let Some(server) = server() else { return };
    let gw = gateway(server, "");
    let alice = gw.grant("alice", "wh", "5m").expect("grant");
    let bob = gw.grant("bob", "wh", "5m").expect("grant");
    let s = drive(
        &url(&gw),
        &alice.login,
        &alice.password,
        &[
            "sql:select 1",
            &format!("as:{}:{}", bob.login, bob.password),
            "sql:select 2",
        ],
    );
    assert_eq!(s[1]["rows"], serde_json::json!([[1]]), "{s:?}");
    assert_eq!(s[3]["ok"], false, "{s:?}");
    assert!(
        s[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("another credential"),
        "{s:?}"
    );
}

/// A client fetching a result row by row when the grant is revoked: its next fetch fails with
/// the reason, within a second or so of the revocation.
#[test]
fn revoking_the_grant_mid_fetch_ends_the_fetch() {
    let Some(server) = server() else { return };
    let gw = gateway(server, "");
    let grant = gw.grant("alice", "wh", "5m").expect("grant");
    let mut child = driver(
        &url(&gw),
        "token",
        &format!("{}.{}", grant.login, grant.password),
        &["slow:select id from range(0, 1000)"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("driver");
    let stdout = child.stdout.take().expect("stdout");
    let mut out = BufReader::new(stdout).lines();
    let opened = out.next().and_then(Result::ok).unwrap_or_default();
    assert!(opened.contains("\"open\": true"), "{opened}");
    // The statement runs, then rows come one per fetch, 0.2 s apart.
    std::thread::sleep(Duration::from_secs(6));
    let revoked = Instant::now();
    gw.revoke(&grant.grant_id).expect("revoke");
    // The step's answer is the driver's next line; what the driver does after it (closing its
    // connection, exiting) is not the gateway's to time.
    let answer = out.next().and_then(Result::ok).unwrap_or_default();
    let took = revoked.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let steps = lines(&answer);
    assert_eq!(steps[0]["ok"], false, "{steps:?}");
    assert!(
        steps[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("access grant revoked"),
        "{steps:?}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}
