//! A gateway with local users, roles and access rules, driven through its HTTP API and CLI.
//!
//! Users: alice (analysts), dana and dave (dba: approvers), erin (admins). Resources: `app`
//! needs one approval from dba; `vault` needs two. Passwords come from the environment, as an
//! operator would give them (`password_env`).
#![allow(dead_code)]

use jitgate_testkit::{free_port, AuthMethod, ClusterOptions, Gateway, PgCluster};
use serde_json::Value;
use std::time::{Duration, Instant};

pub const SERVICE_USER: &str = "svc";
pub const SERVICE_PASSWORD: &str = "svc-password-1";
pub const USERS: [&str; 4] = ["alice", "dana", "dave", "erin"];

pub fn password(user: &str) -> String {
    format!("{user}-secret-pw")
}

/// Lifetimes of what the API hands out; short ones for expiry tests.
pub struct Lifetimes {
    pub token_ttl: &'static str,
    pub pending_ttl: &'static str,
}

pub const NORMAL: Lifetimes = Lifetimes {
    token_ttl: "1h",
    pending_ttl: "10m",
};

pub struct Env {
    // Field order: the gateway stops before the cluster it relays to.
    pub gateway: Gateway,
    pub cluster: Option<PgCluster>,
}

/// A gateway in front of a real PostgreSQL cluster.
pub fn start() -> Env {
    let cluster = PgCluster::start(ClusterOptions {
        auth: AuthMethod::ScramSha256,
        service_user: Some((SERVICE_USER.into(), SERVICE_PASSWORD.into())),
        ..ClusterOptions::default()
    })
    .expect("starting PostgreSQL");
    let port = cluster.port();
    Env {
        gateway: start_gateway(port, &NORMAL),
        cluster: Some(cluster),
    }
}

/// A gateway whose upstream is never reached: enough for everything but connecting.
pub fn start_without_database(lifetimes: &Lifetimes) -> Env {
    Env {
        gateway: start_gateway(free_port(), lifetimes),
        cluster: None,
    }
}

fn start_gateway(pg_port: u16, lifetimes: &Lifetimes) -> Gateway {
    let users: String = USERS
        .iter()
        .zip(["analysts", "dba", "dba", "admins"])
        .map(|(user, group)| {
            format!(
                "[users.{user}]\npassword_env = \"{}\"\ngroups = [\"{group}\"]\n\n",
                env_name(user)
            )
        })
        .collect();
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"

[api]
listen = "127.0.0.1:{api}"
token_ttl = "{token_ttl}"
pending_ttl = "{pending_ttl}"

{users}
[roles]
approver = ["dba"]
admin = ["admins"]

[[access]]
resources = ["app"]
requesters = ["group:analysts", "group:dba"]
max_duration = "2h"
approvals = 1
approver_groups = ["dba"]

[[access]]
resources = ["vault"]
requesters = ["group:analysts"]
max_duration = "1h"
approvals = 2
approver_groups = ["dba"]

{app}
{vault}
"#,
        api = free_port(),
        token_ttl = lifetimes.token_ttl,
        pending_ttl = lifetimes.pending_ttl,
        app = resource("app", pg_port),
        vault = resource("vault", pg_port),
    );
    let env: Vec<(String, String)> = USERS
        .iter()
        .map(|u| (env_name(u), password(u)))
        .chain([("SVC_PASSWORD".to_owned(), SERVICE_PASSWORD.to_owned())])
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Gateway::start_with_env(env!("CARGO_BIN_EXE_jitgate").as_ref(), &config, &env)
        .expect("starting jitgate")
}

fn env_name(user: &str) -> String {
    format!("JITGATE_PW_{}", user.to_uppercase())
}

fn resource(name: &str, pg_port: u16) -> String {
    format!(
        r#"
[resources.{name}]
kind = "postgres"
listen = "127.0.0.1:{listen}"

[resources.{name}.upstream]
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "{SERVICE_USER}"
password_env = "SVC_PASSWORD"
tls = "disable"
"#,
        listen = free_port()
    )
}

/// What a CLI run said: its exit status, standard output and standard error.
pub struct Said {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// Logs every user in through the CLI (each with a token cache of their own).
    pub fn login_all(&self) {
        for user in USERS {
            self.gateway
                .user(user)
                .login(&password(user))
                .unwrap_or_else(|e| panic!("login of {user}: {e:#}"));
        }
    }

    /// Runs the CLI as `user`, whatever the outcome.
    pub fn cli(&self, user: &str, args: &[&str]) -> Said {
        let out = self.gateway.user(user).run(args).expect("running the CLI");
        Said {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the CLI as `user` and returns its standard output; panics unless it succeeds.
    pub fn ok(&self, user: &str, args: &[&str]) -> String {
        self.gateway
            .user(user)
            .ok(args)
            .unwrap_or_else(|e| panic!("{e:#}\n--- gateway log ---\n{}", self.gateway.log()))
    }

    /// Runs `jitgate ARGS --json` as `user` and parses it.
    pub fn json(&self, user: &str, args: &[&str]) -> Value {
        self.gateway
            .user(user)
            .json(args)
            .unwrap_or_else(|e| panic!("{e:#}\n--- gateway log ---\n{}", self.gateway.log()))
    }

    /// `jitgate request RESOURCE --duration D --reason R --json` as `user`: the request's id.
    pub fn request(&self, user: &str, resource: &str, duration: &str) -> Value {
        self.json(
            user,
            &[
                "request",
                resource,
                "--duration",
                duration,
                "--reason",
                "end-to-end test",
            ],
        )
    }

    /// `jitgate connect RESOURCE --uri` as `user`.
    pub fn connect_uri(&self, user: &str, resource: &str) -> String {
        self.ok(user, &["connect", resource, "--uri"])
            .trim()
            .to_owned()
    }

    /// Runs psql against `uri`; returns (success, stdout, stderr).
    pub fn psql(&self, uri: &str, sql: &str) -> (bool, String, String) {
        let out = std::process::Command::new("psql")
            .arg(uri)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("running psql");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn store_path(&self) -> std::path::PathBuf {
        self.gateway.dir().join("jitgate.sqlite")
    }
}

/// The request or grant with `id` in a JSON listing.
pub fn find<'a>(listing: &'a Value, id: &str) -> Option<&'a Value> {
    listing
        .as_array()?
        .iter()
        .find(|item| item["id"].as_str() == Some(id))
}

/// Waits up to `limit` for `check` to hold, polling every 50 ms.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
