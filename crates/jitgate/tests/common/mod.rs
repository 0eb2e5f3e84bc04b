//! A real PostgreSQL cluster with jitgate in front of it, for end-to-end tests.
#![allow(dead_code)]

use jitgate_control::audit::ChainedEvent;
use jitgate_control::store::{SqliteStore, Store};
use jitgate_testkit::{free_port, AuthMethod, ClusterOptions, Gateway, GrantInfo, PgCluster};
use std::time::{Duration, Instant};

pub const SERVICE_USER: &str = "svc";
pub const SERVICE_PASSWORD: &str = "svc-password-1";

pub struct Env {
    // Field order: the gateway stops before the cluster it relays to.
    pub gateway: Gateway,
    pub cluster: PgCluster,
}

/// A SCRAM-protected cluster with a service role, and jitgate in front of it as resource `app`.
pub fn start() -> Env {
    start_with("")
}

/// Like [`start`], with extra `[server]` lines (e.g. TLS settings).
pub fn start_with(server_extra: &str) -> Env {
    start_custom(server_extra, "", &[])
}

/// Like [`start`], with extra `[server]` lines, extra sections after the resource (users,
/// masking, …) and extra environment variables for the gateway.
pub fn start_custom(server_extra: &str, sections: &str, env: &[(&str, &str)]) -> Env {
    let cluster = PgCluster::start(ClusterOptions {
        auth: AuthMethod::ScramSha256,
        service_user: Some((SERVICE_USER.into(), SERVICE_PASSWORD.into())),
        ..ClusterOptions::default()
    })
    .expect("starting PostgreSQL");
    let config = format!(
        r#"
[server]
store = "jitgate.sqlite"
{server_extra}

[resources.app]
kind = "postgres"
listen = "127.0.0.1:{listen}"

[resources.app.upstream]
host = "127.0.0.1"
port = {pg_port}
database = "app"
user = "{SERVICE_USER}"
password_env = "SVC_PASSWORD"
tls = "disable"

{sections}
"#,
        listen = free_port(),
        pg_port = cluster.port(),
    );
    let mut vars = vec![("SVC_PASSWORD", SERVICE_PASSWORD)];
    vars.extend_from_slice(env);
    let gateway = Gateway::start_with_env(env!("CARGO_BIN_EXE_jitgate").as_ref(), &config, &vars)
        .expect("starting jitgate");
    Env { gateway, cluster }
}

impl Env {
    pub fn grant(&self, duration: &str) -> GrantInfo {
        self.gateway
            .grant("alice", "app", duration)
            .expect("jitgate grant")
    }

    /// Connects through jitgate with tokio-postgres, driving the connection in the background.
    pub async fn connect(
        &self,
        uri: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(uri, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Runs psql against `uri`; returns (success, stdout, stderr).
    pub fn psql(&self, uri: &str, args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new("psql")
            .arg(uri)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("running psql");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.gateway.dir().join("jitgate.sqlite")).expect("opening the store")
    }

    /// Audit events, waiting up to 5 s until `until` holds for them (the gateway writes them
    /// asynchronously).
    pub fn audit_until(&self, until: impl Fn(&[ChainedEvent]) -> bool) -> Vec<ChainedEvent> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let events = self.store().audit_after(0, 100_000).expect("reading audit");
            if until(&events) || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn sessions(&self) -> Vec<jitgate_control::model::SessionRecord> {
        self.store().sessions(false).expect("reading sessions")
    }
}

/// SQLSTATE of a tokio-postgres error, if the server sent one.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.as_db_error().map(|d| d.code().code().to_owned())
}

/// The server's message of a tokio-postgres error (its Display says only "db error").
pub fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_owned(),
        None => e.to_string(),
    }
}
