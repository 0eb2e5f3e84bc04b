//! Native provisioning end to end: the real `jitgate` binary (`serve` and the `databricks`
//! verbs) against the Databricks workspace emulator of the test kit.

use std::time::{Duration, Instant};

use jitgate_control::audit::{kind, ChainedEvent};
use jitgate_control::store::{SqliteStore, Store};
use jitgate_testkit::databricks::now_millis;
use jitgate_testkit::{free_port, DatabricksEmulator, EmulatedColumn, Gateway};

const TOKEN: &str = "dapi-e2e-token";
const GROUP: &str = "jit-sales";
const TABLE: &str = "main.sales.orders";
const SP: &str = "6f5ccf28-d83a-4957-9bfb-5bbfac551410";

struct Env {
    gateway: Gateway,
    emu: DatabricksEmulator,
    alice: String,
}

fn start() -> Env {
    start_with("", &[])
}

/// Like [`start`], with `users` (name, group), each logging in with the password
/// `{name}-secret-pw`; members of `analysts` may request `dbx` for up to an hour, members of
/// `dba` approve.
fn start_with_requests(users: &[(&str, &str)]) -> Env {
    let mut sections = String::new();
    let mut env = Vec::new();
    for (name, group) in users {
        let var = format!("{}_PW", name.to_uppercase());
        sections.push_str(&format!(
            "[users.{name}]\npassword_env = \"{var}\"\ngroups = [\"{group}\"]\n\n"
        ));
        env.push((var, format!("{name}-secret-pw")));
    }
    sections.push_str(
        r#"[roles]
approver = ["dba"]

[[access]]
resources = ["dbx"]
requesters = ["group:analysts"]
max_duration = "1h"
"#,
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    start_with(&sections, &env)
}

/// Like [`start`], with extra sections (users, roles, access rules) and environment.
fn start_with(sections: &str, env: &[(&str, &str)]) -> Env {
    let emu = DatabricksEmulator::start(TOKEN, "wh01").expect("emulator");
    let alice = emu.add_user("alice@example.com");
    emu.add_group(GROUP);
    emu.add_securable("table", TABLE);
    emu.add_service_principal(SP);
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"

[resources.dbx]
kind = "spark-connect"
listen = "127.0.0.1:{listen}"

[resources.dbx.databricks]
workspace_host = "dbx.example.invalid"
cluster_id = "0123-456789-abcdefgh"
token_env = "DATABRICKS_TOKEN"
api_url = "{url}"
warehouse_id = "wh01"
catalog = "main"
reconcile_interval = "2s"
token_max_lifetime = "90d"
identities = {{ alice = "alice@example.com" }}

[[resources.dbx.databricks.provision]]
group = "{GROUP}"
privileges = [{{ securable = "table", name = "{TABLE}", privileges = ["SELECT"] }}]
token_for = "{SP}"

[masking]
clear_groups = ["dba"]

[[masking.rules]]
resource = "dbx"
column = "sales.customers.email"
mask = "email"
clear_for = ["group:support"]

[[masking.rules]]
resource = "dbx"
column = "sales.customers.ssn"
mask = "partial"
keep_last = 4

{sections}
"#,
        listen = free_port(),
        url = emu.url(),
    );
    let mut vars = vec![("DATABRICKS_TOKEN", TOKEN)];
    vars.extend_from_slice(env);
    let gateway = Gateway::start_with_env(env!("CARGO_BIN_EXE_jitgate").as_ref(), &config, &vars)
        .expect("starting jitgate");
    Env {
        gateway,
        emu,
        alice,
    }
}

impl Env {
    fn alice_has(&self) -> (bool, bool) {
        (
            self.emu.members(GROUP).contains(&self.alice),
            self.emu
                .privileges("table", TABLE, "alice@example.com")
                .contains("SELECT"),
        )
    }

