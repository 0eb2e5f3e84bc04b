//! Every verb of the real CLI prints for people by default — sentences, or tables listing the
//! rows — and the server's JSON with `--json`; listings follow the API's pages or stop at
//! `--limit`; durations below a second or beyond the rule say what is wrong.

mod access_env;

use access_env::{start_without_database, NORMAL};
use serde_json::Value;

fn is_json(text: &str) -> bool {
    serde_json::from_str::<Value>(text.trim()).is_ok()
}

/// A request of alice's for `app`, approved by dana: (request id, grant id).
fn approved(env: &access_env::Env) -> (String, String) {
    let id = env.request("alice", "app", "10m")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let answer = env.json("dana", &["approve", &id]);
    assert_eq!(answer["status"], "approved", "{answer}");
    (id, answer["grant_id"].as_str().expect("a grant").to_owned())
}

#[test]
fn every_verb_speaks_to_people_by_default_and_json_with_the_flag() {
    let env = start_without_database(&NORMAL);
    env.login_all();

    // A decision, in words and in JSON.
    let id = env.request("alice", "app", "10m")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let said = env.ok("dana", &["approve", &id, "--comment", "ok"]);
    assert!(
        said.contains(&format!("request {id} approved: grant")),
        "{said}"
    );
    assert!(!is_json(&said), "{said}");
    let (_, grant) = approved(&env);
    let cancelled = env.request("alice", "app", "5m")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = env.json("alice", &["cancel", &cancelled]);
    assert_eq!(answer["status"], "cancelled", "{answer}");

    // A credential whose grant is then revoked: an expired token to list and prune.
    env.ok("alice", &["connect", "app", "--uri"]);
    let said = env.ok("dana", &["revoke", &grant]);
    assert!(
        said.contains(&format!("grant {grant} of alice on app is revoked")),
        "{said}"
    );
    let listed = env.ok("alice", &["tokens", "list", "--expired"]);
    let expired = env.json("alice", &["tokens", "list", "--expired"]);
    let login = expired[0]["login"]
        .as_str()
        .expect("the expired credential");
    assert!(
        listed.contains("LOGIN") && listed.contains(login),
        "the expired tokens are listed, not counted:\n{listed}"
    );
    let said = env.ok("alice", &["tokens", "prune"]);
    assert_eq!(said.trim(), "pruned 1 expired token(s)");
    let answer = env.json("alice", &["tokens", "prune"]);
    assert_eq!(answer["pruned"], 0, "{answer}");

    // Deleting, killing and verifying answer in JSON too.
    env.ok("alice", &["connect", "app", "--uri"]);
    let live = env.json("alice", &["tokens", "list"]);
    let credential = live[0]["id"].as_str().expect("a live credential");
    let answer = env.json("alice", &["tokens", "delete", credential]);
    assert_eq!(answer["deleted"], credential, "{answer}");
    let said = env.ok("erin", &["audit", "verify"]);
    assert!(said.starts_with("audit trail intact:"), "{said}");
    let answer = env.json("erin", &["audit", "verify"]);
    assert_eq!(answer["ok"], true, "{answer}");
    let said = env.ok("alice", &["sessions"]);
    assert_eq!(said.trim(), "no sessions");
}

#[test]
fn login_says_who_in_words_or_json_without_the_token() {
    let env = start_without_database(&NORMAL);
    let alice = env.gateway.user("alice");
    let pw = format!("{}\n", access_env::password("alice"));
    let args = ["login", "alice", "--password-stdin"];
    let out = alice.run_with_stdin(&args, &pw).expect("running login");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with("logged in to "),
        "{said}"
    );
    let args = ["login", "alice", "--password-stdin", "--json"];
    let out = alice.run_with_stdin(&args, &pw).expect("running login");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answer["subject"], "alice", "{answer}");
    assert!(
        answer.get("token").is_none(),
        "the token stays in the cache: {answer}"
    );
}

#[test]
fn listings_follow_pages_or_stop_at_the_limit() {
    let env = start_without_database(&NORMAL);
    env.login_all();
    for _ in 0..3 {
        approved(&env);
    }
    let all = env.json("alice", &["grants"]);
    assert_eq!(all.as_array().map(Vec::len), Some(3), "{all}");
    let newest = env.json("alice", &["grants", "--limit", "2"]);
    assert_eq!(newest.as_array().map(Vec::len), Some(2), "{newest}");
    assert_eq!(newest[0]["id"], all[0]["id"]);
    let table = env.ok("alice", &["requests", "--limit", "1"]);
    assert_eq!(table.lines().count(), 2, "a header and one row:\n{table}");
    let refused = env.cli("alice", &["grants", "--limit", "0"]);
    assert!(!refused.ok, "{}", refused.stdout);
}

#[test]
fn durations_say_what_is_wrong() {
    let env = start_without_database(&NORMAL);
    env.login_all();
    let short = env.cli(
        "alice",
        &["request", "app", "--duration", "500ms", "--reason", "x"],
    );
    assert!(!short.ok);
    assert!(
        short.stderr.contains("the shortest is 1s"),
        "{}",
        short.stderr
    );
    let long = env.cli(
        "alice",
        &["request", "app", "--duration", "999999h", "--reason", "x"],
    );
    assert!(!long.ok);
    assert!(
        long.stderr.contains("(duration_too_long)"),
        "{}",
        long.stderr
    );
}
