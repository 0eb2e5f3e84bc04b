//! A gateway killed mid-session (SIGKILL: no chance to clean up) settles what it left behind at
//! its next start: every session it cut ends in the audit trail, and the statements those
//! sessions were running upstream are cancelled rather than left to run for nobody.

mod access_env;

use access_env::{eventually, start, Env};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a check may wait for the gateway or PostgreSQL to get there.
const PATIENCE: Duration = Duration::from_secs(30);

/// A credential of alice for `app`, through the request and approval flow.
fn credential(env: &Env) -> String {
    env.login_all();
    let id = env.request("alice", "app", "30m")["id"]
        .as_str()
        .expect("request id")
        .to_owned();
    env.ok("dana", &["approve", &id]);
    env.connect_uri("alice", "app")
}

/// The audit trail as the API gives it (`jitgate audit --json`).
fn audit(env: &Env) -> Vec<Value> {
    env.ok("erin", &["audit", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn events_of<'a>(events: &'a [Value], kind: &str, session: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["session_id"] == session)
        .collect()
}

/// Starts psql through the gateway running `sql`, left to run in the background.
fn psql_running(uri: &str, sql: &str) -> Child {
    Command::new("psql")
        .arg(uri)
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting psql")
}

/// The id of the one session the trail shows started, once it does.
fn started_session(env: &Env) -> String {
    let mut id = None;
    assert!(
        eventually(PATIENCE, || {
            id = audit(env)
                .iter()
                .find(|e| e["kind"] == "session.started")
                .and_then(|e| e["session_id"].as_str().map(str::to_owned));
            id.is_some()
        }),
        "no session started:\n{}",
        env.gateway.log()
    );
    id.expect("session id")
}

/// SIGKILL: the process gets no chance to end its sessions, flush or say goodbye.
fn kill_gateway(env: &Env) {
    let pid = env.gateway.pid().expect("the gateway runs");
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(killed.success());
}

fn running_upstream(env: &Env, marker: &str) -> usize {
    let cluster = env.cluster.as_ref().expect("cluster");
    let sql = format!(
        "select count(*) from pg_stat_activity where state = 'active' and query like '%{marker}%' \
         and pid <> pg_backend_pid()"
    );
    cluster
        .psql("app", &sql)
        .expect("asking the upstream")
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn a_session_cut_by_a_crash_ends_in_the_audit_trail_at_the_next_start() {
    let mut env = start();
    let uri = credential(&env);
    let mut client = psql_running(&uri, "select pg_sleep(120) -- crash-ended");
    let session = started_session(&env);

    kill_gateway(&env);
    let _ = client.wait();
    env.gateway.restart().expect("restarting the gateway");

    let mut events = Vec::new();
    assert!(
        eventually(PATIENCE, || {
            events = audit(&env);
            !events_of(&events, "session.ended", &session).is_empty()
        }),
        "no session.ended for {session} after the restart:\n{}",
        env.gateway.log()
    );
    let ended = events_of(&events, "session.ended", &session);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["detail"]["reason"], "gateway restarted");
    assert_eq!(ended[0]["subject"], "alice");
    // The session's row says the same, and the chain is whole across the crash.
    let sessions = env.json("erin", &["sessions"]);
    let row = sessions
        .as_array()
        .and_then(|s| s.iter().find(|r| r["id"] == session.as_str()))
        .unwrap_or_else(|| panic!("no session {session} in {sessions}"));
    assert!(!row["ended_at"].is_null(), "{row}");
    env.ok("erin", &["audit", "verify"]);
}

#[test]
fn a_statement_left_running_by_a_crash_is_cancelled_upstream_at_the_next_start() {
    let mut env = start();
    let uri = credential(&env);
    let mut client = psql_running(&uri, "select pg_sleep(120) -- crash-orphan");
    let session = started_session(&env);
    assert!(
        eventually(PATIENCE, || running_upstream(&env, "crash-orphan") == 1),
        "the statement never ran upstream"
    );

    kill_gateway(&env);
    let _ = client.wait();
    // Nobody is left to end it: the upstream keeps sleeping for a client that is gone.
    assert_eq!(running_upstream(&env, "crash-orphan"), 1);

    env.gateway.restart().expect("restarting the gateway");
    assert!(
        eventually(PATIENCE, || running_upstream(&env, "crash-orphan") == 0),
        "the orphaned statement still runs upstream after the restart:\n{}",
        env.gateway.log()
    );
    let mut events = Vec::new();
    assert!(
        eventually(PATIENCE, || {
            events = audit(&env);
            !events_of(&events, "upstream.cancelled", &session).is_empty()
        }),
        "no upstream.cancelled for {session}"
    );
    let cancelled = events_of(&events, "upstream.cancelled", &session);
    assert_eq!(cancelled[0]["detail"]["sent"], true, "{:?}", cancelled[0]);
    // The cancel key is a credential to the upstream backend: it stays out of the trail.
    let text = serde_json::to_string(&events).expect("json");
    assert!(!text.contains("secret_key"), "{text}");
}
