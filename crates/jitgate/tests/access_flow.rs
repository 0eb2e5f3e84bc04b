//! The whole access flow through the CLI, against a real gateway and a real PostgreSQL:
//! log in, request, approve, connect, query; and what must be refused or enforced on the way.

mod access_env;

use access_env::{eventually, find, start};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn login_request_approval_connect_and_query() {
    let env = start();
    env.login_all();
    let cache = env
        .gateway
        .user("alice")
        .config_home()
        .join("jitgate/token.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cache).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the token cache must be private");

    let request = env.request("alice", "app", "30m");
    assert_eq!(request["status"], "pending", "{request}");
    assert_eq!(request["duration_seconds"], 1800);
    let id = request["id"].as_str().unwrap();

    // Nothing to connect with before approval.
    let early = env.cli("alice", &["connect", "app", "--uri"]);
    assert!(
        !early.ok && early.stderr.contains("(no_active_grant)"),
        "{}",
        early.stderr
    );

    // The approver sees it waiting, in a table and in JSON.
    let table = env.ok("dana", &["requests", "--pending"]);
    assert!(table.contains(id) && table.contains("alice"), "{table}");
    let pending = env.json("dana", &["requests", "--pending"]);
    assert!(find(&pending, id).is_some(), "{pending}");

    let said = env.ok("dana", &["approve", id, "--comment", "looks fine"]);
    assert!(said.contains("approved"), "{said}");
    let grants = env.json("alice", &["grants", "--active"]);
    let grant = &grants[0];
    assert_eq!(grant["subject"], "alice");
    assert_eq!(grant["resource"], "app");
    assert_eq!(grant["status"], "active");
    assert_eq!(grant["granted_by"], "dana");

    let uri = env.connect_uri("alice", "app");
    assert!(uri.starts_with("postgresql://alice-"), "{uri}");
    let (ok, stdout, stderr) = env.psql(&uri, "select 6 * 7");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "42");

    // Without --uri, connect becomes psql itself (here reading SQL from standard input).
    let out = env
        .gateway
        .user("alice")
        .run_with_stdin(&["connect", "app"], "select 'via psql' as how;\n")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("via psql"),
        "{stdout}"
    );

    // Both connects minted a credential; the listing shows them, the session list the sessions.
    let tokens = env.json("alice", &["tokens", "list"]);
    assert_eq!(tokens.as_array().map(Vec::len), Some(2), "{tokens}");
    let sessions = env.json("dana", &["sessions"]);
    assert!(
        sessions.as_array().is_some_and(|s| s.len() >= 2),
        "{sessions}"
    );

    // Deleting a credential closes it for new sessions; the grant and other credentials stay.
    let login = uri
        .trim_start_matches("postgresql://")
        .split(':')
        .next()
        .unwrap();
    let first = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["login"] == login)
        .expect("the first credential is listed");
    let said = env.ok(
        "alice",
        &["tokens", "delete", first["id"].as_str().unwrap()],
    );
    assert!(said.contains("deleted"), "{said}");
    let (ok, _, _) = env.psql(&uri, "select 1");
    assert!(!ok, "a deleted credential still opens sessions");
    assert_eq!(
        env.json("alice", &["tokens", "list"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let (ok, _, stderr) = env.psql(&env.connect_uri("alice", "app"), "select 1");
    assert!(ok, "{stderr}");
}

#[test]
fn nobody_approves_their_own_request() {
    let env = start();
    env.login_all();
    let request = env.request("dana", "app", "10m");
    let id = request["id"].as_str().unwrap();
    let said = env.cli("dana", &["approve", id]);
    assert!(!said.ok);
    assert!(
        said.stderr.starts_with("jitgate: ") && said.stderr.contains("(self_approval)"),
        "{}",
        said.stderr
    );
    let mine = env.json("dana", &["requests"]);
    assert_eq!(find(&mine, id).unwrap()["status"], "pending");
    assert!(env.json("dana", &["grants"]).as_array().unwrap().is_empty());
    // She may withdraw it, though; nobody else may.
    let said = env.cli("alice", &["cancel", id]);
    assert!(!said.ok, "alice cancelled dana's request");
    let said = env.ok("dana", &["cancel", id]);
    assert!(said.contains("cancelled"), "{said}");
    let mine = env.json("dana", &["requests"]);
    assert_eq!(find(&mine, id).unwrap()["status"], "cancelled");

    // A requester is no approver either.
    let request = env.request("alice", "app", "10m");
    let said = env.cli("alice", &["approve", request["id"].as_str().unwrap()]);
    assert!(
        !said.ok && said.stderr.contains("(self_approval)"),
        "{}",
        said.stderr
    );
}

#[test]
fn a_two_approver_rule_needs_two_distinct_approvers() {
    let env = start();
    env.login_all();
    let request = env.request("alice", "vault", "15m");
    assert_eq!(request["approvals_required"], 2);
    let id = request["id"].as_str().unwrap();

    let said = env.ok("dana", &["approve", id]);
    assert!(said.contains("still needs 1 more"), "{said}");
    let again = env.cli("dana", &["approve", id]);
    assert!(
        !again.ok && again.stderr.contains("(already_voted)"),
        "{}",
        again.stderr
    );
    let early = env.cli("alice", &["connect", "vault", "--uri"]);
    assert!(
        !early.ok && early.stderr.contains("(no_active_grant)"),
        "{}",
        early.stderr
    );

    env.ok("dave", &["approve", id, "--comment", "second pair of eyes"]);
    let request = find(&env.json("alice", &["requests"]), id)
        .cloned()
        .unwrap();
    assert_eq!(request["status"], "approved", "{request}");
    let approvers: Vec<&str> = request["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["dana", "dave"]);

    let uri = env.connect_uri("alice", "vault");
    let (ok, stdout, stderr) = env.psql(&uri, "select 'vault open'");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "vault open");

    // An approver ends a live session of it; its holder may not.
    let mut psql = Command::new("psql")
        .arg(&uri)
        .args(["-X", "-c", "select pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting psql");
    let mut session = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            session = env.json("dana", &["sessions"]).as_array().and_then(|all| {
                all.iter()
                    .find(|s| s["resource"] == "vault" && s["ended_at"].is_null())
                    .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
            });
            session.is_some()
        }),
        "the psql session never showed up"
    );
    let session = session.unwrap();
    let said = env.cli("alice", &["sessions", "kill", &session]);
    assert!(
        !said.ok && said.stderr.contains("(forbidden)"),
        "{}",
        said.stderr
    );
    env.ok("dana", &["sessions", "kill", &session]);
    assert!(
        eventually(Duration::from_secs(2), || matches!(
            psql.try_wait(),
            Ok(Some(_))
        )),
        "psql still running after its session was killed"
    );
    let out = psql.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The PostgreSQL front tells the client an administrator ended it.
    assert!(
        !out.status.success() && stderr.contains("ended by"),
        "{stderr}"
    );

    // A late vote on a decided request is refused and changes nothing.
    let late = env.cli("erin", &["deny", id, "--comment", "too late"]);
    assert!(
        !late.ok && late.stderr.contains("(already_decided)"),
        "{}",
        late.stderr
    );
}