    /// Waits (generously, the machine is shared) until alice's access is `want`.
    fn wait_for(&self, want: (bool, bool)) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.alice_has() != want {
            assert!(
                Instant::now() < deadline,
                "alice's access stayed {:?}, wanted {want:?}; log:\n{}",
                self.alice_has(),
                self.gateway.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.gateway.run(args).expect("running jitgate");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn audit(&self) -> Vec<ChainedEvent> {
        let store = SqliteStore::open(&self.gateway.dir().join("jitgate.sqlite")).expect("store");
        store.audit_after(0, 100_000).expect("audit")
    }

    /// The audit events of `kind`, waiting (the gateway writes them asynchronously) until
    /// there are at least `n`.
    fn audited(&self, kind: &str, n: usize) -> Vec<ChainedEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events: Vec<_> = self
                .audit()
                .into_iter()
                .filter(|e| e.event.kind == kind)
                .collect();
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_grant_is_carried_out_in_the_workspace_and_undone_on_revocation_and_expiry() {
    let env = start();
    let grant = env.gateway.grant("alice", "dbx", "1h").expect("grant");
    env.wait_for((true, true));
    env.gateway.revoke(&grant.grant_id).expect("revoke");
    env.wait_for((false, false));

    // Drift: a membership removed by hand comes back while the grant lives.
    env.gateway
        .grant("alice", "dbx", "6s")
        .expect("short grant");
    env.wait_for((true, true));
    env.emu.set_member(GROUP, &env.alice, false);
    env.wait_for((true, true));
    // And all of it goes when the grant expires.
    env.wait_for((false, false));
    let changed = env.audited(kind::DATABRICKS_CHANGED, 9);
    assert_eq!(changed.len(), 9, "4 + 4 changes and a repair, each audited");
    assert!(changed
        .iter()
        .all(|e| e.event.detail_value()["answer"]["status"].is_u64()));
    // The workspace token is a credential: never in the audit trail or the log.
    assert!(env
        .audit()
        .iter()
        .all(|e| !e.event.detail.get().contains(TOKEN)));
    assert!(!env.gateway.log().contains(TOKEN));
}

#[test]
fn a_restart_resumes_a_change_and_undoes_what_outlived_its_grant() {
    let mut env = start();
    let grant = env.gateway.grant("alice", "dbx", "1h").expect("grant");
    env.wait_for((true, true));
    env.gateway.stop().expect("stop");
    // While jitgate is down the grant is revoked (an offline admin command).
    env.gateway.revoke(&grant.grant_id).expect("revoke");
    assert_eq!(env.alice_has(), (true, true));
    env.gateway.restart().expect("restart");
    env.wait_for((false, false));
}

#[test]
fn dry_run_prints_the_changes_and_makes_none() {
    let mut env = start();
    env.gateway.stop().expect("stop");
    env.gateway.grant("alice", "dbx", "1h").expect("grant");
    let (ok, out) = env.run(&["databricks", "reconcile", "--dry-run"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "dbx: would add member {} of group {GROUP}",
            env.alice
        )),
        "{out}"
    );
    assert!(
        out.contains("dbx: would add SELECT on table main.sales.orders for alice@example.com"),
        "{out}"
    );
    assert_eq!(env.alice_has(), (false, false));
    let (ok, out) = env.run(&["databricks", "reconcile"]);
    assert!(ok, "{out}");
    assert_eq!(env.alice_has(), (true, true));
}

#[test]
fn tokens_are_listed_and_pruned_by_expiry_and_maximum_lifetime_audited() {
    let mut env = start();
    env.gateway.stop().expect("stop");
    let day = 86_400_000;
    let now = now_millis();
    let expired = env
        .emu
        .add_token("ci", now - 2 * day, now - day, "ci@example.com");
    let ancient = env
        .emu
        .add_token("old laptop", now - 200 * day, -1, "bob@example.com");
    let fresh = env
        .emu
        .add_token("today", now - day, now + day, "alice@example.com");
    let (ok, out) = env.run(&[
        "databricks",
        "tokens",
        "list",
        "--resource",
        "dbx",
        "--expired",
    ]);
    assert!(
        ok && out.contains(&expired) && !out.contains(&fresh),
        "{out}"
    );
    let (ok, out) = env.run(&[
        "databricks",
        "tokens",
        "list",
        "--resource",
        "dbx",
        "--older-than",
        "100days",
        "--json",
    ]);
    assert!(
        ok && out.contains(&ancient) && !out.contains(&expired),
        "{out}"
    );
    let (ok, out) = env.run(&["databricks", "tokens", "prune", "--resource", "dbx"]);
    assert!(ok, "{out}");
    assert_eq!(env.emu.token_ids(), std::slice::from_ref(&fresh));
    let (ok, out) = env.run(&[
        "databricks",
        "tokens",
        "delete",
        "--resource",
        "dbx",
        &fresh,
    ]);
    assert!(ok, "{out}");
    assert!(env.emu.token_ids().is_empty());
    let (ok, out) = env.run(&[
        "databricks",
        "tokens",
        "delete",
        "--resource",
        "dbx",
        &fresh,
    ]);
    assert!(!ok && out.contains("RESOURCE_DOES_NOT_EXIST"), "{out}");
    let audit = env.audit();
    let deleted: Vec<_> = audit
        .iter()
        .filter(|e| e.event.kind == kind::DATABRICKS_CHANGED)
        .map(|e| e.event.detail_value())
        .collect();
    assert_eq!(deleted.len(), 3, "{deleted:#?}");
    assert_eq!(deleted[0]["why"], "expired");
    assert!(audit
        .iter()
        .any(|e| e.event.kind == kind::DATABRICKS_FAILED));
}

#[test]
fn masks_plan_prints_the_sql_apply_runs_it_and_a_second_plan_is_empty() {
    let mut env = start();
    env.gateway.stop().expect("stop");
    for (column, ty) in [("id", "bigint"), ("email", "string"), ("ssn", "string")] {
        env.emu.add_column(EmulatedColumn {
            catalog: "main".into(),
            schema: "sales".into(),
            table: "customers".into(),
            column: column.into(),
            data_type: ty.into(),
        });
    }
    let (ok, plan) = env.run(&["databricks", "masks", "plan", "--resource", "dbx"]);
    assert!(ok, "{plan}");
    assert!(
        plan.contains("CREATE OR REPLACE FUNCTION `main`.`sales`.`jitgate_mask_customers_email_"),
        "{plan}"
    );
    assert!(
        plan.contains("is_account_group_member('dba') OR is_account_group_member('support')"),
        "{plan}"
    );
    assert!(
        plan.contains("ALTER TABLE `main`.`sales`.`customers` ALTER COLUMN `ssn` SET MASK"),
        "{plan}"
    );
    assert!(env.emu.column_masks().is_empty(), "plan changes nothing");
    let (ok, out) = env.run(&["databricks", "masks", "apply", "--resource", "dbx"]);
    assert!(ok, "{out}");
    let masks = env.emu.column_masks();
    assert_eq!(masks.len(), 2, "{masks:?}");
    assert!(
        masks["main.sales.customers.email"].starts_with("main.sales.jitgate_mask_customers_email_")
    );
    let (ok, again) = env.run(&["databricks", "masks", "plan", "--resource", "dbx"]);
    assert!(ok && again.contains("match the policy"), "{again}");
}

#[test]
fn an_approved_request_is_carried_out_in_the_workspace() {
    let env = start_with_requests(&[("alice", "analysts"), ("dana", "dba")]);
    let alice = env.gateway.user("alice");
    alice.login("alice-secret-pw").expect("alice logs in");
    let request = alice
        .json(&["request", "dbx", "--duration", "30m", "--reason", "INC-1"])
        .expect("request");
    let id = request["id"].as_str().expect("request id").to_string();
    // Nothing in the workspace before approval.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.alice_has(), (false, false));
    let dana = env.gateway.user("dana");
    dana.login("dana-secret-pw").expect("dana logs in");
    dana.ok(&["approve", &id]).expect("approve");
    env.wait_for((true, true));
    let grants = alice.json(&["grants", "--active"]).expect("grants");
    let grant = grants[0]["id"].as_str().expect("grant id").to_string();
    dana.ok(&["revoke", &grant]).expect("revoke");
    env.wait_for((false, false));
}

#[test]
fn stopping_jitgate_does_not_wait_for_a_pass_held_up_by_retry_after() {
    let mut env = start();
    env.emu.fail(jitgate_testkit::Fault {
        method: "GET".into(),
        path_contains: "/Groups".into(),
        status: 429,
        retry_after: Some(60),
        after_applying: false,
        times: 100,
    });
    env.gateway.grant("alice", "dbx", "1h").expect("grant");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.emu.seen().iter().any(|s| s.status == 429) {
        assert!(Instant::now() < deadline, "no pass reached the workspace");
        std::thread::sleep(Duration::from_millis(100));
    }
    // `stop` kills the process and fails if SIGTERM is not enough within its grace time.
    let status = env.gateway.stop().expect("jitgate exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn requests_are_refused_up_front_without_a_workspace_user_or_workspace_and_holders_get_tokens() {
    let env = start_with_requests(&[
        ("alice", "analysts"),
        ("carol", "analysts"),
        ("dana", "dba"),
    ]);
    // carol has no user in the workspace: her request is refused, nothing is pending.
    let carol = env.gateway.user("carol");
    carol.login("carol-secret-pw").expect("carol logs in");
    let out = carol
        .run(&["request", "dbx", "--duration", "30m", "--reason", "INC-2"])
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("(no_platform_identity)"), "{err}");
    assert!(err.contains("carol"), "{err}");
    let pending = carol.json(&["requests"]).expect("requests");
    assert_eq!(pending.as_array().map(Vec::len), Some(0), "{pending}");

    let alice = env.gateway.user("alice");
    alice.login("alice-secret-pw").expect("alice logs in");
    let request = alice
        .json(&["request", "dbx", "--duration", "30m", "--reason", "INC-1"])
        .expect("request");
    let id = request["id"].as_str().expect("request id").to_string();
    // The workspace cannot be asked when the approval would create the grant: refused, and
    // the request stays pending.
    env.emu.fail(jitgate_testkit::Fault {
        method: "GET".into(),
        path_contains: "/Users".into(),
        status: 503,
        retry_after: None,
        after_applying: false,
        times: 1,
    });
    let dana = env.gateway.user("dana");
    dana.login("dana-secret-pw").expect("dana logs in");
    let out = dana.run(&["approve", &id]).expect("run");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && err.contains("(unavailable)"),
        "{err}"
    );
    dana.ok(&["approve", &id])
        .expect("approve once the workspace answers");
    env.wait_for((true, true));

    // alice has a token of the service principal minted for her grant, shown once.
    let grants = alice.json(&["grants", "--active"]).expect("grants");
    let grant = grants[0]["id"].as_str().expect("grant id").to_string();
    let token = alice
        .json(&["platform-token", &grant])
        .expect("platform token");
    let token_id = token["token_id"].as_str().expect("token id").to_string();
    let (owner, comment, _, value) = env.emu.obo_token(&token_id).expect("minted");
    assert_eq!(owner, SP);
    assert_eq!(token["token"], value.as_str());
    assert!(comment.contains(&grant), "{comment}");
    // Nobody else gets one for her grant.
    let out = dana.run(&["platform-token", &grant]).expect("run");
    assert!(!out.status.success());
    // It goes with the grant.
    dana.ok(&["revoke", &grant]).expect("revoke");
    env.wait_for((false, false));
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.emu.obo_token(&token_id).is_some() {
        assert!(Instant::now() < deadline, "token outlived its grant");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(env
        .audit()
        .iter()
        .all(|e| !e.event.detail.get().contains(&value)));
    assert!(!env.gateway.log().contains(&value));
}
