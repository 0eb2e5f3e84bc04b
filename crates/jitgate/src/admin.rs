//! `jitgate admin grant|revoke`: offline tools that act on the store directly, for bootstrapping
//! and emergencies (no server, no login, no approval). A running gateway sees the change within
//! its store poll (a quarter of a second).

use anyhow::{bail, Context};
use jitgate_api::ConnectionInfo;
use jitgate_config::Config;
use jitgate_control::model::{rfc3339, GrantEnd};
use jitgate_control::store::{PostgresStore, PostgresStoreOptions, SqliteStore};
use jitgate_control::ControlPlane;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn open_control(config: &Config) -> anyhow::Result<Arc<ControlPlane>> {
    if let Some(pg) = &config.server.postgres_store {
        let mut options = PostgresStoreOptions::new(&pg.url);
        options.password = pg.password.as_ref().map(|p| p.expose().to_owned());
        options.tls = pg.tls.clone();
        let store = PostgresStore::open(&options)
            .with_context(|| format!("opening the store {}", pg.url))?;
        return Ok(ControlPlane::from_config(Arc::new(store), config));
    }
    if let Some(dir) = config.server.store.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the store's folder {}", dir.display()))?;
    }
    let store = SqliteStore::open(&config.server.store)
        .with_context(|| format!("opening the store {}", config.server.store.display()))?;
    Ok(ControlPlane::from_config(Arc::new(store), config))
}

fn operator() -> String {
    std::env::var("USER").unwrap_or_else(|_| "admin".into())
}

pub fn grant(
    config_path: &Path,
    subject: &str,
    resource: &str,
    duration: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let config = jitgate_config::load(config_path)?;
    let Some(res) = config.resource(resource) else {
        let known: Vec<_> = config.resources.iter().map(|r| r.name.as_str()).collect();
        bail!(
            "no resource \"{resource}\" in {}; known: {}",
            config_path.display(),
            known.join(", ")
        );
    };
    let control = open_control(&config)?;
    let by = format!("admin command ({})", operator());
    let grant = control.issue_grant(subject, resource, duration, &by)?;
    let issued = control.issue_credential(&grant.id)?;
    control.flush();
    let info = ConnectionInfo::new(
        res,
        config.server.client_tls.mode,
        &issued.credential.login,
        &issued.secret,
    );
    let (login, uri) = (&info.login, &info.uri);
    if json {
        let out = serde_json::json!({
            "grant_id": grant.id,
            "subject": grant.subject,
            "resource": grant.resource,
            "login": login,
            "password": issued.secret,
            "expires_at": rfc3339(grant.expires_at),
            "uri": uri,
        });
        println!("{out}");
    } else {
        println!(
            "grant     {} for {} on {}",
            grant.id, grant.subject, grant.resource
        );
        println!("expires   {}", rfc3339(grant.expires_at));
        println!("login     {login}");
        println!("password  {}", issued.secret);
        println!();
        println!("  psql '{uri}'");
    }
    Ok(())
}

pub fn revoke(config_path: &Path, grant_id: &str) -> anyhow::Result<()> {
    let config = jitgate_config::load(config_path)?;
    let control = open_control(&config)?;
    let ended = control.end_grant(grant_id, GrantEnd::Revoked { by: operator() })?;
    control.flush();
    if ended {
        println!("revoked {grant_id}; its sessions end within a second");
    } else {
        println!("{grant_id} had already ended");
    }
    Ok(())
}