#[test]
fn revoking_through_the_api_cuts_a_live_psql_session_within_a_second() {
    let env = start();
    env.login_all();
    let id = env.request("alice", "app", "30m")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok("dana", &["approve", &id]);
    let uri = env.connect_uri("alice", "app");
    let grant_id = env.json("alice", &["grants", "--active"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut psql = Command::new("psql")
        .arg(&uri)
        .args(["-X", "-c", "select pg_sleep(60)"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting psql");
    // Revoke only once the session is running.
    assert!(
        eventually(Duration::from_secs(10), || {
            env.json("dana", &["sessions"]).as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["grant_id"] == grant_id.as_str() && s["ended_at"].is_null())
            })
        }),
        "the psql session never showed up"
    );
    std::thread::sleep(Duration::from_millis(200));

    let said = env.ok("dana", &["revoke", &grant_id]);
    assert!(said.contains("revoked"), "{said}");
    let revoked = Instant::now();
    let ended = eventually(Duration::from_secs(5), || {
        matches!(psql.try_wait(), Ok(Some(_)))
    });
    let took = revoked.elapsed();
    assert!(ended, "psql still running 5 s after the revocation");
    assert!(
        took < Duration::from_secs(1),
        "psql ended {took:?} after the revocation"
    );
    let out = psql.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("access grant revoked"), "{stderr}");

    let grant = find(&env.json("alice", &["grants"]), &grant_id)
        .cloned()
        .unwrap();
    assert_eq!(grant["status"], "revoked");
    assert_eq!(grant["revoked_by"], "dana");
    // A new credential is refused too.
    let again = env.cli("alice", &["connect", "app", "--uri"]);
    assert!(
        !again.ok && again.stderr.contains("(no_active_grant)"),
        "{}",
        again.stderr
    );

    // The revoked grant's credential is now dead weight, and pruning clears it.
    let dead = env.json("alice", &["tokens", "list", "--expired"]);
    assert_eq!(dead.as_array().map(Vec::len), Some(1), "{dead}");
    let said = env.ok("alice", &["tokens", "prune"]);
    assert!(said.contains("pruned 1"), "{said}");
    assert!(env
        .json("alice", &["tokens", "list"])
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn a_restart_keeps_revocations_and_ends_what_expired_meanwhile() {
    let mut env = start();
    env.login_all();
    // One grant revoked before the restart, one that expires while jitgate is down.
    let first = env.request("alice", "app", "30m")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok("dana", &["approve", &first]);
    let revoked_uri = env.connect_uri("alice", "app");
    let revoked_grant = env.json("alice", &["grants", "--active"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok("erin", &["revoke", &revoked_grant]);

    let second = env.request("alice", "app", "2s")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok("dana", &["approve", &second]);
    let short_uri = env.connect_uri("alice", "app");
    let short_grant = env.json("alice", &["grants", "--active"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    env.gateway.stop().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    env.gateway.restart().unwrap();

    // Logins survive the restart (tokens are in the store); the grants' ends do too.
    let grants = env.json("alice", &["grants"]);
    assert_eq!(find(&grants, &revoked_grant).unwrap()["status"], "revoked");
    assert_eq!(find(&grants, &short_grant).unwrap()["status"], "expired");
    assert!(env
        .json("alice", &["grants", "--active"])
        .as_array()
        .unwrap()
        .is_empty());
    for uri in [&revoked_uri, &short_uri] {
        let (ok, _, stderr) = env.psql(uri, "select 1");
        assert!(
            !ok,
            "an ended grant's credential still works after a restart"
        );
        assert!(stderr.contains("access grant"), "{stderr}");
    }
    // The expiry is in the trail, and the trail is whole across the restart.
    let audit = env.ok("erin", &["audit", "--json"]);
    let expired = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|e| e["kind"] == "grant.expired" && e["grant_id"] == short_grant.as_str());
    assert!(
        expired,
        "no grant.expired event for {short_grant}:\n{audit}"
    );
    env.ok("erin", &["audit", "verify"]);
}

#[test]
fn a_tampered_audit_trail_is_detected_and_the_event_named() {
    let env = start();
    env.login_all();
    let id = env.request("alice", "app", "30m")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok("dana", &["approve", &id]);

    // A follower sees new events as they happen.
    let mut follower = env
        .gateway
        .user("erin")
        .spawn(&["audit", "--follow", "--json"])
        .unwrap();
    let lines = std::io::BufReader::new(follower.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(lines).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let later = env.request("alice", "app", "5m")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            seen = event["kind"] == "request.created"
                && event["detail"]["request_id"] == later.as_str();
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(seen, "the follower never printed the new request");

    let said = env.ok("erin", &["audit", "verify"]);
    assert!(said.contains("intact"), "{said}");

    // Someone with access to the store file rewrites history: the approver's name.
    let seq: i64 = {
        let db = rusqlite::Connection::open(env.store_path()).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        let seq = db
            .query_row(
                "SELECT seq FROM audit WHERE kind = 'approval.added' ORDER BY seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let changed = db
            .execute(
                "UPDATE audit SET detail = replace(detail, 'dana', 'mallory') WHERE seq = ?1",
                [seq],
            )
            .unwrap();
        assert_eq!(changed, 1);
        seq
    };

    let said = env.cli("erin", &["audit", "verify"]);
    assert!(
        !said.ok,
        "a tampered trail passed verification: {}",
        said.stdout
    );
    assert!(
        said.stderr.contains(&format!("event {seq}"))
            && said.stderr.contains("(audit_chain_broken)"),
        "{}",
        said.stderr
    );
    // Only admins may even ask.
    let said = env.cli("alice", &["audit", "verify"]);
    assert!(
        !said.ok && said.stderr.contains("(forbidden)"),
        "{}",
        said.stderr
    );
}
